// Package e2e drives the real berth binary over HTTP, with real child
// processes and both stores, and checks effects from outside berth.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/internal/testutil"
)

var (
	berthBin string
	e2eDir   string // 0755: what berth's isolated workloads must reach lives here
	pg       *pgtest.Server
	pgOnce   sync.Once
	pgErr    error
)

const adminPassword = "e2e-admin-password"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// As root, berth runs workloads as other uids: they execute berth itself
	// (its no_new_privs shim, `berth workspace`) and enter their workload
	// directories below here, so this directory is not private.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e2eDir = dir
	berthBin = filepath.Join(dir, "berth")
	if prebuilt := os.Getenv("BERTH_E2E_BIN"); prebuilt != "" { // a binary built by make, to save a build
		// Copied here: isolated workloads execute berth (its shim, `berth
		// workspace`), and the checkout may lie below a directory other
		// users cannot enter (/root is 0700).
		if err := copyExecutable(prebuilt, berthBin); err != nil {
			fmt.Fprintln(os.Stderr, "copy berth:", err)
			os.Exit(1)
		}
	} else {
		build := exec.Command("go", "build", "-o", berthBin, "../cmd/berth")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build berth:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// postgresURL returns a fresh database on the shared test server.
func postgresURL(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = pgtest.Start() })
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI (apt-get install postgresql): %v", pgErr)
		}
		t.Skipf("PostgreSQL not available: %v", pgErr)
	}
	return pg.NewDatabase(t)
}

// Berth is one running berth server process.
type Berth struct {
	t       *testing.T
	URL     string
	DataDir string
	DBURL   string
	Env     []string
	cmd     *exec.Cmd
	stderr  *testutil.SyncBuffer
	stdout  *testutil.SyncBuffer
	done    chan struct{}
	token   string
	cred    *syscall.Credential // nil: berth runs as the test (root)
}

// StartBerth starts berth on a free port with a new data dir (or the given one).
func StartBerth(t *testing.T, dataDir, dbURL string, extraEnv ...string) *Berth {
	t.Helper()
	return startBerthAs(t, nil, dataDir, dbURL, extraEnv...)
}

// startBerthAs is StartBerth with berth running as cred's user.
func startBerthAs(t *testing.T, cred *syscall.Credential, dataDir, dbURL string, extraEnv ...string) *Berth {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	b := &Berth{t: t, DataDir: dataDir, DBURL: dbURL, cred: cred}
	b.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8",
		"BERTH_ADMIN_PASSWORD=" + adminPassword, "BERTH_RATE_LIMIT=-1", "BERTH_SYNC_INTERVAL=200ms",
		"BERTH_LOG_LEVEL=debug",
	}
	if dbURL != "" {
		b.Env = append(b.Env, "BERTH_DATABASE_URL="+dbURL)
	}
	b.Env = append(b.Env, "BERTH_WORKLOAD_DIR="+workloadDirFor(dataDir))
	b.Env = append(b.Env, extraEnv...)
	b.start()
	t.Cleanup(b.Stop)
	return b
}

// workloadDirFor is where the berth of dataDir keeps its workloads'
// directories: reachable by their uids (t.TempDir is not), and the same for
// every berth started on that data dir.
func workloadDirFor(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(e2eDir, "workloads-"+hex.EncodeToString(sum[:6]))
}

var runningAt = regexp.MustCompile(`is running at (http://\S+)`)

func (b *Berth) start() {
	t := b.t
	t.Helper()
	cmd := exec.Command(berthBin, "serve", "--listen", "127.0.0.1:0", "--data-dir", b.DataDir)
	cmd.Env = b.Env
	cmd.Dir = b.DataDir
	if b.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred}
	}
	// The goroutines below keep this run's buffers: a Restart replaces the
	// fields while the old run's reader may still be draining its pipe.
	stdout := &testutil.SyncBuffer{}
	b.stderr, b.stdout = &testutil.SyncBuffer{}, stdout
	cmd.Stderr = b.stderr
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start berth: %v", err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); pw.Close(); close(b.done) }()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stdout.Write([]byte(line + "\n"))
			if m := runningAt.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case b.URL = <-urlc:
	case <-b.done:
		t.Fatalf("berth exited before it was ready:\n%s", b.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("berth not ready after 60s:\n%s", b.stderr.String())
	}
	b.token = ""
}

// Stop ends berth gracefully (SIGTERM) and waits.
func (b *Berth) Stop() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(45 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		b.t.Errorf("berth did not stop within 45s of SIGTERM")
	}
}

// Kill ends berth with SIGKILL, as a crash would.
func (b *Berth) Kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

// Restart starts berth again on the same data dir and database.
func (b *Berth) Restart() {
	b.start()
}

// Token logs in as admin once and caches the session token.
func (b *Berth) Token() string {
	if b.token == "" {
		b.token = b.Login("admin", adminPassword)
	}
	return b.token
}

