package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/internal/testutil"
)

var updateGolden = flag.Bool("update", false, "rewrite the testdata/*.golden files of the CLI")

const testToken = "test-token"

// fakeAPI is an httptest server implementing the API contract for the calls
// under test, with canned answers. It records every request.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu   sync.Mutex
	reqs []string          // "METHOD /path?query"
	body map[string][]byte // last body per "METHOD /path"
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, mux: http.NewServeMux(), body: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		req := r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			req += "?" + r.URL.RawQuery
		}
		f.reqs = append(f.reqs, req)
		f.body[r.Method+" "+r.URL.Path] = b
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		if r.URL.Path != "/api/v1/auth/login" && r.Header.Get("Authorization") != "Bearer "+testToken {
			apiError(w, berth.EUNAUTHORIZED, "missing or invalid credential")
			return
		}
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// on answers pattern ("GET /api/v1/environments") with each answer in turn,
// repeating the last one.
func (f *fakeAPI) on(pattern string, answers ...func(w http.ResponseWriter, r *http.Request)) {
	var mu sync.Mutex
	n := 0
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := min(n, len(answers)-1)
		n++
		mu.Unlock()
		answers[i](w, r)
	})
}

func (f *fakeAPI) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

func (f *fakeAPI) lastBody(methodPath string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.body[methodPath]
}

func ok(status int, v any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { answer(w, status, v) }
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code berth.Code, msg string) {
	answer(w, httpapi.HTTPStatus(code), map[string]string{"error": string(code), "message": msg})
}

// cliRun is the outcome of one run of the CLI.
type cliRun struct {
	stdout, stderr string
	err            error
}

// runCLI runs berth with args against the fake server, with a token, a
// config file in a temp dir and a short poll interval. env overrides.
func runCLI(t *testing.T, f *fakeAPI, env map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	vars := map[string]string{
		"BERTH_TOKEN":         testToken,
		"BERTH_CONFIG":        filepath.Join(t.TempDir(), "config.json"),
		"HOME":                t.TempDir(),
		"BERTH_POLL_INTERVAL": "5ms",
	}
	if f != nil {
		vars["BERTH_URL"] = f.srv.URL
	}
	for k, v := range env {
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func mustSucceed(t *testing.T, r cliRun) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("berth failed: %s\nstderr: %s", berthErrorText(r.err), r.stderr)
	}
}

// golden compares got with testdata/NAME.golden, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// ago is a time d before now; tables print ages, which stay stable for the
// length of a test when d is not near a unit boundary.
func ago(d time.Duration) time.Time { return time.Now().Add(-d).UTC() }

func cannedEnvs() []*berth.Environment {
	return []*berth.Environment{
		{ID: "env-a1b2", Name: "dev", Status: berth.EnvRunning, Target: "local", CloudProvider: "LOCAL", CPUCores: 2, MemoryGB: 4, StorageGB: 20,
			VSCodeURL: "http://127.0.0.1:31001/", CreatedAt: ago(3*time.Hour + 30*time.Minute)},
		{ID: "env-c3d4", Name: "scratch", Status: berth.EnvStopped, Target: "aci-westeurope", CloudProvider: "AZURE", CPUCores: 1, MemoryGB: 2,
			StorageGB: 10, CreatedAt: ago(10*24*time.Hour + time.Hour)},
	}
}

func cannedServices() []*berth.Service {
	three, two := 3, 2
	return []*berth.Service{
		{Name: "web", Target: "local", Status: berth.ServiceRunning, Replicas: 3, ReadyReplicas: 3, Revision: 4, Managed: true,
			Spec: berth.ServiceSpec{Command: []string{"python3", "-m", "http.server"}, Replicas: &three}, CreatedAt: ago(26*time.Hour + 30*time.Minute)},
		{Name: "api", Namespace: "prod", Target: "k8s", Status: berth.ServiceDegraded, Replicas: 2, ReadyReplicas: 1, Revision: 2,
			Message: "1 replica in backoff", Spec: berth.ServiceSpec{Image: "ghcr.io/acme/api:1.2", Replicas: &two}, CreatedAt: ago(5*time.Minute + 30*time.Second)},
	}
}

