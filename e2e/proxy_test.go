package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// openEnv walks the dashboard's flow as token's user: a ticket URL from
// POST …/open, followed by a browser-like client that keeps the cookie.
// It answers the client and the environment's proxy URL.
func openEnv(t *testing.T, b *Berth, token, id string) (*http.Client, string) {
	t.Helper()
	code, m := doAs[api.EnvOpening](b, token, "POST", "/api/v1/environments/"+id+"/open", nil)
	if code != 200 || !m.Proxied || m.ExpiresAt == nil {
		t.Fatalf("open %s: %d %+v", id, code, m)
	}
	ticketURL := m.URL
	base := b.URL + "/env/" + id + "/"
	if !strings.HasPrefix(ticketURL, base+"?berth-ticket=") {
		t.Fatalf("open URL %q, want %s?berth-ticket=…", ticketURL, base)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(ticketURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The workspace answers (200, or 401 when it has a codeServerPassword).
	if resp.Request.URL.String() != base || (resp.StatusCode != 200 && resp.Header.Get("WWW-Authenticate") == "") {
		t.Fatalf("ticket URL: %s at %s, want the workspace's answer at %s", resp.Status, resp.Request.URL, base)
	}
	// Single use: the same ticket again is refused.
	resp, err = http.Get(ticketURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("ticket used twice: %s, want 401", resp.Status)
	}
	return c, base
}

func envCookie(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == "berth_env" {
			return ck.Value
		}
	}
	t.Fatalf("no berth_env cookie for %s", base)
	return ""
}

func send(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEnvProxy: the finding of issue 9 (a workspace without a password
// served read/write to every local process) is closed. Alice reaches her
// environment only through berth's proxy, with the dashboard's ticket and
// cookie; files written through it land in her workspace on disk; Bob's
// token and cookie get 404, no credential 401; the workspace's own port
// refuses the finding's exact request and writes nothing; logout ends the
// cookie; an admin may open her environment.
func TestEnvProxy(t *testing.T) {
	b := StartBerth(t, "", "")
	for _, u := range []string{"alice", "bob"} {
		mustDo[api.UserEnvelope](b, 201, "POST", "/api/v1/users", api.CreateUserRequest{Username: u, Password: u + "-password-1", Role: berth.RoleOperator})
	}
	alice, bob := b.Login("alice", "alice-password-1"), b.Login("bob", "bob-password-1")
	create := func(token, name string) string {
		code, m := doAs[api.EnvironmentEnvelope](b, token, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: name})
		if code != 201 || m.Environment == nil {
			t.Fatalf("create %s: %d %+v", name, code, m)
		}
		return m.Environment.ID
	}
	aEnv, bEnv := create(alice, "alice's"), create(bob, "bob's")
	for _, id := range []string{aEnv, bEnv} {
		Eventually(t, 60*time.Second, id+" RUNNING", func() (bool, string) {
			s := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+id).Environment.Status
			return s == berth.EnvRunning, string(s)
		})
	}
	m := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+aEnv)
	if got, want := m.Environment.VSCodeURL, b.URL+"/env/"+aEnv+"/"; got != want {
		t.Errorf("vsCodeUrl = %q, want the proxy's %q", got, want)
	}

	// Alice: ticket → cookie → her workspace.
	ac, base := openEnv(t, b, alice, aEnv)
	wsDir := filepath.Join(workloadDirFor(b.DataDir), "local", "environments", aEnv, "workspace")
	if code, body := send(t, ac, "PUT", base+"hello.txt", "written through the proxy"); code != 201 {
		t.Fatalf("PUT through the proxy: %d %s", code, body)
	}
	if got, err := os.ReadFile(filepath.Join(wsDir, "hello.txt")); err != nil || string(got) != "written through the proxy" {
		t.Errorf("hello.txt on disk: %q %v", got, err)
	}
	code, listing := send(t, ac, "GET", base, "")
	if code != 200 || !strings.Contains(listing, "hello.txt") {
		t.Errorf("listing through the proxy: %d %q", code, listing)
	}
	aliceCookie := envCookie(t, ac, base)

	// Bob: his token and his cookie get 404 on Alice's environment; no
	// credential gets 401; nothing reaches her workspace.
	bc, bBase := openEnv(t, b, bob, bEnv)
	bobCookie := envCookie(t, bc, bBase)
	plain := &http.Client{Timeout: 30 * time.Second}
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"bob's token", []string{"Authorization", "Bearer " + bob}, 404},
		{"bob's cookie", []string{"Cookie", "berth_env=" + bobCookie}, 404},
		{"no credential", nil, 401},
	} {
		if code, body := send(t, plain, "PUT", base+"bob.txt", "from bob", tc.hdr...); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if code, _ := b.Do(bob, "POST", "/api/v1/environments/"+aEnv+"/open", nil); code != 404 {
		t.Errorf("bob opens alice's environment: %d, want 404", code)
	}
	// A browser without the cookie is told where to open it.
	if code, page := send(t, plain, "GET", base, "", "Accept", "text/html"); code != 401 || !strings.Contains(page, "dashboard") {
		t.Errorf("navigation without credential: %d %q", code, page)
	}

	// The finding: the workspace's own loopback port, without the proxy's
	// secret, refuses the write and creates nothing.
	portRaw, err := os.ReadFile(filepath.Join(b.DataDir, "targets", "local", "environments", aEnv, "port"))
	if err != nil {
		t.Fatal(err)
	}
	direct := fmt.Sprintf("http://127.0.0.1:%s/evil.txt", strings.TrimSpace(string(portRaw)))
	status := ""
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data", "pwned", direct).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		status = string(out)
	} else {
		code, _ := send(t, plain, "PUT", direct, "pwned")
		status = fmt.Sprint(code)
	}
	if status != "403" {
		t.Errorf("PUT to the workspace port without the secret: %s, want 403", status)
	}
	if _, err := os.Stat(filepath.Join(wsDir, "evil.txt")); !os.IsNotExist(err) {
		t.Errorf("the direct PUT created evil.txt (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(wsDir, "bob.txt")); !os.IsNotExist(err) {
		t.Errorf("bob's PUT reached alice's workspace (stat: %v)", err)
	}

	// The secret is in the workspace's environment, never in berth's output.
	pids := processesOfEnv(aEnv)
	if len(pids) != 1 {
		t.Fatalf("workspace processes of %s: %v", aEnv, pids)
	}
	secret := procEnv(pids[0], "BERTH_PROXY_SECRET")
	if len(secret) < 32 {
		t.Fatalf("BERTH_PROXY_SECRET of the workspace = %q", secret)
	}
	if strings.Contains(b.stderr.String()+b.stdout.String(), secret) {
		t.Errorf("berth's output contains the proxy secret")
	}
	if other := procEnv(processesOfEnv(bEnv)[0], "BERTH_PROXY_SECRET"); other == secret {
		t.Errorf("two environments share a proxy secret")
	}

	// An admin may open Alice's environment.
	adm, _ := openEnv(t, b, b.Token(), aEnv)
	if code, body := send(t, adm, "GET", base+"hello.txt", ""); code != 200 || body != "written through the proxy" {
		t.Errorf("admin reads alice's file: %d %q", code, body)
	}

	// Logout ends Alice's cookie.
	if code, m := b.Do(alice, "POST", "/api/v1/auth/logout", nil); code != 200 {
		t.Fatalf("logout: %d %v", code, m)
	}
	if code, body := send(t, plain, "GET", base, "", "Cookie", "berth_env="+aliceCookie); code != 401 {
		t.Errorf("alice's cookie after logout: %d %s, want 401", code, body)
	}
	// The audit log says who opened what.
	opened := false
	for _, e := range getJSON[api.AuditList](b, "/api/v1/logs?pageSize=200").Logs {
		opened = opened || (e.Action == "environment.open" && e.Resource == aEnv && e.Username == "alice")
	}
	if !opened {
		t.Errorf("no environment.open of %s by alice in the audit log", aEnv)
	}
}