// Login returns a session token.
func (b *Berth) Login(user, password string) string {
	b.t.Helper()
	code, raw := b.DoRaw("", "POST", "/api/v1/auth/login", api.LoginRequest{Username: user, Password: password})
	if code != 200 {
		b.t.Fatalf("login %s: %d %s", user, code, raw)
	}
	var res api.LoginResult
	if err := json.Unmarshal(raw, &res); err != nil || res.Token == "" {
		b.t.Fatalf("login %s: %v: %s", user, err, raw)
	}
	return res.Token
}

// Do sends a JSON request and decodes a JSON object answer.
func (b *Berth) Do(token, method, path string, body any) (int, map[string]any) {
	b.t.Helper()
	code, raw := b.DoRaw(token, method, path, body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			b.t.Fatalf("%s %s: answer is not a JSON object (%d): %s", method, path, code, raw)
		}
	}
	return code, m
}

// DoRaw sends a request and returns the raw answer.
func (b *Berth) DoRaw(token, method, path string, body any) (int, []byte) {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		j, _ := json.Marshal(v)
		rd = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, b.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// MustDo is Do that fails the test unless the status is want.
func (b *Berth) MustDo(want int, method, path string, body any) map[string]any {
	b.t.Helper()
	code, m := b.Do(b.Token(), method, path, body)
	if code != want {
		b.t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, m)
	}
	return m
}

// Eventually polls cond until it holds or the deadline passes, then fails
// with the last state cond described (testutil's, under e2e's name).
var Eventually = testutil.Eventually

// processesOf finds live processes whose environment says they are a replica
// of service (BERTH_SERVICE=name), by reading /proc: the view from outside berth.
// copyExecutable copies the binary at src to dst, 0755.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func processesOf(service string) []int {
	return findProcs("BERTH_SERVICE=" + service)
}

func processesOfEnv(id string) []int {
	return findProcs("BERTH_ENVIRONMENT_ID=" + id)
}

func findProcs(envEntry string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// A zombie (state Z) is not a running process, but it is a defect
		// of its parent: report it so tests see it.
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' && bytes.Contains(stat, []byte("(")) {
				continue
			}
			continue
		}
		// Only this test binary's workloads: their directories (HOME,
		// BERTH_CONFIG_DIR) are below e2eDir; another test run on the
		// machine may run a "web" too.
		mine, match := false, false
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if string(kv) == envEntry {
				match = true
			}
			if bytes.Contains(kv, []byte(e2eDir+"/")) {
				mine = true
			}
		}
		// A process still in berth's no_new_privs shim is about to become
		// the workload (same pid, exec): not yet a replica.
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cl, []byte("\x00__berth-exec\x00")) {
			continue
		}
		if match && mine {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombies lists zombie children of pid.
func zombies(parent int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(parent) {
			out = append(out, pid)
		}
	}
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func num(m map[string]any, path ...string) int {
	n, _ := strconv.Atoi(str(m, path...))
	return n
}

// doAs sends a JSON request with token and decodes the answer into T,
// strictly: a field the answer has and T lacks fails the test, so the
// server, package api and these tests cannot drift apart. Decode error
// answers into api.Error.
func doAs[T any](b *Berth, token, method, path string, body any) (int, T) {
	b.t.Helper()
	code, raw := b.DoRaw(token, method, path, body)
	var out T
	if len(bytes.TrimSpace(raw)) == 0 {
		return code, out
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		b.t.Fatalf("%s %s: answer (%d) does not decode into %T: %v: %.500s", method, path, code, out, err, raw)
	}
	return code, out
}

// tryDo is doAs for answers that may be errors: the body decodes (strictly)
// into T only on a 2xx status; raw is the answer either way.
func tryDo[T any](b *Berth, token, method, path string, body any) (int, T, []byte) {
	b.t.Helper()
	code, raw := b.DoRaw(token, method, path, body)
	var out T
	if code/100 != 2 || len(bytes.TrimSpace(raw)) == 0 {
		return code, out, raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		b.t.Fatalf("%s %s: answer (%d) does not decode into %T: %v: %.500s", method, path, code, out, err, raw)
	}
	return code, out, raw
}

// mustDo is doAs with the admin's token that fails the test unless the
// status is want.
func mustDo[T any](b *Berth, want int, method, path string, body any) T {
	b.t.Helper()
	code, raw := b.DoRaw(b.Token(), method, path, body)
	if code != want {
		b.t.Fatalf("%s %s: status %d, want %d: %.500s", method, path, code, want, raw)
	}
	var out T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		b.t.Fatalf("%s %s: answer does not decode into %T: %v: %.500s", method, path, out, err, raw)
	}
	return out
}

// getJSON reads path as the admin into T (status 200).
func getJSON[T any](b *Berth, path string) T {
	b.t.Helper()
	return mustDo[T](b, http.StatusOK, "GET", path, nil)
}
