package workspace

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berthhq/berth/internal/testutil"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServer runs Serve on a loopback port and stops it at the end of the test.
func startServer(t *testing.T, cfg Config) (baseURL string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	var stopped bool
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// rawGet sends a request line as is, bypassing the client's URL cleaning.
func rawRequest(t *testing.T, baseURL, method, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, method+" "+target+" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ws")
	writeFile(t, filepath.Join(dir, "README.md"), "hello")
	writeFile(t, filepath.Join(dir, "src", "main.go"), "package main")
	writeFile(t, filepath.Join(dir, "src", "run.sh"), "#!/bin/sh")
	os.Chmod(filepath.Join(dir, "src", "run.sh"), 0o755)
	base, _ := startServer(t, Config{Dir: dir})

	steps := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"health", "GET", "/healthz", "", 200, "ok"},
		{"list root", "GET", "/", "", 200, "README.md"},
		{"list subdir", "GET", "/src/", "", 200, "main.go"},
		{"read", "GET", "/README.md", "", 200, "hello"},
		{"read missing", "GET", "/nope.txt", "", 404, ""},
		{"put new nested", "PUT", "/new/deep/file.txt", "fresh content", 201, ""},
		{"get new", "GET", "/new/deep/file.txt", "", 200, "fresh content"},
		{"put replace", "PUT", "/README.md", "replaced", 204, ""},
		{"get replaced", "GET", "/README.md", "", 200, "replaced"},
		{"put keeps mode", "PUT", "/src/run.sh", "#!/bin/sh\necho hi", 204, ""},
		{"put onto dir", "PUT", "/src", "x", 409, ""},
		{"put dir path", "PUT", "/src/", "x", 400, ""},
		{"put under file", "PUT", "/README.md/x", "x", 409, ""},
		{"delete file", "DELETE", "/new/deep/file.txt", "", 204, ""},
		{"get deleted", "GET", "/new/deep/file.txt", "", 404, ""},
		{"delete missing", "DELETE", "/new/deep/file.txt", "", 404, ""},
		{"delete non-empty dir", "DELETE", "/src", "", 409, ""},
		{"delete empty dir", "DELETE", "/new/deep", "", 204, ""},
		{"delete root", "DELETE", "/", "", 400, ""},
		{"bad method", "POST", "/README.md", "", 405, ""},
	}
	for _, s := range steps {
		code, body := do(t, s.method, base+s.path, s.body)
		if code != s.status || !strings.Contains(body, s.contains) {
			t.Fatalf("%s: %s %s = %d %q, want %d containing %q", s.name, s.method, s.path, code, body, s.status, s.contains)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "src", "run.sh"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh mode after PUT = %v, %v; want 0755", info.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "src"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".upload-") {
			t.Fatalf("temporary upload file left behind: %s", e.Name())
		}
	}
}

func TestUploadLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base, _ := startServer(t, Config{Dir: dir})
	code, _ := do(t, "PUT", base+"/big.bin", strings.Repeat("x", MaxUpload+1))
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized PUT = %d, want 413", code)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("oversized PUT left %d files", len(entries))
	}
}