func TestTablesGolden(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /api/v1/environments", ok(200, map[string]any{"environments": cannedEnvs(), "total": 2, "page": 1, "pageSize": 20}))
	f.on("GET /api/v1/services", ok(200, map[string]any{"services": cannedServices(), "total": 2, "page": 1, "pageSize": 20}))
	f.on("GET /api/v1/services/web/revisions", ok(200, map[string]any{"total": 3, "revisions": []berth.Revision{
		{Number: 3, Cause: "rollback to 1", Author: "admin", CreatedAt: ago(5*time.Minute + 20*time.Second)},
		{Number: 2, Cause: "config", Author: "alice", CreatedAt: ago(3*time.Hour + 10*time.Minute)},
		{Number: 1, Cause: "apply", Author: "alice", CreatedAt: ago(3*24*time.Hour + time.Hour)},
	}}))
	f.on("GET /api/v1/logs", ok(200, map[string]any{"total": 2, "page": 1, "pageSize": 5, "logs": []berth.AuditEntry{
		{ID: 2, Timestamp: ago(40*time.Second + 300*time.Millisecond), Username: "alice", Action: "service.scale", Type: "scale", ResourceType: "service",
			Resource: "web", Target: "local", Status: "failed", Error: "replicas: must be at most 10", DurationMs: 12},
		{ID: 1, Timestamp: ago(2*time.Hour + 30*time.Minute), Username: "admin", Action: "environment.create", Type: "create",
			ResourceType: "environment", Resource: "env-a1b2", Target: "local", Status: "completed", DurationMs: 1530},
	}}))
	expires := time.Now().Add(29*24*time.Hour + 12*time.Hour)
	used := ago(45 * time.Minute)
	f.on("GET /api/v1/apikeys", ok(200, map[string]any{"total": 2, "apiKeys": []berth.APIKey{
		{ID: "k1", Name: "ci", Role: berth.RoleOperator, UserID: "u-admin", CreatedAt: ago(50 * time.Hour), ExpiresAt: &expires, LastUsedAt: &used},
		{ID: "k2", Name: "grafana", Role: berth.RoleViewer, UserID: "u-admin", CreatedAt: ago(7*24*time.Hour + time.Hour)},
	}}))

	f.on("GET /api/v1/targets", ok(200, map[string]any{"targets": []berth.TargetInfo{
		{Name: "aci-eastus", Provider: berth.ProviderAzure, Region: "eastus",
			Capabilities: []berth.Capability{berth.CapEnvironments, berth.CapEnvironmentLogs, berth.CapInventory}},
		{Name: "local", Provider: berth.ProviderLocal, Default: true, Capabilities: []berth.Capability{berth.CapServices,
			berth.CapEnvironments, berth.CapScale, berth.CapRestart, berth.CapRollback, berth.CapLogs}},
	}}))
	tests := []struct {
		name    string
		args    []string
		request string // the request the command must send
	}{
		{"env_ls", []string{"env", "ls"}, "GET /api/v1/environments"},
		{"svc_ls", []string{"svc", "ls"}, "GET /api/v1/services"},
		{"svc_revisions", []string{"svc", "revisions", "web"}, "GET /api/v1/services/web/revisions"},
		{"audit", []string{"audit", "--type", "scale", "--status", "failed", "--user", "alice", "--since", "1h", "--limit", "5"},
			"GET /api/v1/logs?pageSize=5&since=1h&status=failed&type=scale&user=alice"},
		{"apikey_ls", []string{"apikey", "ls"}, "GET /api/v1/apikeys"},
		{"targets", []string{"targets"}, "GET /api/v1/targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f, nil, "", tt.args...)
			mustSucceed(t, r)
			golden(t, tt.name, r.stdout)
			reqs := f.requests()
			if last := reqs[len(reqs)-1]; last != tt.request {
				t.Errorf("request = %q, want %q", last, tt.request)
			}
		})
	}
}

