package aci

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestDev8FlowOnACI runs the Dev8 agent contract over HTTP against an ACI
// target, through the real core, httpapi and SQLite store, wired as
// cmd/berth/serve.go wires them, with Azure played by the SDK's fakes.
func TestDev8FlowOnACI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: secret.RedactAttr}))
	st := storetest.Open(t, store.SQLite, nil)
	accounts := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: bytes.Repeat([]byte{7}, 32), TTL: time.Hour}}
	if _, err := accounts.Bootstrap(ctx, "admin-Password-123"); err != nil {
		t.Fatal(err)
	}

	f := newFakeAzure()
	tr := f.transport()
	cfg := testConfig(f, tr, logs)
	cfg.Logger = logger
	cfg.Known = func(ctx context.Context, id string) (bool, error) {
		_, err := st.GetEnvironment(ctx, id)
		if berth.IsCode(err, berth.ENOTFOUND) {
			return false, nil
		}
		return err == nil, err
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := local.New(local.Config{Name: "local", DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loc.Close(context.Background()) })

	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	activityKey := bytes.Repeat([]byte{9}, 32)
	newCore := func(rt *Runtime) *core.Core {
		c, err := core.New(core.Config{
			Store: st, Runtimes: []berth.Runtime{loc, rt}, Logger: logger, PublicURL: srv.URL,
			ActivityToken: func(id string) string { return auth.ActivityToken(activityKey, id) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newCore(rt)
	srv.Config.Handler = httpapi.NewServer(httpapi.Deps{Core: c, Accounts: accounts, Audit: st, ActivityKey: activityKey,
		Logger: logger, Version: "test", Started: time.Now()})

	var answers strings.Builder // every API answer, checked for secrets at the end
	do := func(token, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		answers.Write(raw)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	code, m := do("", "POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "admin-Password-123"})
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, m)
	}
	token := m["token"].(string)

	req := map[string]any{
		"name": "My Dev Environment", "cloudProvider": "AZURE", "cloudRegion": "japaneast",
		"cpuCores": 2, "memoryGB": 4, "storageGB": 20, "baseImage": "node",
		"gitUserName": "John Doe", "gitUserEmail": "john@example.com",
		"githubToken": testSecrets.GithubToken, "sshPublicKey": testSecrets.SSHPublicKey,
		"codeServerPassword": testSecrets.CodeServerPassword, "anthropicApiKey": testSecrets.AnthropicAPIKey,
		"openaiApiKey": testSecrets.OpenAIAPIKey, "geminiApiKey": testSecrets.GeminiAPIKey,
		// The request says what is secret, whatever the names.
		"secrets": map[string]string{"DATABASE_URL": "postgres://app:db-pass-must-not-leak@db/app", "NPM_AUTH": "npm-auth-must-not-leak"},
		"env":     map[string]string{"GH_PAT": "gh-pat-must-not-leak", "APP_DSN": "dsn-must-not-leak", "LOG_LEVEL": "debug"},
	}
	// (env is not secret, and the API returns it; only Azure is kept from
	// seeing the values that look like credentials.)
	extraSecrets := []string{"db-pass-must-not-leak", "npm-auth-must-not-leak"}
	code, m = do(token, "POST", "/api/v1/environments", req)
	if code != http.StatusBadRequest || m["error"] != "INVALID_REQUEST" || !strings.Contains(m["message"].(string), "aci-eastus (AZURE eastus)") {
		t.Fatalf("unknown region: %d %v", code, m)
	}

	req["cloudRegion"] = "eastus"
	code, m = do(token, "POST", "/api/v1/environments", req)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	env := m["environment"].(map[string]any)
	id := env["id"].(string)
	n, _ := rt.namesFor(id)
	// Create answers at once: the image pull has only begun.
	want := map[string]any{
		"status": "CREATING", "target": "aci-eastus", "cloudProvider": "AZURE", "cloudRegion": "eastus",
		"aciContainerGroupId": n.group, "azureFileShareName": n.share, "aciPublicIp": "",
	}
	checkFields := func(step string, env map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s = %v, want %v", step, k, env[k], v)
			}
		}
	}
	checkFields("create", env, want)

	// berth restarts while Azure pulls: the new process finds the create
	// in Azure, and its sync loop sees the group run.
	f.clock.Advance(f.pullTime)
	rt2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c = newCore(rt2)
	c.SyncOnce(berth.WithActor(ctx, berth.System)) // as the loop does
	if f.creates != 1 {
		t.Errorf("%d group creates, want 1", f.creates)
	}
	get := func(step string) map[string]any {
		t.Helper()
		code, m := do(token, "GET", "/api/v1/environments/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: get: %d %v", step, code, m)
		}
		return m["environment"].(map[string]any)
	}
	env = get("after the pull")
	want["status"] = "RUNNING"
	delete(want, "aciPublicIp")
	checkFields("after the pull", env, want)
	firstIP, _ := env["aciPublicIp"].(string)
	if firstIP == "" || !strings.HasPrefix(env["vsCodeUrl"].(string), "http://"+n.dnsLabel+"-") {
		t.Errorf("after the pull: ip %q url %v", firstIP, env["vsCodeUrl"])
	}
	want["vsCodeUrl"] = env["vsCodeUrl"]

	// The fake holds every secret as a SecureValue, the git identity as plain values.
	g := f.group(n.group)
	vars := map[string][2]*string{}
	for _, ev := range g.Properties.Containers[0].Properties.EnvironmentVariables {
		vars[*ev.Name] = [2]*string{ev.Value, ev.SecureValue}
	}
	secure := testSecrets.EnvVars()
	for _, k := range []string{"DATABASE_URL", "NPM_AUTH", "GH_PAT", "APP_DSN"} {
		secure[k] = ""
	}
	for k, v := range secure {
		if p := vars[k]; p[0] != nil || p[1] == nil || (v != "" && *p[1] != v) {
			t.Errorf("%s is not a SecureValue in the container group", k)
		}
	}
	for k, v := range map[string]string{"GIT_USER_NAME": "John Doe", "LOG_LEVEL": "debug"} {
		if p := vars[k]; deref(p[0]) != v || p[1] != nil {
			t.Errorf("%s = %v, want the plain value %q", k, p, v)
		}
	}
	activityToken := deref(vars["BERTH_ACTIVITY_TOKEN"][1])
	if activityToken == "" || vars["BERTH_ACTIVITY_TOKEN"][0] != nil {
		t.Fatal("the activity token is not a SecureValue of the group")
	}

	code, m = do(token, "GET", "/api/v1/environments/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("get: %d %v", code, m)
	}
	checkFields("get", m["environment"].(map[string]any), want)
	code, m = do(token, "GET", "/api/v1/environments", nil)
	if code != http.StatusOK || m["total"] != float64(1) {
		t.Fatalf("list: %d %v", code, m)
	}

	// The workspace reports activity with the token it was given.
	now := time.Now().UTC().Format(time.RFC3339)
	code, m = do(activityToken, "POST", "/api/v1/environments/"+id+"/activity",
		map[string]any{"snapshot": map[string]any{"lastIDEActivity": now, "activeIDEConnections": 1}})
	if code != http.StatusOK {
		t.Fatalf("activity: %d %v", code, m)
	}

	// Stop releases the IP: berth must not keep showing it. Start comes
	// back with another one, which the sync loop stores.
	steps := []struct{ action, status string }{{"stop", "STOPPED"}, {"start", "STARTING"}}
	for _, s := range steps {
		code, m = do(token, "POST", "/api/v1/environments/"+id+"/"+s.action, nil)
		if code != http.StatusOK || m["id"] != id {
			t.Fatalf("%s: %d %v", s.action, code, m)
		}
		checkFields("get after "+s.action, get("after "+s.action), map[string]any{"status": s.status, "aciPublicIp": ""})
	}
	f.clock.Advance(f.pullTime)
	c.SyncOnce(berth.WithActor(ctx, berth.System)) // as the loop does
	stored, err := st.GetEnvironment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != berth.EnvRunning || stored.ACIPublicIP == "" || stored.ACIPublicIP == firstIP {
		t.Errorf("stored after start and sync: %s ip %q (before the stop %q)", stored.Status, stored.ACIPublicIP, firstIP)
	}
	// Azure moves the running group: the sync loop stores the new IP.
	f.changeIP(n.group)
	f.clock.Advance(time.Minute)
	c.SyncOnce(berth.WithActor(ctx, berth.System)) // as the loop does
	moved, _ := st.GetEnvironment(ctx, id)
	if g := f.group(n.group); moved.ACIPublicIP == stored.ACIPublicIP || moved.ACIPublicIP == "" {
		t.Errorf("stored IP after Azure changed it: %q (was %q, group %v)", moved.ACIPublicIP, stored.ACIPublicIP, g != nil)
	}

	code, m = do(token, "GET", "/api/v1/infrastructure", nil)
	if code != http.StatusOK {
		t.Fatalf("infrastructure: %d %v", code, m)
	}
	types := map[string]bool{}
	for _, r := range m["resources"].([]any) {
		r := r.(map[string]any)
		if r["target"] == "aci-eastus" {
			types[r["type"].(string)] = true
			if r["orphaned"] == true {
				t.Errorf("%v is orphaned", r)
			}
		}
	}
	if !types[TypeContainerGroup] || !types[TypeFileShare] {
		t.Errorf("infrastructure lacks the group or the share: %v", m["resources"])
	}

	code, m = do(token, "DELETE", "/api/v1/environments/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("delete: %d %v", code, m)
	}
	if g, s := f.counts(); g != 0 || s != 0 {
		t.Errorf("after delete: %d groups, %d shares", g, s)
	}
	if code, _ = do(token, "GET", "/api/v1/environments/"+id, nil); code != http.StatusNotFound {
		t.Errorf("get after delete: %d", code)
	}

	if ok, err := cfg.Known(ctx, id); ok || err != nil {
		t.Errorf("Known(deleted %s) = %v, %v; want false", id, ok, err)
	}
	checkNoSecrets(t, "API answers", answers.String())
	checkNoSecrets(t, "log", logs.String())
	for _, v := range extraSecrets {
		if strings.Contains(answers.String(), v) || strings.Contains(logs.String(), v) {
			t.Errorf("the secret %q leaked into an API answer or the log", v)
		}
	}
	if strings.Contains(logs.String(), activityToken) || strings.Contains(answers.String(), activityToken) {
		t.Error("the activity token leaked into the log or an API answer")
	}
	if !strings.Contains(logs.String(), n.group) {
		t.Error("the log does not mention the container group (is logging wired?)")
	}
}