func TestTraversalRefused(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ws")
	outside := filepath.Join(tmp, "outside")
	writeFile(t, filepath.Join(outside, "secret.txt"), "TOP SECRET")
	writeFile(t, filepath.Join(dir, "inside.txt"), "inside")
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escapedir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside.txt", filepath.Join(dir, "alias.txt")); err != nil {
		t.Fatal(err)
	}
	base, _ := startServer(t, Config{Dir: dir})

	raw := []struct{ method, target string }{
		{"GET", "/../outside/secret.txt"},
		{"GET", "/%2e%2e/outside/secret.txt"},
		{"GET", "/%2E%2E%2Foutside%2Fsecret.txt"},
		{"GET", "/sub/../../outside/secret.txt"},
		{"GET", "/..%5coutside%5csecret.txt"},
		{"PUT", "/../outside/new.txt"},
		{"PUT", "/%2e%2e/outside/new.txt"},
		{"DELETE", "/../outside/secret.txt"},
		{"DELETE", "/%2e%2e/outside/secret.txt"},
	}
	for _, r := range raw {
		if code := rawRequest(t, base, r.method, r.target); code != http.StatusBadRequest {
			t.Errorf("%s %s = %d, want 400", r.method, r.target, code)
		}
	}

	symlinks := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/escape.txt", "", 403},
		{"GET", "/escapedir/secret.txt", "", 403},
		{"PUT", "/escapedir/new.txt", "pwned", 403},
		{"PUT", "/escapedir/sub/new.txt", "pwned", 403},
		{"DELETE", "/escapedir/secret.txt", "", 403},
		{"GET", "/alias.txt", "", 200}, // a symlink that stays inside is fine
	}
	for _, s := range symlinks {
		code, body := do(t, s.method, base+s.path, s.body)
		if code != s.status || strings.Contains(body, "TOP SECRET") {
			t.Errorf("%s %s = %d %q, want %d", s.method, s.path, code, body, s.status)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret.txt")); err != nil || string(b) != "TOP SECRET" {
		t.Fatalf("outside file changed: %q %v", b, err)
	}
	for _, p := range []string{"new.txt", "sub"} {
		if _, err := os.Stat(filepath.Join(outside, p)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s created outside the workspace", p)
		}
	}
}

type received struct {
	auth string
	raw  map[string]any
	rep  report
}

func TestActivityReports(t *testing.T) {
	t.Parallel()
	got := make(chan received, 100)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rec received
		rec.auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &rec.raw)
		json.Unmarshal(b, &rec.rep)
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/environments/env-1/activity" {
			t.Errorf("report sent as %s %s", r.Method, r.URL.Path)
		}
		got <- rec
		w.WriteHeader(http.StatusOK)
	}))
	defer api.Close()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), "a")
	base, stop := startServer(t, Config{
		Dir:           dir,
		ActivityURL:   api.URL + "/api/v1/environments/env-1/activity",
		ActivityToken: "act-token-123",
		ReportEvery:   50 * time.Millisecond,
	})

	// wait returns the first report satisfying ok, within a generous deadline.
	wait := func(what string, ok func(received) bool) received {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case r := <-got:
				if r.auth != "Bearer act-token-123" {
					t.Fatalf("Authorization = %q", r.auth)
				}
				if ok(r) {
					return r
				}
			case <-deadline:
				t.Fatalf("no report with %s", what)
			}
		}
	}

	first := wait("no activity yet", func(r received) bool { return true })
	snap, _ := first.raw["snapshot"].(map[string]any)
	if _, has := snap["lastIDEActivity"]; has {
		t.Fatalf("lastIDEActivity reported before any request: %v", first.raw)
	}
	if v, has := snap["lastSSHActivity"]; !has || v != nil {
		t.Fatalf("lastSSHActivity = %v (present %v), want null", v, has)
	}
	if _, err := time.Parse(time.RFC3339, first.raw["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}

	// Health probes are not activity.
	do(t, "GET", base+"/healthz", "")
	before := time.Now().Add(-time.Second)
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get(base + "/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // the keep-alive connection stays open: one active IDE connection

	r := wait("IDE activity and a connection", func(r received) bool {
		return r.rep.Snapshot.LastIDEActivity != nil && r.rep.Snapshot.ActiveIDEConnections == 1
	})
	if r.rep.Snapshot.LastIDEActivity.Before(before) || r.rep.Snapshot.ActiveSSHConnections != 0 {
		t.Fatalf("snapshot = %+v", r.rep.Snapshot)
	}

	client.CloseIdleConnections()
	wait("connection gone", func(r received) bool {
		return r.rep.Snapshot.ActiveIDEConnections == 0 && r.rep.Snapshot.LastIDEActivity != nil
	})

	// A last report goes out at shutdown.
	stop()
	for len(got) > 0 {
		<-got
	}
	select {
	case <-got:
		t.Fatal("report after Serve returned")
	default:
	}
}

func TestReportErrorsDoNotLeakToken(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusUnauthorized)
	}))
	defer api.Close()
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	_, stop := startServer(t, Config{
		Dir: t.TempDir(), ActivityURL: api.URL, ActivityToken: "act-token-456",
		ReportEvery: 20 * time.Millisecond, Logger: logger,
	})
	testutil.Eventually(t, testutil.Process, "the failed report logged", func() (bool, string) {
		return strings.Contains(logs.String(), "401"), logs.String()
	})
	stop()
	if strings.Contains(logs.String(), "act-token-456") {
		t.Fatal("token in logs")
	}
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	if err := Run(context.Background(), Config{Addr: "", Dir: t.TempDir()}); err == nil {
		t.Fatal("Run without Addr succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := Serve(context.Background(), ln, Config{}); err == nil {
		t.Fatal("Serve without Dir succeeded")
	}
}

