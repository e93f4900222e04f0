package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"github.com/coder/websocket"
)

// upstreamRuntime is the local runtime with its environments' upstream
// moved to a server of the test's, so the test sees what the proxy sends.
type upstreamRuntime struct {
	*local.Runtime
	up berth.Upstream
}

func (r *upstreamRuntime) EnvironmentUpstream(context.Context, *berth.Environment) (berth.Upstream, error) {
	return r.up, nil
}

// seenRequest is what the upstream received.
type seenRequest struct {
	Path   string
	Header http.Header
	Host   string
}

type proxyFixture struct {
	srv               *httptest.Server
	store             *store.Store
	core              *core.Core
	clock             atomic.Int64 // core's clock offset (ticket expiry)
	alice, bob, admin string       // session tokens
	aliceEnv, bobEnv  string
	mu                sync.Mutex
	seen              []seenRequest
}

func (f *proxyFixture) last(t *testing.T) seenRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func (f *proxyFixture) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func newProxyFixture(t *testing.T) *proxyFixture {
	t.Helper()
	ctx := context.Background()
	f := &proxyFixture{}
	// A real upstream: HTTP, and a WebSocket that first sends the headers
	// of its upgrade request, then echoes.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{Path: r.URL.Path, Header: r.Header.Clone(), Host: r.Host})
		f.mu.Unlock()
		if r.URL.Path == "/socket" {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			hdr, _ := json.Marshal(r.Header)
			if err := c.Write(r.Context(), websocket.MessageText, hdr); err != nil {
				return
			}
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				if err := c.Write(r.Context(), typ, append([]byte("echo:"), msg...)); err != nil {
					return
				}
			}
		}
		if r.URL.Path == "/redirect" {
			http.SetCookie(w, &http.Cookie{Name: "app", Value: "1", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "berth_env", Value: "forged", Path: "/"})
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		if r.Method == "PUT" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "got %d bytes", n)
			return
		}
		io.WriteString(w, "workspace "+r.URL.Path)
	}))
	t.Cleanup(up.Close)

	st := storetest.Open(t, store.SQLite, nil)
	lrt, err := local.New(local.Config{Name: "local", DataDir: t.TempDir(), StopGrace: time.Second,
		Templates: map[string]local.Template{"default": {Command: []string{"sleep", "60"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lrt.Close(context.Background()) })
	rt := &upstreamRuntime{Runtime: lrt, up: berth.Upstream{Network: "tcp", Address: up.Listener.Addr().String()}}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt},
		ProxySecret: func(id string) string { return "secret-of-" + id },
		Now:         func() time.Time { return time.Now().Add(time.Duration(f.clock.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	login := func(name string, role berth.Role) (string, berth.Actor) {
		tok, u := session(t, st, acc, name, role)
		return tok, berth.Actor{UserID: u.ID, Username: name, Role: role}
	}
	var aliceA, bobA berth.Actor
	f.alice, aliceA = login("alice", berth.RoleOperator)
	f.bob, bobA = login("bob", berth.RoleOperator)
	f.admin, _ = login("root", berth.RoleAdmin)
	for _, o := range []struct {
		a  berth.Actor
		id *string
	}{{aliceA, &f.aliceEnv}, {bobA, &f.bobEnv}} {
		env, err := c.CreateEnvironment(berth.WithActor(ctx, o.a), berth.CreateEnvironmentRequest{Name: o.a.Username + "'s"})
		if err != nil {
			t.Fatal(err)
		}
		*o.id = env.ID
	}
	api := NewServer(Deps{Core: c, Accounts: acc, Audit: st, Version: "test", Started: time.Now(),
		EnvProxy: core.NewEnvProxy(c, acc, st), BodyTimeout: proxyBodyTimeout})
	f.srv = httptest.NewServer(api)
	t.Cleanup(f.srv.Close)
	f.store, f.core = st, c
	return f
}

const proxyBodyTimeout = time.Second

// open asks for a ticket URL as token's user.
func (f *proxyFixture) open(t *testing.T, token, id string, want int) string {
	t.Helper()
	code, body := f.do(t, "POST", "/api/v1/environments/"+id+"/open", token, nil)
	if code != want {
		t.Fatalf("open %s: %d %s, want %d", id, code, body, want)
	}
	var o core.EnvOpening
	json.Unmarshal([]byte(body), &o)
	if want == 200 && (!o.Proxied || o.ExpiresAt == nil || !strings.Contains(o.URL, "/env/"+id+"/?berth-ticket=")) {
		t.Fatalf("open answer %s", body)
	}
	return f.srv.URL + o.URL
}

func (f *proxyFixture) do(t *testing.T, method, path, token string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// redeem follows a ticket URL without a jar and returns the cookie set.
func (f *proxyFixture) redeem(t *testing.T, ticketURL string) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.Get(ticketURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("redeem: %s, want 303", resp.Status)
	}
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "ticket") {
		t.Errorf("redirect keeps the ticket: %s", loc)
	}
	for _, c := range resp.Cookies() {
		if c.Name == envCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", envCookie, resp.Header["Set-Cookie"])
	return nil
}

// TestEnvProxyTicketCookieAndWebSocket: the dashboard's flow (ticket →
// cookie) reaches the owner's workspace over HTTP and WebSocket, with the
// environment's secret and without berth's credentials; the ticket works
// once and expires; others get 404, no credential 401, and logout ends the
// cookie.
func TestEnvProxyTicketCookieAndWebSocket(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	id := f.aliceEnv
	base := "/env/" + id + "/"

	ticketURL := f.open(t, f.alice, id, 200)
	cookie := f.redeem(t, ticketURL)
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != base || cookie.Secure {
		t.Errorf("cookie attributes: %+v (want HttpOnly, SameSite=Lax, Path=%s, not Secure on http)", cookie, base)
	}
	// Single use: the same ticket again is refused, and sets nothing.
	if resp, err := noRedirect.Get(ticketURL); err != nil || resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("second redemption: %v %v", resp, err)
	}

	// A browser: the jar holds the cookie, plus one of the dashboard's and
	// one of the workspace app's.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(f.srv.URL + base)
	jar.SetCookies(u, []*http.Cookie{{Name: envCookie, Value: cookie.Value, Path: base}, {Name: "berth_other", Value: "x", Path: "/"}, {Name: "app", Value: "1", Path: "/"}})
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(f.srv.URL + base + "dir/file.txt?q=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "workspace /dir/file.txt" {
		t.Fatalf("GET through the proxy: %d %q", resp.StatusCode, body)
	}
	if csp := resp.Header.Values("Content-Security-Policy"); len(csp) != 1 || !strings.HasPrefix(csp[0], "sandbox ") || strings.Contains(csp[0], "allow-same-origin") {
		t.Errorf("Content-Security-Policy = %q, want a sandbox without allow-same-origin", csp)
	}
	seen := f.last(t)
	if seen.Header.Get("X-Berth-Proxy-Secret") != "secret-of-"+id || seen.Header.Get("Authorization") != "" ||
		seen.Header.Get("Cookie") != "app=1" || seen.Path != "/dir/file.txt" {
		t.Errorf("upstream saw path %q, headers %v: want the secret, no Authorization, only the app's cookie", seen.Path, seen.Header)
	}

	// Uploads are the workspace's to bound, not berth's 1 MiB API limit.
	big := strings.Repeat("x", 3<<20)
	req, _ := http.NewRequest("PUT", f.srv.URL+base+"big.bin", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+f.alice)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != fmt.Sprintf("got %d bytes", len(big)) {
			t.Errorf("3 MiB upload through the proxy: %d %s", resp.StatusCode, b)
		}
	}

	// The workspace's redirects and cookies stay inside its path.
	code, _ := f.do(t, "GET", base+"redirect", f.alice, nil)
	if code != 302 {
		t.Fatalf("redirect: %d", code)
	}
	req, _ = http.NewRequest("GET", f.srv.URL+base+"redirect", nil)
	req.Header.Set("Authorization", "Bearer "+f.alice)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != base+"elsewhere" {
		t.Errorf("Location = %q, want %q", loc, base+"elsewhere")
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 1 || !strings.Contains(sc[0], "app=1") || !strings.Contains(sc[0], "Path="+base) {
		t.Errorf("Set-Cookie = %q: want only app's, scoped to %s", sc, base)
	}

	// WebSocket, as a browser sends it (cookie) and as a CLI does (bearer
	// header): both reach the upstream without berth's credentials.
	wsURL := "ws" + strings.TrimPrefix(f.srv.URL, "http") + base + "socket"
	for name, hdr := range map[string]http.Header{
		"cookie": {"Cookie": {envCookie + "=" + cookie.Value + "; berth_other=x; app=1"}},
		"bearer": {"Authorization": {"Bearer " + f.alice}, "Cookie": {"app=1; berth_other=x"}},
	} {
		t.Run("websocket/"+name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
			if err != nil {
				t.Fatalf("dial through the proxy: %v", err)
			}
			defer c.CloseNow()
			_, first, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got http.Header
			if err := json.Unmarshal(first, &got); err != nil {
				t.Fatal(err)
			}
			if got.Get("Authorization") != "" || got.Get("Cookie") != "app=1" || got.Get("X-Berth-Proxy-Secret") != "secret-of-"+id {
				t.Errorf("upstream's upgrade request headers: %v", got)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo:hi" {
				t.Fatalf("echo = %q, %v", msg, err)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}

	// Who may reach it.
	before := f.count()
	bobCookie := f.redeem(t, f.open(t, f.bob, f.bobEnv, 200))
	for _, tc := range []struct {
		name   string
		token  string
		hdr    map[string]string
		status int
	}{
		{"no credential", "", nil, 401},
		{"bob's token", f.bob, nil, 404},
		{"bob's cookie", "", map[string]string{"Cookie": envCookie + "=" + bobCookie.Value}, 404},
		{"a made-up cookie", "", map[string]string{"Cookie": envCookie + "=nope"}, 401},
		{"the activity token", auth.ActivityToken(make([]byte, 32), id), nil, 401},
		{"admin's token", f.admin, nil, 200},
		{"alice's cookie", "", map[string]string{"Cookie": envCookie + "=" + cookie.Value}, 200},
	} {
		code, body := f.do(t, "PUT", base+"x.txt", tc.token, tc.hdr)
		if code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.status)
		}
	}
	if got := f.count() - before; got != 2 {
		t.Errorf("the upstream got %d requests, want 2 (admin's and alice's)", got)
	}
	if code, _ := f.do(t, "POST", "/api/v1/environments/"+id+"/open", f.bob, nil); code != 404 {
		t.Errorf("bob opens alice's environment: %d, want 404", code)
	}
	f.open(t, f.admin, id, 200)
	// A browser navigation without a credential gets a page saying where to go.
	code, page := f.do(t, "GET", base, "", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
	if code != 401 || !strings.Contains(page, "dashboard") {
		t.Errorf("navigation without credential: %d %q", code, page)
	}

	// A ticket expires after a minute.
	late := f.open(t, f.alice, id, 200)
	f.clock.Store(int64(2 * time.Minute))
	if resp, err := noRedirect.Get(late); err != nil || resp.StatusCode != 401 {
		t.Errorf("expired ticket: %v %v", resp, err)
	}
	f.clock.Store(0)

	// Logout ends the cookie opened under that session.
	if code, body := f.do(t, "POST", "/api/v1/auth/logout", f.alice, nil); code != 200 {
		t.Fatalf("logout: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", base, "", map[string]string{"Cookie": envCookie + "=" + cookie.Value}); code != 401 {
		t.Errorf("cookie after logout: %d, want 401", code)
	}
}

// TestEnvProxyRoleAndDeletion: a user demoted to viewer, or deleted, loses
// the cookie at once.
func TestEnvProxyRoleAndDeletion(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	ctx := context.Background()
	id, base := f.bobEnv, "/env/"+f.bobEnv+"/"
	cookie := f.redeem(t, f.open(t, f.bob, id, 200))
	hdr := map[string]string{"Cookie": envCookie + "=" + cookie.Value}
	if code, _ := f.do(t, "GET", base, "", hdr); code != 200 {
		t.Fatalf("before: %d", code)
	}
	u, err := f.store.GetUserByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	u.Role = berth.RoleViewer
	if err := f.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, "GET", base, "", hdr); code != 403 {
		t.Errorf("after demotion to viewer: %d, want 403", code)
	}
	if err := f.store.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, "GET", base, "", hdr); code != 401 {
		t.Errorf("after deletion: %d, want 401", code)
	}
}

// TestEnvProxyHostMode: with envDomain, {id}.<domain> serves the whole
// host, with a cookie of that host and no sandbox (its own origin).
func TestEnvProxyHostMode(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	f.srv.Close()
	c, err := core.New(core.Config{Store: f.store, Runtimes: []berth.Runtime{mustRuntime(t, f)}, EnvDomain: "dev.test",
		PublicURL: "http://berth.test:8080", ProxySecret: func(id string) string { return "secret-of-" + id }})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: f.store, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	srv := httptest.NewServer(NewServer(Deps{Core: c, Accounts: acc, Audit: f.store, EnvProxy: core.NewEnvProxy(c, acc, f.store)}))
	defer srv.Close()
	hostClient := &http.Client{CheckRedirect: noRedirect.CheckRedirect, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
		}}}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/environments/"+f.aliceEnv+"/open", nil)
	req.Header.Set("Authorization", "Bearer "+f.alice)
	resp, err := hostClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var o core.EnvOpening
	json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	want := "http://" + f.aliceEnv + ".dev.test:8080/?berth-ticket="
	if !strings.HasPrefix(o.URL, want) {
		t.Fatalf("open URL %q, want %s…", o.URL, want)
	}
	resp, err = hostClient.Get(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == envCookie {
			ck = c
		}
	}
	if resp.StatusCode != 303 || ck == nil || ck.Path != "/" {
		t.Fatalf("redeem in host mode: %d %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	req, _ = http.NewRequest("GET", "http://"+f.aliceEnv+".dev.test:8080/a.txt", nil)
	req.AddCookie(ck)
	resp, err = hostClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "workspace /a.txt" || resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("host mode GET: %d %q CSP %q", resp.StatusCode, body, resp.Header.Get("Content-Security-Policy"))
	}
	// Bob's environment's host does not take Alice's cookie.
	req, _ = http.NewRequest("GET", "http://"+f.bobEnv+".dev.test:8080/", nil)
	req.AddCookie(ck)
	if resp, err := hostClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Errorf("alice's cookie on bob's host: %v %v", resp, err)
	}
}

func mustRuntime(t *testing.T, f *proxyFixture) berth.Runtime {
	t.Helper()
	rt, ok := f.core.Runtime("local")
	if !ok {
		t.Fatal("no local runtime")
	}
	return rt
}

// A proxied upload may take longer than BodyTimeout while it keeps flowing;
// one that pauses for longer is cut off with a 400 naming the body, and the
// connection (here and to the workspace) is closed. Seen from a raw client.
func TestEnvProxyBodyPause(t *testing.T) {
	f := newProxyFixture(t)
	for _, tc := range []struct {
		name  string
		every time.Duration // between two bytes
		bytes int           // sent of the 40 announced
		want  string        // the answer's start
	}{
		{name: "trickles for 4x the timeout", every: proxyBodyTimeout / 10, bytes: 40, want: "HTTP/1.1 200"},
		{name: "pauses", every: 0, bytes: 1, want: "HTTP/1.1 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /env/%s/upload.bin HTTP/1.1\r\nHost: berth\r\nAuthorization: Bearer %s\r\nContent-Length: 40\r\nConnection: close\r\n\r\n", f.aliceEnv, f.alice)
			start := time.Now()
			go func() {
				for range tc.bytes {
					if _, err := conn.Write([]byte("x")); err != nil {
						return
					}
					time.Sleep(tc.every)
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			raw, _ := io.ReadAll(conn)
			took := time.Since(start)
			if !strings.HasPrefix(string(raw), tc.want) {
				t.Fatalf("after %s: %q, want %s", took, raw, tc.want)
			}
			switch tc.want {
			case "HTTP/1.1 200":
				if !strings.HasSuffix(string(raw), "got 40 bytes") || took < 3*proxyBodyTimeout {
					t.Errorf("after %s: %q, want all 40 bytes through after 4s of trickling", took, raw)
				}
			default:
				if !strings.Contains(string(raw), `"field":"body"`) || !strings.Contains(string(raw), "paused") {
					t.Errorf("answer to a paused upload: %q", raw)
				}
			}
		})
	}
}
