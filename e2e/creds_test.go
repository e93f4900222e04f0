package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/coder/websocket"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read berth's database from outside
)

// wsClosedWithin reads c until the server closes it, and fails unless that
// happens within d with the "credential revoked" status.
func wsClosedWithin(t *testing.T, c *websocket.Conn, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue // an event sent before the revocation
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: WebSocket still open %s later", what, d)
		}
		if st := websocket.CloseStatus(err); st != 4001 {
			t.Fatalf("%s: WebSocket ended with %v (status %d), want close status 4001", what, err, st)
		}
		t.Logf("%s: WebSocket closed %s after the change", what, time.Since(start).Round(time.Millisecond))
		return
	}
}

// wsStillOpen reports an error unless the server keeps c open for another
// half second (the read's timeout ends c: call it last).
func wsStillOpen(c *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil && websocket.CloseStatus(err) == -1 {
			return nil
		}
		return err
	}
}

// wsOpen is a WebSocket subscribed to services (wsDial waits for the
// hub's answer, so the connection is served before the test goes on).
func wsOpen(t *testing.T, b *Berth, token string) *websocket.Conn {
	t.Helper()
	return wsDial(t, b, token, "services")
}

// TestAuthRevocation: changing a user's password or role, or deleting the
// user, ends the user's sessions at once (401) and closes their WebSockets
// within a second; deleting the user also ends the user's API keys. Other
// users' sessions are untouched.
func TestAuthRevocation(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	admin := b.Token()
	tests := []struct {
		name   string
		change func(id string) (int, map[string]any)
	}{
		{"password", func(id string) (int, map[string]any) {
			return b.Do(admin, "PATCH", "/api/v1/users/"+id, map[string]string{"password": "a-brand-new-password"})
		}},
		{"role", func(id string) (int, map[string]any) {
			return b.Do(admin, "PATCH", "/api/v1/users/"+id, map[string]string{"role": "viewer"})
		}},
		{"delete", func(id string) (int, map[string]any) {
			return b.Do(admin, "DELETE", "/api/v1/users/"+id, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "u-" + tt.name
			// An admin, so that the user can make an API key of its own.
			m := mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: name, Password: "first-password-1", Role: berth.RoleAdmin})
			id := m.User.ID
			tok := b.Login(name, "first-password-1")
			code, km := doAs[api.CreatedAPIKey](b, tok, "POST", "/api/v1/apikeys", api.CreateAPIKeyRequest{Name: "k", Role: berth.RoleViewer})
			if code != 201 || km.APIKey == nil || km.APIKey.UserID != id {
				t.Fatalf("create key: %d %+v", code, km)
			}
			key := km.Key
			ws := wsOpen(t, b, tok)
			keyWS := wsOpen(t, b, key)
			bystander := wsOpen(t, b, admin)
			if code, _ := b.Do(tok, "GET", "/api/v1/services", nil); code != 200 {
				t.Fatalf("session before the change: %d", code)
			}

			if code, m := tt.change(id); code != 200 {
				t.Fatalf("change: %d %v", code, m)
			}
			wsClosedWithin(t, ws, time.Second, "session WebSocket")
			if code, m := b.Do(tok, "GET", "/api/v1/services", nil); code != 401 {
				t.Errorf("old session token after the change: %d %v, want 401", code, m)
			}
			if code, m := b.Do(tok, "POST", "/api/v1/ws-ticket", nil); code != 401 {
				t.Errorf("old session token gets a ws ticket: %d %v", code, m)
			}
			switch tt.name {
			case "delete":
				wsClosedWithin(t, keyWS, time.Second, "API key WebSocket")
				if code, m := b.Do(key, "GET", "/api/v1/services", nil); code != 401 {
					t.Errorf("deleted user's API key: %d %v, want 401", code, m)
				}
			case "password":
				// Decided: a password change leaves API keys alone (they are
				// separate credentials of programs, deleted one by one).
				if code, m := b.Do(key, "GET", "/api/v1/services", nil); code != 200 {
					t.Errorf("API key after a password change: %d %v, want 200", code, m)
				}
				if tok2 := b.Login(name, "a-brand-new-password"); tok2 == "" {
					t.Error("no login with the new password")
				}
				if err := wsStillOpen(keyWS); err != nil {
					t.Errorf("an API key's WebSocket was closed by a password change: %v", err)
				}
			case "role":
				wsClosedWithin(t, keyWS, time.Second, "API key WebSocket after a role change")
				// The key was viewer already; the user's new role (viewer)
				// applies to it at once: still a viewer, so the key works.
				if code, m := b.Do(key, "GET", "/api/v1/services", nil); code != 200 {
					t.Errorf("viewer key after demotion to viewer: %d %v", code, m)
				}
				tok2 := b.Login(name, "first-password-1")
				if code, _ := b.Do(tok2, "GET", "/api/v1/users", nil); code != 403 {
					t.Errorf("a new session of the demoted user lists users: %d, want 403", code)
				}
			}
			// Another user's session and WebSocket are untouched.
			if code, _ := b.Do(admin, "GET", "/api/v1/services", nil); code != 200 {
				t.Errorf("admin session after another user's change: %d", code)
			}
			if err := wsStillOpen(bystander); err != nil {
				t.Errorf("another user's WebSocket was closed: %v", err)
			}
		})
	}

	// A role change applies to API keys at once: an operator key of a user
	// demoted to viewer cannot mutate any more.
	kim := mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: "kim", Password: "first-password-1", Role: berth.RoleAdmin})
	kimTok := b.Login("kim", "first-password-1")
	_, km := doAs[api.CreatedAPIKey](b, kimTok, "POST", "/api/v1/apikeys", api.CreateAPIKeyRequest{Name: "ops", Role: berth.RoleOperator})
	opKey := km.Key
	if u := mustDo[api.UserEnvelope](b, 200, "PATCH", "/api/v1/users/"+kim.User.ID, api.UpdateUserRequest{Role: berth.RoleViewer}); u.User.Role != berth.RoleViewer {
		t.Errorf("demoted user = %+v", u.User)
	}
	if code, e := doAs[api.Error](b, opKey, "PUT", "/api/v1/services/kims", map[string]any{"command": []string{"sleep", "60"}}); code != 403 || e.Error != berth.EFORBIDDEN {
		t.Errorf("operator key of a user demoted to viewer applies a service: %d %+v, want 403", code, e)
	}
}

