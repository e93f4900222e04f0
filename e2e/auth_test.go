package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

type apiOp struct {
	method, path string
	public       bool
}

// documentedOps reads every operation of the OpenAPI document.
func documentedOps(t *testing.T) []apiOp {
	t.Helper()
	raw, err := os.ReadFile("../httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []apiOp
	for path, methods := range doc.Paths {
		for m, op := range methods {
			ops = append(ops, apiOp{method: strings.ToUpper(m), path: path, public: op.Security != nil && len(*op.Security) == 0})
		}
	}
	return ops
}

func concrete(path string) string {
	r := strings.NewReplacer("{id}", "env-doesnotexist", "{name}", "nosuch", "{type}", "service")
	return r.Replace(path)
}

// TestAuthMatrix: every route but health and metrics needs a credential; a
// viewer may read but every mutation answers 403.
func TestAuthMatrix(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	// Every route with a bad token: far more failed authentications than
	// one address may make (TestAPIKeyFailureLimit tests that limit).
	b := StartBerth(t, "", "", "BERTH_AUTH_FAILURE_LIMIT=-1")
	vera := mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: "vera", Password: "viewer-password-1", Role: berth.RoleViewer})
	if vera.User == nil || vera.User.Username != "vera" || vera.User.Role != berth.RoleViewer {
		t.Fatalf("created user = %+v", vera.User)
	}
	viewer := b.Login("vera", "viewer-password-1")

	ops := documentedOps(t)
	if len(ops) < 40 {
		t.Fatalf("only %d documented operations", len(ops))
	}
	for _, op := range ops {
		path := concrete(op.path)
		if op.path == "/ws" {
			// Authenticated by its single-use ticket (browsers cannot set headers).
			if code, _ := b.DoRaw("", op.method, path, nil); code != 401 {
				t.Errorf("GET /ws without a ticket: %d, want 401", code)
			}
			continue
		}
		if strings.HasPrefix(op.path, "/env/") {
			// The environment proxy authenticates each request itself
			// (ticket, cookie or bearer), for operators and admins only;
			// TestEnvProxy covers the rest.
			if code, _ := b.DoRaw("", op.method, path, nil); code != 401 {
				t.Errorf("%s %s without credential: %d, want 401", op.method, op.path, code)
			}
			if code, _ := b.DoRaw(viewer, op.method, path, nil); code != 403 {
				t.Errorf("%s %s as viewer: %d, want 403", op.method, op.path, code)
			}
			continue
		}
		if op.public {
			if code, _ := b.DoRaw("", op.method, path, nil); code == 401 {
				t.Errorf("%s %s is public but answered 401", op.method, op.path)
			}
			continue
		}
		code, e := doAs[api.Error](b, "", op.method, path, nil)
		if code != 401 || e.Error != berth.EUNAUTHORIZED {
			t.Errorf("%s %s without credential: %d %+v, want 401 UNAUTHORIZED", op.method, op.path, code, e)
		}
		code, _ = doAs[api.Error](b, "not-a-token", op.method, path, nil)
		if code != 401 {
			t.Errorf("%s %s with a bad token: %d", op.method, op.path, code)
		}
		if op.path == "/api/v1/auth/logout" {
			continue // would revoke the viewer's token; TestAPIKeys covers logout
		}
		if op.path == "/api/v1/ws-ticket" {
			continue // a ticket only lets its holder read what it may read anyway
		}
		if op.path == "/api/v1/chat" {
			continue // open to viewers; each intent enforces its REST route's role (TestChatOps: a viewer's restart changes nothing)
		}
		code, m := b.Do(viewer, op.method, path, nil)
		mutation := op.method != "GET"
		switch {
		case mutation && (code != 403 || m["error"] != "FORBIDDEN"):
			t.Errorf("%s %s as viewer: %d %v, want 403", op.method, op.path, code, m)
		case !mutation && (code == 401 || code == 403) && !strings.HasPrefix(op.path, "/api/v1/users") && !strings.HasPrefix(op.path, "/api/v1/apikeys") && !strings.HasPrefix(op.path, "/debug/pprof") &&
			!(strings.HasPrefix(op.path, "/api/v1/quotas") && op.path != "/api/v1/quotas/me"):
			t.Errorf("%s %s as viewer: %d %v, want it readable", op.method, op.path, code, m)
		}
	}
	// Forbidden mutations are audited as failed.
	audit := getJSON[api.AuditList](b, "/api/v1/logs?user=vera&status=failed&pageSize=200")
	if audit.Total == 0 || len(audit.Logs) == 0 || audit.Logs[0].Username != "vera" || audit.Logs[0].Status != berth.AuditFailed {
		t.Errorf("forbidden mutations left no audit entry: %s", mustJSON(audit))
	}
}

