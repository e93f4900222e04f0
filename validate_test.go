package berth_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

func TestCreateEnvironmentRequestNormalize(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		field string // "" = valid
	}{
		{"dev8 example", `{"name":"my-workspace","cloudProvider":"AZURE","cloudRegion":"eastus","cpuCores":2,"memoryGB":4,"storageGB":20,"githubToken":"ghp_x","gitUserName":"John Doe","gitUserEmail":"john@example.com"}`, ""},
		{"next.js call", `{"userId":"user_abc123","name":"My Dev Environment","baseImage":"node","cpuCores":2,"memoryGB":4,"storageGB":20,"cloudRegion":"eastus"}`, ""},
		{"defaults", `{"name":"x"}`, ""},
		{"no name", `{"cpuCores":2}`, "name"},
		{"blank name", `{"name":"   "}`, "name"},
		{"name too long", `{"name":"` + strings.Repeat("n", 64) + `"}`, "name"},
		{"control char", `{"name":"a\u0007b"}`, "name"},
		{"cpu high", `{"name":"x","cpuCores":5}`, "cpuCores"},
		{"cpu negative", `{"name":"x","cpuCores":-1}`, "cpuCores"},
		{"memory high", `{"name":"x","memoryGB":17}`, "memoryGB"},
		{"storage low", `{"name":"x","storageGB":9}`, "storageGB"},
		{"storage high", `{"name":"x","storageGB":101}`, "storageGB"},
		{"provider", `{"name":"x","cloudProvider":"MARS"}`, "cloudProvider"},
		{"provider lower case accepted", `{"name":"x","cloudProvider":"azure"}`, ""},
		{"target", `{"name":"x","target":"Not_A_Label"}`, "target"},
		{"env name", `{"name":"x","env":{"1BAD":"v"}}`, "env"},
		{"env value NUL", `{"name":"x","env":{"A":"a\u0000b"}}`, "env"},
		{"env value multi-line", `{"name":"x","env":{"A":"a\nb"}}`, ""},
		{"bidi override", `{"name":"evil\u202Egnp.exe"}`, "name"},
		{"bidi isolate", `{"name":"a\u2067b"}`, "name"},
		{"NUL in name", `{"name":"a\u0000b"}`, "name"},
		{"non-ASCII name", `{"name":"Café ☕"}`, ""},
		{"NUL in a secret", `{"name":"x","githubToken":"ghp_\u0000x"}`, "githubToken"},
		{"bidi userId", `{"name":"x","userId":"u\u200Fx"}`, "userId"},
		{"autostop", `{"name":"x","autoStopMinutes":-5}`, "autoStopMinutes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r berth.CreateEnvironmentRequest
			if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
				t.Fatal(err)
			}
			err := r.Normalize()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if r.CPUCores < 1 || r.MemoryGB < 1 || r.StorageGB < 10 {
					t.Errorf("defaults not applied: %+v", r)
				}
				return
			}
			var be *berth.Error
			if err == nil || !strings.HasPrefix(berth.ErrorMessage(err), tc.field+":") || berth.ErrorCode(err) != berth.EINVALID {
				t.Fatalf("err = %v, want INVALID_REQUEST naming %s", err, tc.field)
			}
			_ = be
		})
	}
}