func TestReportAtShutdown(t *testing.T) {
	t.Parallel()
	got := make(chan report, 10)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report
		json.NewDecoder(r.Body).Decode(&rep)
		got <- rep
	}))
	defer api.Close()
	base, stop := startServer(t, Config{Dir: t.TempDir(), ActivityURL: api.URL, ReportEvery: time.Hour})
	do(t, "GET", base+"/", "")
	stop()
	// At most the start report and the shutdown report; the last one is after shutdown.
	if n := len(got); n < 1 || n > 2 {
		t.Fatalf("%d reports, want the shutdown report (and maybe the first one)", n)
	}
	var last report
	for len(got) > 0 {
		last = <-got
	}
	if last.Snapshot.LastIDEActivity == nil || last.Snapshot.ActiveIDEConnections != 0 {
		t.Fatalf("shutdown snapshot = %+v", last.Snapshot)
	}
}

// TestPassword: with a password, every request but /healthz needs it.
func TestPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Config{Dir: dir, Password: "s3cret-pass"}) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct {
		path, user, pass string
		want             int
	}{
		{"/healthz", "", "", 200},
		{"/", "", "", 401},
		{"/", "dev", "wrong", 401},
		{"/", "dev", "s3cret-pass", 200},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		var resp *http.Response
		testutil.Eventually(t, testutil.Short, "the server answering", func() (bool, string) { // it may still be starting
			resp, err = http.DefaultClient.Do(req)
			return err == nil, fmt.Sprint(err)
		})
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s as %q/%q: %d, want %d", tc.path, tc.user, tc.pass, resp.StatusCode, tc.want)
		}
	}
}

// TestProxySecret: with berth's proxy secret set, a request without it (or
// with a wrong one) is refused before anything is written; /healthz stays
// open for probes.
func TestProxySecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base, _ := startServer(t, Config{Dir: dir, ProxySecret: "the-proxy-secret"})
	for _, tc := range []struct {
		method, path, secret string
		want                 int
	}{
		{"GET", "/healthz", "", 200},
		{"PUT", "/evil.txt", "", 403},
		{"PUT", "/evil.txt", "the-proxy-secreT", 403},
		{"GET", "/", "", 403},
		{"DELETE", "/kept.txt", "", 403},
		{"PUT", "/kept.txt", "the-proxy-secret", 201},
		{"GET", "/kept.txt", "the-proxy-secret", 200},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("pwned"))
		if tc.secret != "" {
			req.Header.Set(ProxySecretHeader, tc.secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.secret, resp.StatusCode, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "evil.txt")); !os.IsNotExist(err) {
		t.Errorf("a request without the secret wrote evil.txt (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.txt")); err != nil {
		t.Errorf("kept.txt: %v (a DELETE without the secret removed it?)", err)
	}
}