// TestOwnership: another user's environment is NOT_FOUND, never FORBIDDEN.
func TestOwnership(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	for _, u := range []string{"olga", "otto"} {
		mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: u, Password: "operator-password", Role: berth.RoleOperator})
	}
	olga, otto := b.Login("olga", "operator-password"), b.Login("otto", "operator-password")
	code, m := doAs[api.EnvironmentEnvelope](b, olga, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "olgas"})
	if code != 201 || m.Environment == nil {
		t.Fatalf("create: %d %+v", code, m)
	}
	id := m.Environment.ID
	for _, op := range []struct{ method, path string }{
		{"GET", "/api/v1/environments/" + id}, {"POST", "/api/v1/environments/" + id + "/stop"},
		{"POST", "/api/v1/environments/" + id + "/start"}, {"DELETE", "/api/v1/environments/" + id},
		{"POST", "/api/v1/environments/" + id + "/activity"},
	} {
		var body any
		if strings.HasSuffix(op.path, "activity") {
			body = map[string]any{"snapshot": map[string]any{"activeIDEConnections": 1}}
		}
		code, e := doAs[api.Error](b, otto, op.method, op.path, body)
		if code != 404 || e.Error != berth.ENOTFOUND {
			t.Errorf("%s %s as another user: %d %+v, want 404", op.method, op.path, code, e)
		}
	}
	if code, m := doAs[api.EnvironmentList](b, otto, "GET", "/api/v1/environments", nil); code != 200 || m.Total != 0 || len(m.Environments) != 0 {
		t.Errorf("otto sees %s", mustJSON(m))
	}
	if code, e := doAs[api.Error](b, otto, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "x", UserID: "someone-else"}); code != 403 || e.Error != berth.EFORBIDDEN {
		t.Errorf("operator creating for another user: %d %+v", code, e)
	}
	// The admin sees it, and it is still there.
	if m := getJSON[api.EnvironmentList](b, "/api/v1/environments"); m.Total != 1 || len(m.Environments) != 1 || m.Environments[0].ID != id {
		t.Errorf("admin list = %s", mustJSON(m))
	}
	if a := mustDo[api.Ack](b, 200, "DELETE", "/api/v1/environments/"+id, nil); a.ID != id {
		t.Errorf("delete answer = %+v", a)
	}
}

// TestAPIKeys: shown once, hashed, usable with its role, revocable.
func TestAPIKeys(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	m := mustDo[api.CreatedAPIKey](b, 201, "POST", "/api/v1/apikeys", api.CreateAPIKeyRequest{Name: "nextjs", Role: berth.RoleOperator})
	key := m.Key
	if !strings.HasPrefix(key, "brt_") || m.APIKey == nil || m.APIKey.Role != berth.RoleOperator {
		t.Fatalf("key = %q, %+v", key, m.APIKey)
	}
	keyID := m.APIKey.ID
	list := getJSON[api.APIKeyList](b, "/api/v1/apikeys")
	if list.Total != 1 || len(list.APIKeys) != 1 || list.APIKeys[0].ID != keyID || list.APIKeys[0].Name != "nextjs" {
		t.Errorf("key list = %s", mustJSON(list))
	}
	if strings.Contains(mustJSON(list), strings.Split(key, "_")[2]) {
		t.Errorf("key list shows the secret")
	}
	// An operator key creates an environment for a Dev8 user id? Only an admin may.
	code, _ := doAs[api.EnvironmentEnvelope](b, key, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "from-key"})
	if code != 201 {
		t.Errorf("operator key cannot create: %d", code)
	}
	if code, _ := b.Do(key, "GET", "/api/v1/users", nil); code != 403 {
		t.Errorf("operator key reads users: %d", code)
	}
	// Change the last character (to one that differs: a key may already end in "x").
	last := "x"
	if strings.HasSuffix(key, last) {
		last = "y"
	}
	if code, _ := b.Do(key[:len(key)-1]+last, "GET", "/api/v1/services", nil); code != 401 {
		t.Errorf("tampered key accepted: %d", code)
	}
	if a := mustDo[api.Ack](b, 200, "DELETE", "/api/v1/apikeys/"+keyID, nil); a.ID != keyID {
		t.Errorf("delete key answer = %+v", a)
	}
	if code, _ := b.Do(key, "GET", "/api/v1/services", nil); code != 401 {
		t.Errorf("revoked key accepted: %d", code)
	}
	// Logout revokes the session token.
	tok := b.Login("admin", adminPassword)
	if code, a := doAs[api.Ack](b, tok, "POST", "/api/v1/auth/logout", nil); code != 200 || a.Message == "" {
		t.Fatalf("logout: %d %+v", code, a)
	}
	if code, _ := b.Do(tok, "GET", "/api/v1/services", nil); code != 401 {
		t.Errorf("token works after logout: %d", code)
	}
	if strings.Contains(b.stderr.String(), key) {
		t.Errorf("server log contains an API key")
	}
}

