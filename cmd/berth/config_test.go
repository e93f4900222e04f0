package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/kube"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadServerConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "berth.yaml")
	os.WriteFile(yamlPath, []byte("listen: 0.0.0.0:9000\ndataDir: /srv/berth\nmaxReplicas: 7\n"), 0o600)
	cases := []struct {
		name  string
		env   map[string]string
		path  string
		check func(t *testing.T, c *serverConfig)
		err   string
	}{
		{"defaults", nil, "", func(t *testing.T, c *serverConfig) {
			if c.Listen != "127.0.0.1:8080" || c.DataDir != "./berth-data" || len(c.Targets) != 1 || c.Targets[0].Type != "local" || c.RateLimit != 100 {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"dev8 names", map[string]string{"PORT": "9999", "HOST": "0.0.0.0", "CORS_ALLOWED_ORIGINS": "http://a.test, http://b.test"}, "", func(t *testing.T, c *serverConfig) {
			if c.Listen != "0.0.0.0:9999" || len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "http://b.test" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"yaml then env", map[string]string{"BERTH_DATA_DIR": "/tmp/x"}, yamlPath, func(t *testing.T, c *serverConfig) {
			if c.Listen != "0.0.0.0:9000" || c.DataDir != "/tmp/x" || c.MaxReplicas != 7 {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"berth listen wins over PORT", map[string]string{"BERTH_LISTEN": "127.0.0.1:1", "PORT": "2"}, "", func(t *testing.T, c *serverConfig) {
			if c.Listen != "127.0.0.1:1" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"credential and connection bounds", map[string]string{"BERTH_AUTH_FAILURE_LIMIT": "-1", "BERTH_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
			"BERTH_BODY_TIMEOUT": "5s", "BERTH_HEADER_TIMEOUT": "2s", "BERTH_IDLE_TIMEOUT": "1m", "BERTH_METRICS_TOKEN": "tok", "BERTH_WS_MAX_CLIENTS_PER_USER": "4"}, "",
			func(t *testing.T, c *serverConfig) {
				if c.AuthFailureLimit != -1 || c.LoginFailureLimit != 10 || len(c.TrustedProxies) != 2 || c.BodyTimeout != "5s" ||
					c.HeaderTimeout != "2s" || c.IdleTimeout != "1m" || c.MetricsToken != "tok" || c.WSMaxClientsPerUser != 4 {
					t.Errorf("%+v", c)
				}
			}, ""},
		{"failure limits default", nil, "", func(t *testing.T, c *serverConfig) {
			if c.AuthFailureLimit != 30 || c.LoginFailureLimit != 10 || c.MetricsToken != "" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"bad failure limit", map[string]string{"BERTH_LOGIN_FAILURE_LIMIT": "many"}, "", nil, "BERTH_LOGIN_FAILURE_LIMIT"},
		{"bad body timeout", map[string]string{"BERTH_BODY_TIMEOUT": "slow"}, "", nil, "bodyTimeout"},
		{"bad per-user cap", map[string]string{"BERTH_WS_MAX_CLIENTS_PER_USER": "0"}, "", nil, "BERTH_WS_MAX_CLIENTS_PER_USER"},
		{"bad replicas", map[string]string{"BERTH_MAX_REPLICAS": "lots"}, "", nil, "BERTH_MAX_REPLICAS"},
		{"bad ttl", map[string]string{"BERTH_SESSION_TTL": "forever"}, "", nil, "sessionTTL"},
		{"missing explicit file", nil, filepath.Join(dir, "nope.yaml"), nil, "nope.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadServerConfig(envOf(tc.env), tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestUnknownYAMLFieldIsAnError(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	os.WriteFile(p, []byte("listn: 1\n"), 0o600)
	if _, err := loadServerConfig(envOf(nil), p); err == nil || !strings.Contains(err.Error(), "listn") {
		t.Fatalf("err = %v", err)
	}
}

func TestDotEnvLayer(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(p, []byte("PORT=7777\nBERTH_LOG_LEVEL=debug\n"), 0o600)
	get, err := layeredEnv(envOf(map[string]string{"BERTH_LOG_LEVEL": "warn"}), p)
	if err != nil {
		t.Fatal(err)
	}
	if get("PORT") != "7777" || get("BERTH_LOG_LEVEL") != "warn" {
		t.Errorf("PORT=%q level=%q: the process environment must win over .env", get("PORT"), get("BERTH_LOG_LEVEL"))
	}
}

func TestACITargetConfig(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	os.WriteFile(p, []byte(`targets:
  - name: local
    type: local
  - name: aci-eastus
    type: aci
    subscriptionId: 00000000-0000-0000-0000-000000000000
    resourceGroup: rg-dev8
    region: eastus
    storageAccount: dev8files
    templates:
      node:
        image: example.test/dev8/node:1
`), 0o600)
	c, err := loadServerConfig(envOf(nil), p)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Targets[1]
	if a.Type != "aci" || a.Name != "aci-eastus" || a.Region != "eastus" || a.StorageAccount != "dev8files" || a.Templates["node"].Image != "example.test/dev8/node:1" {
		t.Errorf("aci target = %+v", a)
	}
}

func TestKubernetesTargetConfig(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	os.WriteFile(p, []byte(`targets:
  - name: prod-eu
    type: kubernetes
    namespaces: [apps, workspaces]
    environmentNamespace: workspaces
    ingressHost: "{id}.dev.example.test"
    ingressClassName: nginx
    ingressTLSSecret: dev-wildcard-tls
    workspaceFSGroup: 1000
    imagePullSecrets: [regcred, mirror-creds]
`), 0o600)
	c, err := loadServerConfig(envOf(nil), p)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Targets[0]
	if k.IngressHost != "{id}.dev.example.test" || k.IngressClassName != "nginx" || k.IngressTLSSecret != "dev-wildcard-tls" ||
		k.WorkspaceFSGroup != 1000 || strings.Join(k.ImagePullSecrets, ",") != "regcred,mirror-creds" {
		t.Errorf("kubernetes target = %+v", k)
	}
	// kube.TargetConfig maps its fields onto the shared ones of kube.Config.
	kc := k.kubeTarget.Config(kube.Config{Target: k.Name, WorkspaceImage: "example.test/ws:1"})
	if kc.Target != "prod-eu" || kc.WorkspaceImage != "example.test/ws:1" || kc.EnvNamespace != "workspaces" ||
		strings.Join(kc.Namespaces, ",") != "apps,workspaces" || kc.IngressHost != "{id}.dev.example.test" ||
		kc.IngressClassName != "nginx" || kc.IngressTLSSecret != "dev-wildcard-tls" || kc.WorkspaceFSGroup != 1000 ||
		strings.Join(kc.ImagePullSecrets, ",") != "regcred,mirror-creds" {
		t.Errorf("kube.Config = %+v", kc)
	}
}

// TestServeRejectsBadKubernetesTarget: a kubernetes target whose settings
// cannot work stops `berth serve` with a message naming the field (checked
// before any cluster is contacted: none exists here).
func TestServeRejectsBadKubernetesTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, field string }{
		{"ingressHost: dev.example.test", "ingressHost"},
		{`ingressHost: "https://{id}.dev.example.test"`, "ingressHost"},
		{"ingressTLSSecret: dev-tls", "ingressTLSSecret"},
		{"workspaceFSGroup: -5", "workspaceFSGroup"},
		{"imagePullSecrets: [Reg_Cred]", "imagePullSecrets"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "berth.yaml")
			os.WriteFile(p, []byte("targets:\n  - name: k8s\n    type: kubernetes\n    "+tc.yaml+"\n"), 0o600)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, []string{"serve", "-c", p, "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"},
				envOf(map[string]string{"BERTH_ADMIN_PASSWORD": "correct-horse-battery"}), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "k8s") {
				t.Fatalf("serve: %v, want an error naming target k8s and %s", err, tc.field)
			}
			if strings.Contains(stdout.String(), "is running") {
				t.Errorf("berth started: %s", stdout.String())
			}
		})
	}
}

// TestTargetPolicyConfig: commandRoles and serviceTemplates of berth.yaml
// reach core's policies; what could never work is refused at start.
func TestTargetPolicyConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load := func(yaml string) (*serverConfig, error) {
		p := filepath.Join(dir, "berth.yaml")
		os.WriteFile(p, []byte(yaml), 0o600)
		return loadServerConfig(envOf(nil), p)
	}
	c, err := load(`
targets:
  - name: local
    type: local
    commandRoles: [admin, operator]
    serviceTemplates:
      web:
        command: ["python3", "-m", "http.server"]
        env: {GREETING: hi}
        ports: [{name: http}]
        replicas: 2
        params: {env: [GREETING], replicas: true}
  - name: spare
    type: local
`)
	if err != nil {
		t.Fatal(err)
	}
	p := c.policies()
	web := p["local"].ServiceTemplates["web"]
	if len(p["local"].CommandRoles) != 2 || web.Command[0] != "python3" || web.Env["GREETING"] != "hi" || *web.Replicas != 2 ||
		!web.Params.Replicas || web.Params.Env[0] != "GREETING" || len(web.Ports) != 1 {
		t.Errorf("policies %+v", p)
	}
	if _, ok := p["spare"]; ok {
		t.Errorf("a target without policy settings has a policy (core gives it the default): %+v", p["spare"])
	}
	for name, yaml := range map[string]string{
		"unknown role":      "targets: [{name: local, type: local, commandRoles: [root]}]",
		"nobody":            "targets: [{name: local, type: local, commandRoles: []}]",
		"template command":  "targets: [{name: local, type: local, serviceTemplates: {web: {env: {A: b}}}}]",
		"dangerous param":   "targets: [{name: local, type: local, serviceTemplates: {web: {command: [x], params: {env: [LD_PRELOAD]}}}}]",
		"unknown parameter": "targets: [{name: local, type: local, serviceTemplates: {web: {command: [x], params: {command: true}}}}]",
	} {
		if _, err := load(yaml); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDurationsParsedAtLoad: every duration of berth.yaml and the
// environment is parsed once, at load, with its default where unset; a bad
// one stops the load naming the field (a kubernetes target's orphanGrace
// names the target too).
func TestDurationsParsedAtLoad(t *testing.T) {
	t.Parallel()
	c, err := loadServerConfig(envOf(map[string]string{"BERTH_SYNC_INTERVAL": "500ms", "BERTH_IDLE_TIMEOUT": "3m", "BERTH_SHUTDOWN_DELAY": "5s"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.d.sync != 500*time.Millisecond || c.d.idle != 3*time.Minute || c.d.sessionTTL != time.Hour || c.d.body != 30*time.Second ||
		c.d.shutdown != 5*time.Second {
		t.Errorf("durations = %+v", c.d)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"syncInterval: soon\n", `syncInterval: "soon" is not a duration`},
		{"metricsHourRetention: 5\n", `metricsHourRetention: "5" is not a duration`},
		{"shutdownDelay: a while\n", `shutdownDelay: "a while" is not a duration`},
		{"targets:\n  - {name: k8s, type: kubernetes, cleanupOrphans: true, orphanGrace: later}\n", `targets[0] (k8s): orphanGrace: "later"`},
	} {
		if _, err := loadServerConfig(envOf(nil), writeConfig(t, tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
	k, err := loadServerConfig(envOf(nil), writeConfig(t, "targets:\n  - {name: k8s, type: kubernetes, cleanupOrphans: true, orphanGrace: 90m}\n"))
	if err != nil || k.Targets[0].orphanGrace != 90*time.Minute {
		t.Errorf("orphanGrace 90m: %v, %v", err, k)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTargetPricesConfig: a target's prices reach core; a bad table stops
// the load naming the target and the field.
func TestTargetPricesConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(yaml string) (*serverConfig, error) {
		p := filepath.Join(dir, "berth.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return loadServerConfig(envOf(nil), p)
	}
	c, err := load(`
targets:
  - name: local
    type: local
    prices: {currency: EUR, cpuCoreHour: 0.05, memoryGBHour: 0.006, storageGBMonth: 0.1}
  - name: spare
    type: local
`)
	if err != nil {
		t.Fatal(err)
	}
	p := c.prices()
	if got := p["local"]; got.Currency != "EUR" || got.CPUCoreHour != 0.05 || got.MemoryGBHour != 0.006 || got.StorageGBMonth != 0.1 {
		t.Errorf("local prices = %+v", got)
	}
	if _, ok := p["spare"]; ok {
		t.Errorf("a target without prices has a table (core gives it the provider's default): %+v", p["spare"])
	}
	_, err = load("targets: [{name: local, type: local, prices: {currency: EUR, cpuCoreHour: -1}}]")
	if err == nil || !strings.Contains(err.Error(), "targets[0] (local): prices.cpuCoreHour") {
		t.Errorf("negative price: err = %v, want it to name targets[0] (local): prices.cpuCoreHour", err)
	}
}