// TestAuthRevocationAcrossReplicas: a password change made through one
// replica closes the user's WebSocket on another within a second, and the
// old token is refused by both.
func TestAuthRevocationAcrossReplicas(t *testing.T) {
	db := postgresURL(t)
	key := "BERTH_SECRET_KEY=ZTJlLXNoYXJlZC1rZXktb2YtMzItYnl0ZXMtLS0tLS0="
	a := StartBerth(t, "", db, key)
	b := StartBerth(t, "", db, key)
	m := mustDo[api.UserEnvelope](a, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: "rita", Password: "first-password-1", Role: berth.RoleOperator})
	tok := a.Login("rita", "first-password-1")
	ws := wsOpen(t, b, tok)
	mustDo[api.UserEnvelope](a, 200, "PATCH", "/api/v1/users/"+m.User.ID, api.UpdateUserRequest{Password: "a-brand-new-password"})
	wsClosedWithin(t, ws, time.Second, "WebSocket on the other replica")
	for _, r := range []*Berth{a, b} {
		if code, _ := r.Do(tok, "GET", "/api/v1/services", nil); code != 401 {
			t.Errorf("old token on %s: %d, want 401", r.URL, code)
		}
	}
}

// TestAuthLastAdmin: the last admin cannot demote or delete itself (409,
// and the database still says admin); with a second admin it can.
func TestAuthLastAdmin(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	me := getJSON[api.Me](b, "/api/v1/auth/me")
	if me.User == nil || me.User.Username != "admin" || me.Role != berth.RoleAdmin || me.KeyID != "" {
		t.Fatalf("me = %+v", me)
	}
	id := me.User.ID
	for _, op := range []struct {
		method string
		body   any
	}{{"PATCH", map[string]string{"role": "operator"}}, {"DELETE", nil}} {
		code, e := doAs[api.Error](b, b.Token(), op.method, "/api/v1/users/"+id, op.body)
		if code != 409 || e.Error != berth.ECONFLICT || !strings.Contains(e.Message, "last admin") {
			t.Errorf("%s the last admin: %d %+v, want 409 CONFLICT", op.method, code, e)
		}
	}
	sqlDB, err := sql.Open("sqlite", filepath.Join(b.DataDir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var role string
	if err := sqlDB.QueryRow(`SELECT role FROM users WHERE id = ?`, id).Scan(&role); err != nil || role != "admin" {
		t.Fatalf("admin's row after refused changes: role %q, %v", role, err)
	}
	// With a second admin, the first may step down.
	mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: "second", Password: "second-password", Role: berth.RoleAdmin})
	if u := mustDo[api.UserEnvelope](b, 200, "PATCH", "/api/v1/users/"+id, api.UpdateUserRequest{Role: berth.RoleOperator}); u.User.ID != id || u.User.Role != berth.RoleOperator {
		t.Errorf("stepped down = %+v", u.User)
	}
	if err := sqlDB.QueryRow(`SELECT role FROM users WHERE id = ?`, id).Scan(&role); err != nil || role != "operator" {
		t.Fatalf("role after stepping down: %q, %v", role, err)
	}
}