// TestAuditLog: every mutating call writes one entry with who, what, where,
// how it ended and how long it took.
func TestAuditLog(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/job", map[string]any{"command": []string{"sleep", "600"}})
	two := 2
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/job/scale", api.ScaleRequest{Replicas: &two})
	doAs[api.Error](b, b.Token(), "POST", "/api/v1/services/nosuch/scale", api.ScaleRequest{Replicas: &two})

	m := getJSON[api.AuditList](b, "/api/v1/logs?type=scale")
	if m.Total != 2 || len(m.Logs) != 2 {
		t.Fatalf("scale entries = %s", mustJSON(m))
	}
	failed, ok := m.Logs[0], m.Logs[1]
	if failed.Status != berth.AuditFailed || failed.Resource != "nosuch" || !strings.Contains(failed.Error, "not found") {
		t.Errorf("failed entry = %s", mustJSON(failed))
	}
	if ok.Status != berth.AuditCompleted || ok.Username != "admin" || ok.Action != "service.scale" ||
		ok.Target != "local" || ok.Resource != "job" || fmt.Sprint(ok.Details["replicas"]) != "2" || ok.DurationMs < 0 {
		t.Errorf("completed entry = %s", mustJSON(ok))
	}
	if m := getJSON[api.AuditList](b, "/api/v1/logs?type=scale&status=completed"); m.Total != 1 {
		t.Errorf("status filter: %s", mustJSON(m))
	}
	if m := getJSON[api.AuditList](b, "/api/v1/logs?type=apply"); m.Total != 1 {
		t.Errorf("apply entries: %s", mustJSON(m))
	}
	if m := getJSON[api.AuditList](b, "/api/v1/logs?since=1h&user=admin"); m.Total < 4 {
		t.Errorf("since/user filter (login, apply, 2 scales): %s", mustJSON(m))
	}
	code, e := doAs[api.Error](b, b.Token(), "GET", "/api/v1/logs?status=maybe", nil)
	if code != 400 || e.Error != berth.EINVALID || !strings.Contains(e.Message, "status") {
		t.Errorf("bad status filter: %d %+v", code, e)
	}
}

// TestHealthAndLimits: health routes answer without a credential, /readyz
// checks each dependency, CORS follows CORS_ALLOWED_ORIGINS, bodies and
// pages are bounded.
func TestHealthAndLimits(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "", "CORS_ALLOWED_ORIGINS=http://ui.test")
	_, h := doAs[api.Health](b, "", "GET", "/health", nil)
	if h.Status != "healthy" || h.Service != "berth" || h.Uptime == "" || h.Version == "" {
		t.Errorf("/health = %+v", h)
	}
	code, r := doAs[api.Ready](b, "", "GET", "/readyz", nil)
	if code != 200 || r.Status != "ready" || r.Checks["store"].Status != "ok" || r.Checks["target:local"].Status != "ok" {
		t.Errorf("/readyz = %d %+v", code, r)
	}
	code, raw := b.DoRaw("", "GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(raw), "berth_http_requests_total") {
		t.Errorf("/metrics: %d", code)
	}
	code, raw = b.DoRaw("", "GET", "/api/v1/openapi.json", nil)
	if code != 200 || !strings.Contains(string(raw), `"openapi"`) {
		t.Errorf("openapi: %d", code)
	}

	req, _ := http.NewRequest("OPTIONS", b.URL+"/api/v1/services", nil)
	req.Header.Set("Origin", "http://ui.test")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.test" {
		t.Errorf("CORS preflight for an allowed origin: %v", resp.Header)
	}
	req.Header.Set("Origin", "http://evil.test")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS allowed an unlisted origin")
	}

	big := `{"name":"x","baseImage":"` + strings.Repeat("a", 2<<20) + `"}`
	code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/environments", big)
	if code != 400 || !strings.Contains(e.Message, "body") {
		t.Errorf("2 MiB body: %d %+v", code, e)
	}
	code, e = doAs[api.Error](b, b.Token(), "GET", "/api/v1/services?pageSize=500", nil)
	if code != 400 || e.Field != "pageSize" || !strings.Contains(e.Message, "pageSize") {
		t.Errorf("pageSize 500: %d %+v", code, e)
	}
	code, e = doAs[api.Error](b, b.Token(), "GET", "/api/v1/nosuch", nil)
	if code != 404 || e.Error != berth.ENOTFOUND {
		t.Errorf("unknown route: %d %+v", code, e)
	}
}

// TestRateLimit: a credential over its rate gets 429 RATE_LIMITED.
func TestRateLimit(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_RATE_LIMIT=5")
	tok := b.Token()
	limited := 0
	for i := 0; i < 60; i++ {
		code, raw := b.DoRaw(tok, "GET", "/api/v1/services", nil)
		if code == 429 {
			var e api.Error
			if err := json.Unmarshal(raw, &e); err != nil || e.Error != berth.ERATELIMITED {
				t.Fatalf("429 body = %s", raw)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("60 quick requests at 5/s were never limited")
	}
}