func TestDetailViews(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	env := cannedEnvs()[0]
	env.AutoStopMinutes = 30
	f.on("GET /api/v1/environments/env-a1b2", ok(200, map[string]any{"environment": env}))
	f.on("POST /api/v1/environments/env-a1b2/open", ok(200, map[string]any{"url": "http://berth.test/env/env-a1b2/?berth-ticket=T1CKET",
		"expiresAt": time.Now().Add(time.Minute), "proxied": true}))
	svc := cannedServices()[1]
	svc.Spec.Env = map[string]string{"B": "2", "A": "1"}
	svc.Spec.Secrets = map[string]string{"TOKEN": berth.Redacted}
	svc.Instances = []berth.ReplicaState{{Name: "api-0", Ready: true, State: "running", Revision: 2}, {Name: "api-1", State: "backoff", Restarts: 4, Revision: 2, LastExit: "exit status 1"}}
	f.on("GET /api/v1/services/api", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("namespace") != "prod" || r.URL.Query().Get("target") != "k8s" {
			apiError(w, berth.ENOTFOUND, `service "api" not found`)
			return
		}
		answer(w, 200, map[string]any{"service": svc})
	})
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"env", "get", "env-a1b2"}, []string{"ID:", "env-a1b2", "RUNNING", "2 CPU, 4 GB memory, 20 GB storage", "http://127.0.0.1:31001/", "30m idle", "(3h ago)"}},
		{[]string{"env", "open", "env-a1b2"}, []string{"http://berth.test/env/env-a1b2/?berth-ticket=T1CKET\n"}},
		{[]string{"svc", "get", "api", "-n", "prod", "--target", "k8s"}, []string{"prod/api", "DEGRADED", "1/2", "1 replica in backoff", "ghcr.io/acme/api:1.2",
			"A, B", "TOKEN", "REPLICA", "api-1", "backoff", "exit status 1"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, f, nil, "", tt.args...)
			mustSucceed(t, r)
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestJSONOutputIsTheAPIAnswer(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	const body = `{"environments":[{"id":"env-1","name":"dev","status":"RUNNING","extraField":true}],"total":1,"page":1,"pageSize":20}`
	f.on("GET /api/v1/environments", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	r := runCLI(t, f, nil, "", "env", "ls", "-o", "json")
	mustSucceed(t, r)
	var want bytes.Buffer
	json.Indent(&want, []byte(body), "", "  ")
	if r.stdout != want.String()+"\n" {
		t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, want.String())
	}

	r = runCLI(t, f, nil, "", "env", "ls", "-o", "yaml")
	if r.err == nil || !strings.Contains(berthErrorText(r.err), "output") {
		t.Errorf("-o yaml: err = %v", r.err)
	}
}

func TestServerErrorPrintsMessage(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /api/v1/environments/{id}", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, berth.ENOTFOUND, fmt.Sprintf("environment %q not found", r.PathValue("id")))
	})
	f.on("POST /api/v1/services/web/scale", ok(400, map[string]string{"error": "INVALID_REQUEST", "message": "replicas: must be at most 10", "field": "replicas"}))
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code berth.Code
		msg  string
	}{
		{"not found", nil, []string{"env", "get", "env-x"}, berth.ENOTFOUND, `environment "env-x" not found`},
		{"invalid", nil, []string{"svc", "scale", "web", "50"}, berth.EINVALID, "replicas: must be at most 10"},
		{"no token", map[string]string{"BERTH_TOKEN": ""}, []string{"env", "get", "env-x"}, berth.EUNAUTHORIZED, "missing or invalid credential"},
		{"bad replicas arg", nil, []string{"svc", "scale", "web", "many"}, berth.EINVALID, `replicas: must be a whole number from 0, got "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f, tt.env, "", tt.args...)
			if r.err == nil {
				t.Fatalf("succeeded, want %s", tt.code)
			}
			if berth.ErrorCode(r.err) != tt.code || berthErrorText(r.err) != tt.msg {
				t.Errorf("error = %s %q, want %s %q", berth.ErrorCode(r.err), berthErrorText(r.err), tt.code, tt.msg)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	r := runCLI(t, nil, map[string]string{"BERTH_URL": srv.URL}, "", "svc", "ls")
	if r.err == nil || !strings.Contains(berthErrorText(r.err), srv.URL) {
		t.Fatalf("err = %v, want one naming the server", r.err)
	}
	if strings.Contains(berthErrorText(r.err), testToken) {
		t.Error("error shows the token")
	}
}

func TestLoginSavesConfigAndLogout(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Username, Password string }
		json.NewDecoder(r.Body).Decode(&b)
		if b.Username != "admin" || b.Password != "s3cret-pw" {
			apiError(w, berth.EUNAUTHORIZED, "invalid username or password")
			return
		}
		answer(w, 200, map[string]any{"token": testToken, "expiresAt": time.Now().Add(time.Hour),
			"user": berth.User{ID: "u1", Username: "admin", Role: berth.RoleAdmin}})
	})
	f.on("GET /api/v1/environments", ok(200, map[string]any{"environments": []any{}, "total": 0, "page": 1, "pageSize": 20}))
	f.on("POST /api/v1/auth/logout", ok(200, map[string]string{"message": "Logged out"}))
	f.on("GET /api/v1/auth/me", ok(200, map[string]any{"user": berth.User{ID: "u1", Username: "admin", Role: berth.RoleAdmin}, "role": "admin"}))

	dir := filepath.Join(t.TempDir(), "cfg")
	cfgPath := filepath.Join(dir, "config.json")
	env := map[string]string{"BERTH_CONFIG": cfgPath, "BERTH_TOKEN": "", "BERTH_URL": ""}

	r := runCLI(t, nil, env, "wrong\n", "login", "--server", f.srv.URL, "--password-stdin")
	if r.err == nil || berthErrorText(r.err) != "invalid username or password" {
		t.Fatalf("bad password: err = %v", r.err)
	}
	if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
		t.Fatalf("config written after a failed login: %v", err)
	}

	r = runCLI(t, nil, env, "s3cret-pw\n", "login", "--server", f.srv.URL, "--password-stdin")
	mustSucceed(t, r)
	if want := "Logged in to " + f.srv.URL + " as admin (admin)\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret-pw") || strings.Contains(r.stdout+r.stderr, testToken) {
		t.Error("login printed a secret")
	}
	for path, mode := range map[string]os.FileMode{cfgPath: 0o600, dir: 0o700 | os.ModeDir} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != mode {
			t.Errorf("%s mode = %v, want %v", path, st.Mode(), mode)
		}
	}
	var saved cliConfig
	b, _ := os.ReadFile(cfgPath)
	if err := json.Unmarshal(b, &saved); err != nil || saved.Token != testToken || saved.Server != f.srv.URL {
		t.Errorf("saved config = %s (%v)", b, err)
	}

	// Later commands use the saved server and token.
	mustSucceed(t, runCLI(t, nil, env, "", "env", "ls"))
	r = runCLI(t, nil, env, "", "whoami")
	mustSucceed(t, r)
	if want := "admin (admin) on " + f.srv.URL + "\n"; r.stdout != want {
		t.Errorf("whoami = %q, want %q", r.stdout, want)
	}

	// BERTH_PASSWORD works without stdin.
	env["BERTH_PASSWORD"] = "s3cret-pw"
	mustSucceed(t, runCLI(t, nil, env, "", "login", "--server", f.srv.URL))

	r = runCLI(t, nil, env, "", "logout")
	mustSucceed(t, r)
	b, _ = os.ReadFile(cfgPath)
	saved = cliConfig{}
	if err := json.Unmarshal(b, &saved); err != nil || saved.Token != "" || saved.Server != f.srv.URL {
		t.Errorf("config after logout = %s (%v)", b, err)
	}
	if r := runCLI(t, nil, env, "", "env", "ls"); berth.ErrorCode(r.err) != berth.EUNAUTHORIZED {
		t.Errorf("after logout: err = %v, want UNAUTHORIZED", r.err)
	}
}

func TestServerURLPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag, env, saved, want string
	}{
		{"http://flag:1/", "http://env:2", "http://saved:3", "http://flag:1"},
		{"", "http://env:2", "http://saved:3", "http://env:2"},
		{"", "", "http://saved:3", "http://saved:3"},
		{"", "", "", defaultServerURL},
	}
	for _, tt := range tests {
		f := &clientFlags{server: tt.flag}
		e := &cliEnv{getenv: func(k string) string {
			if k == "BERTH_URL" {
				return tt.env
			}
			return ""
		}}
		if got := f.serverURL(e, &cliConfig{Server: tt.saved}); got != tt.want {
			t.Errorf("serverURL(%q, %q, %q) = %q, want %q", tt.flag, tt.env, tt.saved, got, tt.want)
		}
	}
}

func svcState(status berth.ServiceStatus, ready, replicas int, msg string) func(http.ResponseWriter, *http.Request) {
	return ok(200, map[string]any{"service": berth.Service{Name: "web", Target: "local", Status: status, ReadyReplicas: ready, Replicas: replicas, Message: msg}})
}

func envState(status berth.EnvStatus) func(http.ResponseWriter, *http.Request) {
	return ok(200, map[string]any{"environment": berth.Environment{ID: "env-1", Name: "dev", Status: status, VSCodeURL: "http://127.0.0.1:31001/"}})
}

func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(f *fakeAPI)
		args    []string
		stderr  string // exact progress lines
		errText string // "" = success
	}{
		{"scale until ready", func(f *fakeAPI) {
			f.on("POST /api/v1/services/web/scale", svcState(berth.ServiceDeploying, 1, 3, ""))
			f.on("GET /api/v1/services/web", svcState(berth.ServiceDeploying, 1, 3, ""), svcState(berth.ServiceDeploying, 1, 3, ""),
				svcState(berth.ServiceDeploying, 2, 3, ""), svcState(berth.ServiceRunning, 3, 3, ""))
		}, []string{"svc", "scale", "web", "3", "--wait"},
			"waiting for web: DEPLOYING 1/3 ready\nwaiting for web: DEPLOYING 2/3 ready\nwaiting for web: RUNNING 3/3 ready\n", ""},
		{"stop", func(f *fakeAPI) {
			f.on("POST /api/v1/services/web/stop", svcState(berth.ServiceRunning, 3, 3, ""))
			f.on("GET /api/v1/services/web", svcState(berth.ServiceRunning, 1, 3, ""), svcState(berth.ServiceStopped, 0, 0, ""))
		}, []string{"svc", "stop", "web", "--wait"},
			"waiting for web: RUNNING 1/3 ready\nwaiting for web: STOPPED 0/0 ready\n", ""},
		{"service error", func(f *fakeAPI) {
			f.on("POST /api/v1/services/web/restart", svcState(berth.ServiceDeploying, 0, 1, ""))
			f.on("GET /api/v1/services/web", svcState(berth.ServiceDeploying, 0, 1, ""), svcState(berth.ServiceError, 0, 1, "exec: \"srv\": not found"))
		}, []string{"svc", "restart", "web", "--wait"},
			"waiting for web: DEPLOYING 0/1 ready\nwaiting for web: ERROR 0/1 ready\n", `service web is in ERROR: exec: "srv": not found`},
		{"timeout", func(f *fakeAPI) {
			f.on("POST /api/v1/services/web/start", svcState(berth.ServiceDeploying, 0, 1, ""))
			f.on("GET /api/v1/services/web", svcState(berth.ServiceDeploying, 0, 1, ""))
		}, []string{"svc", "start", "web", "--wait", "--timeout", "100ms"},
			"waiting for web: DEPLOYING 0/1 ready\n", "timed out after 100ms waiting for web (last: DEPLOYING 0/1 ready)"},
		{"env create", func(f *fakeAPI) {
			f.on("POST /api/v1/environments", ok(201, map[string]any{"environment": berth.Environment{ID: "env-1", Name: "dev", Status: berth.EnvCreating}}))
			f.on("GET /api/v1/environments/env-1", envState(berth.EnvCreating), envState(berth.EnvStarting), envState(berth.EnvRunning))
		}, []string{"env", "create", "dev", "--wait"},
			"waiting for env-1: CREATING\nwaiting for env-1: STARTING\nwaiting for env-1: RUNNING\n", ""},
		{"env rm", func(f *fakeAPI) {
			f.on("DELETE /api/v1/environments/env-1", ok(200, map[string]string{"message": "Environment deleted successfully", "id": "env-1"}))
			f.on("GET /api/v1/environments/env-1", envState(berth.EnvDeleting), func(w http.ResponseWriter, _ *http.Request) {
				apiError(w, berth.ENOTFOUND, `environment "env-1" not found`)
			})
		}, []string{"env", "rm", "env-1", "--wait"},
			"waiting for env-1: DELETING\nwaiting for env-1: deleted\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			tt.setup(f)
			r := runCLI(t, f, nil, "", tt.args...)
			if tt.errText == "" {
				mustSucceed(t, r)
			} else if r.err == nil || berthErrorText(r.err) != tt.errText {
				t.Fatalf("err = %v, want %q", r.err, tt.errText)
			}
			if r.stderr != tt.stderr {
				t.Errorf("stderr =\n%s\nwant\n%s", r.stderr, tt.stderr)
			}
		})
	}
}

func TestEnvCreateBody(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /api/v1/environments", ok(201, map[string]any{"environment": berth.Environment{ID: "env-9", Name: "dev", Status: berth.EnvCreating},
		"message": "Environment created successfully"}))
	r := runCLI(t, f, nil, "", "env", "create", "dev", "--cpu", "4", "--memory", "8", "--provider", "AZURE", "--region", "westeurope",
		"--template", "python", "--auto-stop", "30", "--env", "A=1", "--env", "B=x=y")
	mustSucceed(t, r)
	if r.stdout != "Environment dev (env-9) CREATING\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	var got, want map[string]any
	json.Unmarshal(f.lastBody("POST /api/v1/environments"), &got)
	json.Unmarshal([]byte(`{"name":"dev","cpuCores":4,"memoryGB":8,"storageGB":20,"cloudProvider":"AZURE","cloudRegion":"westeurope",
		"template":"python","autoStopMinutes":30,"env":{"A":"1","B":"x=y"}}`), &want)
	if !jsonEqual(got, want) {
		t.Errorf("body = %v\nwant %v", got, want)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

const specYAML = `name: web
target: local
command: ["python3", "-m", "http.server", "--bind", "127.0.0.1"]
replicas: 2
env:
  GREETING: "hello: world"
  PORT_HINT: "8080"
ports:
  - name: http
    port: 8080
resources:
  cpu: 500m
  memory: 256Mi
healthCheck:
  http: /healthz
  port: http
config:
  files:
    app.conf: |
      listen = 8080
      debug = false
`

const specJSON = `{"target":"local","command":["python3","-m","http.server","--bind","127.0.0.1"],"replicas":2,
"env":{"GREETING":"hello: world","PORT_HINT":"8080"},"ports":[{"name":"http","port":8080}],
"resources":{"cpu":"500m","memory":"256Mi"},"healthCheck":{"http":"/healthz","port":"http"},
"config":{"files":{"app.conf":"listen = 8080\ndebug = false\n"}}}`

func TestSvcApply(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("web.yaml", specYAML)
	noName := write("noname.yaml", strings.TrimPrefix(specYAML, "name: web\n"))
	typo := write("typo.yaml", "name: web\ncomand: [sleep]\n")
	onACI := write("aci.yaml", strings.Replace(specYAML, "target: local", "target: aci-eastus", 1))
	noTarget := write("default.yaml", strings.Replace(specYAML, "target: local\n", "", 1))
	tests := []struct {
		name    string
		args    []string
		stdin   string
		path    string // where the PUT must go
		errText string
	}{
		{"name in file", []string{"svc", "apply", "-f", full}, "", "/api/v1/services/web", ""},
		{"name flag wins", []string{"svc", "apply", "-f", full, "--name", "web2"}, "", "/api/v1/services/web2", ""},
		{"name flag only", []string{"svc", "apply", "-f", noName, "--name", "web3"}, "", "/api/v1/services/web3", ""},
		{"stdin", []string{"svc", "apply", "-f", "-"}, specYAML, "/api/v1/services/web", ""},
		{"no name", []string{"svc", "apply", "-f", noName}, "", "", "name: give it in the file (name:) or with --name"},
		{"unknown field", []string{"svc", "apply", "-f", typo}, "", "", `file: json: unknown field "comand"`},
		// The target's capabilities say NOT_SUPPORTED before any change is asked for.
		{"target without services", []string{"svc", "apply", "-f", onACI}, "", "", `target "aci-eastus" does not support services`},
		{"default target without services", []string{"svc", "apply", "-f", noTarget}, "", "", `target "aci-eastus" does not support services`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("PUT /api/v1/services/{name}", func(w http.ResponseWriter, r *http.Request) {
				answer(w, 201, map[string]any{"service": berth.Service{Name: r.PathValue("name"), Status: berth.ServicePending}, "message": "Service created successfully"})
			})
			// The ACI target is the default one only when the spec names none
			// (the default target is what such a spec goes to).
			aciDefault := tt.name == "default target without services"
			f.on("GET /api/v1/targets", ok(200, map[string]any{"targets": []berth.TargetInfo{
				{Name: "aci-eastus", Provider: berth.ProviderAzure, Default: aciDefault,
					Capabilities: []berth.Capability{berth.CapEnvironments, berth.CapEnvironmentLogs, berth.CapInventory}},
				{Name: "local", Provider: berth.ProviderLocal, Default: !aciDefault,
					Capabilities: []berth.Capability{berth.CapServices, berth.CapEnvironments}},
			}}))
			r := runCLI(t, f, nil, tt.stdin, tt.args...)
			if tt.errText != "" {
				if r.err == nil || berthErrorText(r.err) != tt.errText {
					t.Fatalf("err = %v, want %q", r.err, tt.errText)
				}
				for _, req := range f.requests() {
					if req != "GET /api/v1/targets" {
						t.Errorf("sent %s", req)
					}
				}
				return
			}
			mustSucceed(t, r)
			var got, want map[string]any
			if err := json.Unmarshal(f.lastBody("PUT "+tt.path), &got); err != nil {
				t.Fatalf("PUT %s body: %v (requests %v)", tt.path, err, f.requests())
			}
			json.Unmarshal([]byte(specJSON), &want)
			if !jsonEqual(got, want) {
				t.Errorf("body =\n%v\nwant\n%v", got, want)
			}
			if want := strings.TrimPrefix(tt.path, "/api/v1/services/") + ": Service created successfully\n"; r.stdout != want {
				t.Errorf("stdout = %q, want %q", r.stdout, want)
			}
		})
	}
}

func TestSvcLogs(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	lines := []berth.LogLine{
		{Time: ago(time.Minute), Replica: "web-0", Stream: "stdout", Line: "listening on :8080"},
		{Time: ago(30 * time.Second), Replica: "web-1", Stream: "stderr", Line: "GET / 200"},
	}
	f.on("GET /api/v1/services/web/logs", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "true" {
			answer(w, 200, map[string]any{"service": "web", "lines": lines})
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, l := range append(lines, berth.LogLine{Replica: "web-0", Line: "bye"}) {
			enc.Encode(l)
			w.(http.Flusher).Flush()
		}
	})
	tests := []struct {
		args    []string
		request string
		stdout  string
	}{
		{[]string{"svc", "logs", "web", "--tail", "5", "--since", "5m", "--replica", "web-0", "--previous"},
			"GET /api/v1/services/web/logs?previous=true&replica=web-0&since=5m&tail=5",
			"[web-0] listening on :8080\n[web-1] GET / 200\n"},
		{[]string{"svc", "logs", "web", "-f", "--tail", "2"},
			"GET /api/v1/services/web/logs?follow=true&tail=2",
			"[web-0] listening on :8080\n[web-1] GET / 200\n[web-0] bye\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, f, nil, "", tt.args...)
			mustSucceed(t, r)
			if r.stdout != tt.stdout {
				t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, tt.stdout)
			}
			reqs := f.requests()
			if reqs[len(reqs)-1] != tt.request {
				t.Errorf("request = %q, want %q", reqs[len(reqs)-1], tt.request)
			}
		})
	}
}

// TestSvcLogsFollowUntilInterrupted checks that -f prints lines as they
// come and returns cleanly when its context ends (Ctrl-C).
func TestSvcLogsFollowUntilInterrupted(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /api/v1/services/web/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		json.NewEncoder(w).Encode(berth.LogLine{Replica: "web-0", Line: "first"})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	vars := map[string]string{"BERTH_URL": f.srv.URL, "BERTH_TOKEN": testToken, "BERTH_CONFIG": filepath.Join(t.TempDir(), "c.json")}
	go func() {
		done <- run(ctx, []string{"svc", "logs", "web", "-f"}, func(k string) string { return vars[k] }, strings.NewReader(""), out, io.Discard)
	}()
	testutil.Eventually(t, testutil.Short, "the line printed while streaming", func() (bool, string) {
		return strings.Contains(out.String(), "[web-0] first\n"), fmt.Sprintf("stdout %q", out.String())
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f after interrupt: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not return after interrupt")
	}
}

func TestSvcConfig(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /api/v1/services/web/config", ok(200, map[string]any{"revision": 3, "env": map[string]string{"A": "1", "B": "2"},
		"config": map[string]any{"files": map[string]string{"app.conf": "debug = false\n", "old.conf": "x\n"}}}))
	f.on("PUT /api/v1/services/web/config", ok(200, map[string]any{"service": berth.Service{Name: "web", Revision: 4}, "message": "Service configuration updated"}))

	r := runCLI(t, f, nil, "", "svc", "config", "web")
	mustSucceed(t, r)
	if want := "Revision: 3\n\nEnvironment:\n  A=1\n  B=2\n\n--- app.conf\ndebug = false\n\n--- old.conf\nx\n"; r.stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, want)
	}

	local := filepath.Join(t.TempDir(), "new.conf")
	os.WriteFile(local, []byte("debug = true\n"), 0o644)
	tests := []struct {
		args []string
		body string
	}{
		{[]string{"--set-env", "B=3", "--set-env", "C=x", "--unset-env", "A"}, `{"env":{"B":"3","C":"x"}}`},
		{[]string{"--set-file", "app.conf=" + local, "--rm-file", "old.conf"}, `{"files":{"app.conf":"debug = true\n"}}`},
	}
	for _, tt := range tests {
		r := runCLI(t, f, nil, "", append([]string{"svc", "config", "web"}, tt.args...)...)
		mustSucceed(t, r)
		var got, want any
		json.Unmarshal(f.lastBody("PUT /api/v1/services/web/config"), &got)
		json.Unmarshal([]byte(tt.body), &want)
		if !jsonEqual(got, want) {
			t.Errorf("%v: body = %v, want %v", tt.args, got, want)
		}
		if r.stdout != "web: Service configuration updated\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
	}
}

func TestAPIKeyCreateShowsKeyOnce(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /api/v1/apikeys", ok(201, map[string]any{"apiKey": berth.APIKey{ID: "k9", Name: "ci", Role: berth.RoleViewer}, "key": "brt_k9_abcdef"}))
	r := runCLI(t, f, nil, "", "apikey", "create", "ci", "--role", "viewer", "--expires-in-days", "30")
	mustSucceed(t, r)
	if r.stdout != "brt_k9_abcdef\n" || !strings.Contains(r.stderr, "not shown again") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	var got any
	json.Unmarshal(f.lastBody("POST /api/v1/apikeys"), &got)
	if !jsonEqual(got, map[string]any{"name": "ci", "role": "viewer", "expiresInDays": 30}) {
		t.Errorf("body = %v", got)
	}
}

// TestNamedTargetCapabilities: a service command that names its target asks
// nothing of a target that does not declare the capability (NOT_SUPPORTED,
// no change sent); one that does, or a command naming no target, goes on.
func TestNamedTargetCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		errText string // "" : the change is sent
	}{
		{[]string{"svc", "scale", "web", "2", "--target", "aci-eastus"}, `target "aci-eastus" does not support scale`},
		{[]string{"svc", "restart", "web", "--target", "aci-eastus"}, `target "aci-eastus" does not support restart`},
		{[]string{"svc", "rollback", "web", "--target", "aci-eastus"}, `target "aci-eastus" does not support rollback`},
		{[]string{"svc", "stop", "web", "--target", "aci-eastus"}, `target "aci-eastus" does not support services`},
		{[]string{"svc", "restart", "web", "--target", "local"}, ""},
		{[]string{"svc", "scale", "web", "2"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET /api/v1/targets", ok(200, map[string]any{"targets": []berth.TargetInfo{
				{Name: "aci-eastus", Provider: berth.ProviderAzure, Capabilities: []berth.Capability{berth.CapEnvironments}},
				{Name: "local", Provider: berth.ProviderLocal, Default: true,
					Capabilities: []berth.Capability{berth.CapServices, berth.CapScale, berth.CapRestart, berth.CapRollback}},
			}}))
			f.on("POST /api/v1/services/web/{action}", ok(200, map[string]any{"service": berth.Service{Name: "web"}, "message": "done"}))
			r := runCLI(t, f, nil, "", tt.args...)
			var posts []string
			for _, req := range f.requests() {
				if strings.HasPrefix(req, "POST ") {
					posts = append(posts, req)
				}
			}
			if tt.errText != "" {
				if r.err == nil || berthErrorText(r.err) != tt.errText || len(posts) != 0 {
					t.Errorf("err = %v, sent %v; want %q and nothing sent", r.err, posts, tt.errText)
				}
				return
			}
			mustSucceed(t, r)
			if len(posts) != 1 {
				t.Errorf("sent %v, want one POST", f.requests())
			}
		})
	}
}