// clientFrom is an HTTP client whose connections come from a given
// loopback address (all of 127/8 is local on Linux), i.e. another client IP.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

func getFrom(t *testing.T, c *http.Client, url, cred string, header ...string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestAPIKeyFailureLimit: bad API keys count against the client's address:
// 600 of them end in 429 RATE_LIMITED with Retry-After, after at most the
// burst of 401s; a good key from another address still works, and from the
// blocked address once Retry-After has passed. Good requests never count.
// X-Forwarded-For is believed only from a trusted proxy.
func TestAPIKeyFailureLimit(t *testing.T) {
	const perMinute = 60 // a burst of 60, then one a second
	b := StartBerth(t, "", "", "BERTH_AUTH_FAILURE_LIMIT="+strconv.Itoa(perMinute), "BERTH_TRUSTED_PROXIES=127.0.0.3")
	good := mustDo[api.CreatedAPIKey](b, 201, "POST", "/api/v1/apikeys", api.CreateAPIKeyRequest{Name: "app", Role: berth.RoleViewer}).Key
	bad := good[:len(good)-4] + "zzzz"
	if bad == good {
		bad = good[:len(good)-4] + "yyyy"
	}
	url := b.URL + "/api/v1/services"
	c1 := clientFrom("127.0.0.1")

	// Many good requests first: they must not count.
	for i := range 200 {
		if code, _ := getFrom(t, c1, url, good); code != 200 {
			t.Fatalf("good request %d: %d", i, code)
		}
	}
	unauthorized, limited := 0, 0
	retryAfter := ""
	for range 600 {
		code, h := getFrom(t, c1, url, bad)
		switch code {
		case 401:
			if limited > 0 {
				t.Fatal("a 401 after the first 429: the block lifted within the loop")
			}
			unauthorized++
		case 429:
			limited++
			retryAfter = h.Get("Retry-After")
		default:
			t.Fatalf("bad key: status %d", code)
		}
	}
	if limited == 0 || unauthorized > perMinute+5 {
		t.Fatalf("600 bad keys: %d answered 401, %d answered 429; want at most ~%d 401s, then 429", unauthorized, limited, perMinute)
	}
	secs, err := strconv.Atoi(retryAfter)
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q", retryAfter)
	}
	// The blocked address cannot try even a good key; another address can.
	if code, _ := getFrom(t, c1, url, good); code != 429 {
		t.Errorf("good key from the blocked address: %d, want 429", code)
	}
	if code, _ := getFrom(t, clientFrom("127.0.0.2"), url, good); code != 200 {
		t.Errorf("good key from another address: %d, want 200", code)
	}
	// Forged X-Forwarded-For from an untrusted peer changes nothing.
	if code, _ := getFrom(t, c1, url, good, "X-Forwarded-For", "198.51.100.9"); code != 429 {
		t.Errorf("blocked address escaping with X-Forwarded-For: %d, want 429", code)
	}
	// From the trusted proxy, the forwarded client is who counts.
	proxy := clientFrom("127.0.0.3")
	for range perMinute + 1 {
		getFrom(t, proxy, url, bad, "X-Forwarded-For", "198.51.100.7")
	}
	if code, _ := getFrom(t, proxy, url, good, "X-Forwarded-For", "198.51.100.7"); code != 429 {
		t.Errorf("forwarded client after its failures: %d, want 429", code)
	}
	if code, _ := getFrom(t, proxy, url, good, "X-Forwarded-For", "198.51.100.8"); code != 200 {
		t.Errorf("another client behind the same proxy: %d, want 200", code)
	}
	// After Retry-After, the blocked address may authenticate again.
	time.Sleep(time.Duration(secs)*time.Second + 100*time.Millisecond) // the window itself is what is tested
	if code, h := getFrom(t, c1, url, good); code != 200 {
		t.Errorf("good key after Retry-After (%ss): %d (Retry-After now %q)", retryAfter, code, h.Get("Retry-After"))
	}
}

