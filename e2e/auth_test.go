package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
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
	// Every route with a bad token: far more failed authentications than
	// one address may make (TestAPIKeyFailureLimit tests that limit).
	b := StartBerth(t, "", "", "BERTH_AUTH_FAILURE_LIMIT=-1")
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "vera", "password": "viewer-password-1", "role": "viewer"})
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
		code, m := b.Do("", op.method, path, nil)
		if code != 401 || m["error"] != "UNAUTHORIZED" {
			t.Errorf("%s %s without credential: %d %v, want 401 UNAUTHORIZED", op.method, op.path, code, m)
		}
		code, m = b.Do("not-a-token", op.method, path, nil)
		if code != 401 {
			t.Errorf("%s %s with a bad token: %d", op.method, op.path, code)
		}
		if op.path == "/api/v1/auth/logout" {
			continue // would revoke the viewer's token; TestAPIKeys covers logout
		}
		if op.path == "/api/v1/ws-ticket" {
			continue // a ticket only lets its holder read what it may read anyway
		}
		code, m = b.Do(viewer, op.method, path, nil)
		mutation := op.method != "GET"
		switch {
		case mutation && (code != 403 || m["error"] != "FORBIDDEN"):
			t.Errorf("%s %s as viewer: %d %v, want 403", op.method, op.path, code, m)
		case !mutation && (code == 401 || code == 403) && !strings.HasPrefix(op.path, "/api/v1/users") && !strings.HasPrefix(op.path, "/api/v1/apikeys") &&
			!(strings.HasPrefix(op.path, "/api/v1/quotas") && op.path != "/api/v1/quotas/me"):
			t.Errorf("%s %s as viewer: %d %v, want it readable", op.method, op.path, code, m)
		}
	}
	// Forbidden mutations are audited as failed.
	audit := b.MustDo(200, "GET", "/api/v1/logs?user=vera&status=failed&pageSize=200", nil)
	if num(audit, "total") == 0 {
		t.Errorf("forbidden mutations left no audit entry")
	}
}

// TestOwnership: another user's environment is NOT_FOUND, never FORBIDDEN.
func TestOwnership(t *testing.T) {
	b := StartBerth(t, "", "")
	for _, u := range []string{"olga", "otto"} {
		b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": u, "password": "operator-password", "role": "operator"})
	}
	olga, otto := b.Login("olga", "operator-password"), b.Login("otto", "operator-password")
	code, m := b.Do(olga, "POST", "/api/v1/environments", map[string]any{"name": "olgas"})
	if code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	id := str(m, "environment", "id")
	for _, op := range []struct{ method, path string }{
		{"GET", "/api/v1/environments/" + id}, {"POST", "/api/v1/environments/" + id + "/stop"},
		{"POST", "/api/v1/environments/" + id + "/start"}, {"DELETE", "/api/v1/environments/" + id},
		{"POST", "/api/v1/environments/" + id + "/activity"},
	} {
		var body any
		if strings.HasSuffix(op.path, "activity") {
			body = map[string]any{"snapshot": map[string]any{"activeIDEConnections": 1}}
		}
		code, m := b.Do(otto, op.method, op.path, body)
		if code != 404 || m["error"] != "NOT_FOUND" {
			t.Errorf("%s %s as another user: %d %v, want 404", op.method, op.path, code, m)
		}
	}
	if code, m := b.Do(otto, "GET", "/api/v1/environments", nil); code != 200 || num(m, "total") != 0 {
		t.Errorf("otto sees %v", m)
	}
	if code, m := b.Do(otto, "POST", "/api/v1/environments", map[string]any{"name": "x", "userId": "someone-else"}); code != 403 {
		t.Errorf("operator creating for another user: %d %v", code, m)
	}
	// The admin sees it, and it is still there.
	if m := b.MustDo(200, "GET", "/api/v1/environments", nil); num(m, "total") != 1 {
		t.Errorf("admin list = %v", m)
	}
	b.MustDo(200, "DELETE", "/api/v1/environments/"+id, nil)
}