func TestValidateServiceSpec(t *testing.T) {
	one, neg, big := 1, -1, 51
	cases := []struct {
		name     string
		svc      string
		spec     berth.ServiceSpec
		provider string
		field    string
	}{
		{"local ok", "web", berth.ServiceSpec{Command: []string{"sleep", "1"}, Replicas: &one}, berth.ProviderLocal, ""},
		{"kube ok", "web", berth.ServiceSpec{Image: "nginx"}, berth.ProviderKubernetes, ""},
		{"local no command", "web", berth.ServiceSpec{}, berth.ProviderLocal, "command"},
		{"kube no image", "web", berth.ServiceSpec{Command: []string{"x"}}, berth.ProviderKubernetes, "image"},
		{"bad name", "Web", berth.ServiceSpec{Command: []string{"x"}}, berth.ProviderLocal, "name"},
		{"replicas negative", "web", berth.ServiceSpec{Command: []string{"x"}, Replicas: &neg}, berth.ProviderLocal, "replicas"},
		{"replicas too many", "web", berth.ServiceSpec{Command: []string{"x"}, Replicas: &big}, berth.ProviderLocal, "replicas"},
		{"cpu", "web", berth.ServiceSpec{Command: []string{"x"}, Resources: berth.Resources{CPU: "1e3"}}, berth.ProviderLocal, "resources.cpu"},
		{"memory", "web", berth.ServiceSpec{Command: []string{"x"}, Resources: berth.Resources{Memory: "256MB"}}, berth.ProviderLocal, "resources.memory"},
		{"port name", "web", berth.ServiceSpec{Command: []string{"x"}, Ports: []berth.Port{{Name: "HTTP"}}}, berth.ProviderLocal, "ports"},
		{"dup port", "web", berth.ServiceSpec{Command: []string{"x"}, Ports: []berth.Port{{Name: "a"}, {Name: "a"}}}, berth.ProviderLocal, "ports"},
		{"secret also env", "web", berth.ServiceSpec{Command: []string{"x"}, Env: map[string]string{"A": "1"}, Secrets: map[string]string{"A": "2"}}, berth.ProviderLocal, "secrets"},
		{"config path", "web", berth.ServiceSpec{Command: []string{"x"}, Config: berth.Config{Files: map[string]string{"../x": ""}}}, berth.ProviderLocal, "config.files"},
		{"health no port", "web", berth.ServiceSpec{Command: []string{"x"}, HealthCheck: &berth.HealthCheck{HTTP: "/"}}, berth.ProviderLocal, "healthCheck"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := berth.ValidateServiceSpec(tc.svc, &tc.spec, tc.provider, 50)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if !strings.HasPrefix(berth.ErrorMessage(err), tc.field) || berth.ErrorCode(err) != berth.EINVALID {
				t.Fatalf("err = %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestQuantities(t *testing.T) {
	for in, want := range map[string]int64{"500m": 500, "2": 2000, "0.5": 500} {
		if got, err := berth.ParseCPU("cpu", in); err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v", in, got, err)
		}
	}
	for in, want := range map[string]int64{"256Mi": 256 << 20, "1G": 1e9, "1024": 1024} {
		if got, err := berth.ParseMemory("memory", in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1", "m", "1.5Mi", "9999999999999Ti", "1e9", " 1"} {
		if _, err := berth.ParseMemory("memory", bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	err := berth.Wrap(berth.NotFound("environment", "env-x"), berth.EENVIRONMENT, "start environment env-x")
	if berth.ErrorCode(err) != berth.ENOTFOUND || berth.ErrorMessage(err) != `start environment env-x: environment "env-x" not found` {
		t.Errorf("wrap: %v / %s", berth.ErrorCode(err), berth.ErrorMessage(err))
	}
	for _, tc := range []struct {
		err  *berth.Error
		want string
	}{
		{&berth.Error{Code: berth.ESERVICE, Message: "apply x", Err: errPlain("boom")}, "SERVICE_ERROR: apply x: boom"},
		// An adapter that put the cause in the message does not get it twice.
		{&berth.Error{Code: berth.ESERVICE, Message: "apply x: boom", Err: errPlain("boom")}, "SERVICE_ERROR: apply x: boom"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if berth.ErrorMessage(errPlain("db password=hunter2")) != "internal error" {
		t.Errorf("uncoded errors must not leak their text")
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

// FuzzCreateEnvironmentRequest: decoding and validating any body never
// panics, and what validates stays within the Dev8 limits.
func FuzzCreateEnvironmentRequest(f *testing.F) {
	f.Add(`{"name":"my-workspace","cloudProvider":"AZURE","cloudRegion":"eastus","cpuCores":2,"memoryGB":4,"storageGB":20,"githubToken":"ghp_xxxxxxxxxxxx","gitUserName":"John Doe","gitUserEmail":"john@example.com","sshPublicKey":"ssh-rsa AAAAB3...","codeServerPassword":"secure-password","anthropicApiKey":"sk-ant-xxx","openaiApiKey":"sk-proj-xxx","geminiApiKey":"AIza..."}`)
	f.Add(`{"userId":"user_abc123","name":"My Dev Environment","baseImage":"node","cpuCores":2,"memoryGB":4,"storageGB":20,"cloudRegion":"eastus"}`)
	f.Add(`{"name":"My Dev Environment","baseImage":"node","cpuCores":2,"memoryGB":4,"storageGB":20,"region":"eastus"}`)
	f.Add(`{"name":""}`)
	f.Add(`{"name":"x","cpuCores":99999999999999999999}`)
	f.Fuzz(func(t *testing.T, body string) {
		var r berth.CreateEnvironmentRequest
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		if err := r.Normalize(); err != nil {
			if berth.ErrorCode(err) != berth.EINVALID {
				t.Fatalf("validation error with code %s", berth.ErrorCode(err))
			}
			return
		}
		if r.CPUCores < 1 || r.CPUCores > 4 || r.MemoryGB < 1 || r.MemoryGB > 16 || r.StorageGB < 10 || r.StorageGB > 100 || r.Name == "" {
			t.Fatalf("accepted out-of-contract request %+v", r)
		}
	})
}

// FuzzServiceSpec: any spec either validates or names a field; never panics.
func FuzzServiceSpec(f *testing.F) {
	f.Add("web", `{"command":["node","server.js"],"replicas":2,"ports":[{"name":"http","port":8080}],"healthCheck":{"http":"/healthz","port":"http"},"resources":{"cpu":"500m","memory":"256Mi"}}`)
	f.Add("api", `{"image":"nginx","replicas":0,"env":{"A":"b"},"secrets":{"TOKEN":"x"},"config":{"files":{"app.conf":"x"}}}`)
	f.Add("Bad_Name", `{}`)
	f.Fuzz(func(t *testing.T, name, body string) {
		var s berth.ServiceSpec
		if json.Unmarshal([]byte(body), &s) != nil {
			return
		}
		for _, p := range []string{berth.ProviderLocal, berth.ProviderKubernetes} {
			err := berth.ValidateServiceSpec(name, &s, p, 50)
			if err != nil && (berth.ErrorCode(err) != berth.EINVALID || berth.ErrorMessage(err) == "") {
				t.Fatalf("bad validation error %v", err)
			}
			if err == nil && (s.ReplicaCount() < 0 || s.ReplicaCount() > 50 || len(name) > 63) {
				t.Fatalf("accepted %q %+v", name, s)
			}
		}
	})
}

func TestDangerousEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "ld_audit": true, "BASH_ENV": true, "ENV": true,
		"PATH": true, "NODE_OPTIONS": true, "PYTHONPATH": true, "BERTH_SERVICE": true, "DYLD_INSERT_LIBRARIES": true,
		"GREETING": false, "LOG_LEVEL": false, "ENVIRONMENT": false, "OLD_PATH": false,
	} {
		if got := berth.DangerousEnvName(name); got != want {
			t.Errorf("DangerousEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}