// TestLoginFailureLimit: bad passwords for one username are limited
// (429 + Retry-After) after a burst, the same way whether the username
// exists or not; other usernames from the same address still log in.
func TestLoginFailureLimit(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_LOGIN_FAILURE_LIMIT=5")
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "olga", "password": "olgas-password", "role": "viewer"})
	login := func(user, pw string) (int, string, time.Duration) {
		start := time.Now()
		code, _ := b.Do("", "POST", "/api/v1/auth/login", map[string]string{"username": user, "password": pw})
		return code, "", time.Since(start)
	}
	seq := func(user string) []int {
		var codes []int
		for range 8 {
			code, _, _ := login(user, "wrong-password")
			codes = append(codes, code)
		}
		return codes
	}
	want := []int{401, 401, 401, 401, 401, 429, 429, 429}
	for _, user := range []string{"admin", "ghost"} { // one exists, one does not
		if got := seq(user); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("bad logins for %s: %v, want %v", user, got, want)
		}
	}
	// Limited means limited: the right password waits too.
	req, _ := http.NewRequest("POST", b.URL+"/api/v1/auth/login", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("admin login while its username is limited: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if tok := b.Login("olga", "olgas-password"); tok == "" {
		t.Error("another username cannot log in")
	}
	// An existing session is not affected by its username's limit.
	if code, _ := b.Do(b.token, "GET", "/api/v1/services", nil); code != 200 {
		t.Errorf("admin's existing session: %d", code)
	}
}