// TestAPIKeys: shown once, hashed, usable with its role, revocable.
func TestAPIKeys(t *testing.T) {
	b := StartBerth(t, "", "")
	m := b.MustDo(201, "POST", "/api/v1/apikeys", map[string]any{"name": "nextjs", "role": "operator"})
	key := str(m, "key")
	if !strings.HasPrefix(key, "brt_") {
		t.Fatalf("key = %q", key)
	}
	keyID := str(m, "apiKey", "id")
	list := b.MustDo(200, "GET", "/api/v1/apikeys", nil)
	if strings.Contains(mustJSON(list), strings.Split(key, "_")[2]) {
		t.Errorf("key list shows the secret")
	}
	// An operator key creates an environment for a Dev8 user id? Only an admin may.
	code, _ := b.Do(key, "POST", "/api/v1/environments", map[string]any{"name": "from-key"})
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
	b.MustDo(200, "DELETE", "/api/v1/apikeys/"+keyID, nil)
	if code, _ := b.Do(key, "GET", "/api/v1/services", nil); code != 401 {
		t.Errorf("revoked key accepted: %d", code)
	}
	// Logout revokes the session token.
	tok := b.Login("admin", adminPassword)
	if code, _ := b.Do(tok, "POST", "/api/v1/auth/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
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
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/job", map[string]any{"command": []string{"sleep", "600"}})
	b.MustDo(200, "POST", "/api/v1/services/job/scale", map[string]int{"replicas": 2})
	b.Do(b.Token(), "POST", "/api/v1/services/nosuch/scale", map[string]int{"replicas": 2})

	m := b.MustDo(200, "GET", "/api/v1/logs?type=scale", nil)
	entries := m["logs"].([]any)
	if num(m, "total") != 2 || len(entries) != 2 {
		t.Fatalf("scale entries = %v", m)
	}
	failed, ok := entries[0].(map[string]any), entries[1].(map[string]any)
	if str(failed, "status") != "failed" || str(failed, "resource") != "nosuch" || !strings.Contains(str(failed, "error"), "not found") {
		t.Errorf("failed entry = %v", failed)
	}
	if str(ok, "status") != "completed" || str(ok, "user") != "admin" || str(ok, "action") != "service.scale" ||
		str(ok, "target") != "local" || str(ok, "resource") != "job" || str(ok, "details", "replicas") != "2" || ok["durationMs"] == nil {
		t.Errorf("completed entry = %v", ok)
	}
	if m := b.MustDo(200, "GET", "/api/v1/logs?type=scale&status=completed", nil); num(m, "total") != 1 {
		t.Errorf("status filter: %v", m)
	}
	if m := b.MustDo(200, "GET", "/api/v1/logs?type=apply", nil); num(m, "total") != 1 {
		t.Errorf("apply entries: %v", m)
	}
	if m := b.MustDo(200, "GET", "/api/v1/logs?since=1h&user=admin", nil); num(m, "total") < 4 {
		t.Errorf("since/user filter (login, apply, 2 scales): %v", m)
	}
	code, e := b.Do(b.Token(), "GET", "/api/v1/logs?status=maybe", nil)
	if code != 400 || !strings.Contains(str(e, "message"), "status") {
		t.Errorf("bad status filter: %d %v", code, e)
	}
}

// TestHealthAndLimits: health routes answer without a credential, /readyz
// checks each dependency, CORS follows CORS_ALLOWED_ORIGINS, bodies and
// pages are bounded.
func TestHealthAndLimits(t *testing.T) {
	b := StartBerth(t, "", "", "CORS_ALLOWED_ORIGINS=http://ui.test")
	_, h := b.Do("", "GET", "/health", nil)
	if h["status"] != "healthy" || h["service"] != "berth" || h["uptime"] == nil || h["version"] == nil {
		t.Errorf("/health = %v", h)
	}
	code, r := b.Do("", "GET", "/readyz", nil)
	if code != 200 || str(r, "checks", "store", "status") != "ok" || str(r, "checks", "target:local", "status") != "ok" {
		t.Errorf("/readyz = %d %v", code, r)
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
	code, m := b.Do(b.Token(), "POST", "/api/v1/environments", big)
	if code != 400 || !strings.Contains(str(m, "message"), "body") {
		t.Errorf("2 MiB body: %d %v", code, m)
	}
	code, m = b.Do(b.Token(), "GET", "/api/v1/services?pageSize=500", nil)
	if code != 400 || !strings.Contains(str(m, "message"), "pageSize") {
		t.Errorf("pageSize 500: %d %v", code, m)
	}
	code, m = b.Do(b.Token(), "GET", "/api/v1/nosuch", nil)
	if code != 404 || m["error"] != "NOT_FOUND" {
		t.Errorf("unknown route: %d %v", code, m)
	}
}

// TestRateLimit: a credential over its rate gets 429 RATE_LIMITED.
func TestRateLimit(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_RATE_LIMIT=5")
	tok := b.Token()
	limited := 0
	for i := 0; i < 60; i++ {
		code, m := b.Do(tok, "GET", "/api/v1/services", nil)
		if code == 429 {
			if m["error"] != "RATE_LIMITED" {
				t.Fatalf("429 body = %v", m)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("60 quick requests at 5/s were never limited")
	}
}