// TestConnSlowBody: a request body that trickles in is cut off at
// BERTH_BODY_TIMEOUT (400 naming the body, then the connection closes),
// seen from a raw TCP client.
func TestConnSlowBody(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_BODY_TIMEOUT=1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	start := time.Now()
	stop := make(chan struct{})
	go func() { // one byte every 200 ms, for up to 10 s
		for range 50 {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	defer close(stop)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	raw, err := io.ReadAll(conn)
	took := time.Since(start)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("after %s: %v (read %q)", took, err, raw)
	}
	if took > 3*time.Second {
		t.Fatalf("slow body held the connection for %s (deadline 1s)", took)
	}
	if !strings.HasPrefix(string(raw), "HTTP/1.1 400") || !strings.Contains(string(raw), "body") {
		t.Errorf("answer to a slow body: %q", raw)
	}
	t.Logf("slow body cut off after %s", took.Round(time.Millisecond))
}

// TestConnSlowHeaders: connections that send their headers slowly are all
// closed at BERTH_HEADER_TIMEOUT.
func TestConnSlowHeaders(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_HEADER_TIMEOUT=1s")
	const n = 50
	addr := strings.TrimPrefix(b.URL, "http://")
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			start := time.Now()
			fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: berth\r\n")
			done := make(chan struct{})
			go func() {
				for range 50 {
					select {
					case <-done:
						return
					case <-time.After(200 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("X")); err != nil {
						return
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.ReadAll(conn)
			close(done)
			took[i] = time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs[i] = fmt.Errorf("still open after %s", took[i])
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("connection %d: %v", i, errs[i])
		} else if took[i] > 3*time.Second {
			t.Errorf("connection %d closed after %s (header timeout 1s)", i, took[i])
		}
	}
	// The server still serves.
	if code, _ := b.Do("", "GET", "/health", nil); code != 200 {
		t.Errorf("/health after the slow clients: %d", code)
	}
}

// TestWSPerUserCap: one user holds at most BERTH_WS_MAX_CLIENTS_PER_USER
// WebSockets (429 beyond, with Retry-After); another user still connects,
// and a closed connection frees its slot.
func TestWSPerUserCap(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_WS_MAX_CLIENTS_PER_USER=3")
	mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: "vera", Password: "viewer-password-1", Role: berth.RoleViewer})
	vera := b.Login("vera", "viewer-password-1")
	var mine []*websocket.Conn
	for range 3 {
		mine = append(mine, wsOpen(t, b, vera))
	}
	dial := func(token string) (*websocket.Conn, *http.Response, error) {
		code, m := doAs[api.WSTicket](b, token, "POST", "/api/v1/ws-ticket", nil)
		if code != 200 || m.Ticket == "" || m.ExpiresAt.IsZero() {
			t.Fatalf("ws-ticket: %d %+v", code, m)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.URL, "http")+"/ws?ticket="+m.Ticket, nil)
	}
	c, resp, err := dial(vera)
	if err == nil {
		c.CloseNow()
		t.Fatal("a fourth WebSocket of one user was accepted (cap 3)")
	}
	if resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth WebSocket: %v %v, want 429 with Retry-After", resp, err)
	}
	other, _, err := dial(b.Token())
	if err != nil {
		t.Fatalf("another user cannot connect while vera is at her cap: %v", err)
	}
	other.CloseNow()
	mine[0].Close(websocket.StatusNormalClosure, "")
	Eventually(t, 5*time.Second, "a freed slot", func() (bool, string) {
		c, resp, err := dial(vera)
		if err != nil {
			return false, fmt.Sprint(resp, err)
		}
		c.CloseNow()
		return true, ""
	})
}

// TestMetricsAccess: with BERTH_METRICS_TOKEN, /metrics needs that bearer
// token (401 without or with another); without one, /metrics is open but
// lists no environment id, while a running environment's id is what an
// authorized scrape shows.
func TestMetricsAccess(t *testing.T) {
	runEnv := func(b *Berth) string {
		id := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "metrics-env"}).Environment.ID
		Eventually(t, 60*time.Second, "environment running", func() (bool, string) {
			s := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.Status
			return s == berth.EnvRunning && len(processesOfEnv(id)) > 0, string(s)
		})
		return id
	}
	scrape := func(b *Berth, cred string) (int, string) {
		code, raw := b.DoRaw(cred, "GET", "/metrics", nil)
		return code, string(raw)
	}

	const token = "e2e-metrics-token-0123456789"
	locked := StartBerth(t, "", "", "BERTH_METRICS_TOKEN="+token)
	id := runEnv(locked)
	for _, cred := range []string{"", "wrong-token", locked.Token()} {
		if code, body := scrape(locked, cred); code != 401 || strings.Contains(body, id) {
			t.Errorf("/metrics with credential %.8q…: %d, want 401", cred, code)
		}
	}
	Eventually(t, 30*time.Second, "the environment on an authorized /metrics", func() (bool, string) {
		code, body := scrape(locked, token)
		return code == 200 && strings.Contains(body, id), strconv.Itoa(code)
	})

	open := StartBerth(t, "", "")
	id = runEnv(open)
	open.MustDo(201, "PUT", "/api/v1/services/shared", map[string]any{"command": []string{"sleep", "600"}})
	// Once the service's series is there, the collector has run with the
	// environment's process alive too.
	Eventually(t, 30*time.Second, "the service on an open /metrics", func() (bool, string) {
		code, body := scrape(open, "")
		return code == 200 && strings.Contains(body, `container="shared"`), strconv.Itoa(code)
	})
	if len(processesOfEnv(id)) == 0 {
		t.Fatal("the environment's process is gone")
	}
	if _, body := scrape(open, ""); strings.Contains(body, id) || strings.Contains(body, `container="workspace"`) {
		t.Errorf("an open /metrics lists environment %s", id)
	}
}
