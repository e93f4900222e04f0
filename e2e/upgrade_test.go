package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/internal/toolcache"
)

// TestRefuseNewerSchema: berth refuses to start on a database that records
// a migration it does not carry, saying what to do, and leaves it alone.
func TestRefuseNewerSchema(t *testing.T) {
	b := StartBerth(t, "", "")
	b.Stop()
	db, err := sql.Open("sqlite", filepath.Join(b.DataDir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_from_the_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, errOut, err := runBerthCmd(t, []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}, "serve", "--listen", "127.0.0.1:0", "--data-dir", b.DataDir)
	if err == nil || !strings.Contains(errOut, "newer berth") || !strings.Contains(errOut, "9999_from_the_future.sql") {
		t.Fatalf("serve on a newer schema: err %v\n%s", err, errOut)
	}
}

// TestRollingUpgrade: the berth of the commit before the newest schema
// change (built from git history) and this berth serve one PostgreSQL
// database together, as in a rolling upgrade: the old one migrates first,
// this one adds its migrations while the old one runs, and each sees what
// the other writes. (Binaries from this one on refuse to start on a schema
// newer than they know: TestRefuseNewerSchema; the old one predates that.)
func TestRollingUpgrade(t *testing.T) {
	pg := postgresURL(t)
	old := previousSchemaBinary(t)
	oldDir := t.TempDir()
	ob := startBinary(t, old, oldDir, pg)
	code, body := ob.get("/api/v1/services")
	if code != 200 {
		t.Fatalf("old berth: GET /api/v1/services: %d %s", code, body)
	}
	ob.put("/api/v1/services/from-old", `{"command": ["sleep", "3600"], "replicas": 0}`)

	// The new replica: its own data dir, the same database and secret key.
	nb := StartBerth(t, "", pg, "BERTH_SECRET_KEY="+keyOf(t, oldDir))
	nb.MustDo(201, "PUT", "/api/v1/services/from-new", map[string]any{"command": []string{"sleep", "3600"}, "replicas": 0})
	testutil.Eventually(t, 20*time.Second, "both serve, each listing the other's service", func() (bool, string) {
		_, oldList := ob.get("/api/v1/services")
		_, newList := nb.DoRaw(nb.Token(), "GET", "/api/v1/services", nil)
		ok := strings.Contains(oldList, "from-new") && strings.Contains(string(newList), "from-old")
		return ok, fmt.Sprintf("old: %.200s new: %.200s", oldList, newList)
	})
	if code, _ := ob.get("/readyz"); code != 200 {
		t.Errorf("old berth /readyz: %d after the new one migrated", code)
	}
}

func keyOf(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 32 {
		return fmt.Sprintf("%x", b)
	}
	return strings.TrimSpace(string(b))
}

// previousSchemaBinary builds (once per commit, cached under berth's tool
// cache) berth as of the commit before the newest one that added a
// migration, along the first-parent history (on main: the main before the
// merge that brought the migration, a commit that passed CI).
func previousSchemaBinary(t *testing.T) string {
	t.Helper()
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("git %v: %v (CI needs the full history)", args, err)
			}
			t.Skipf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	added := strings.Fields(git("log", "--first-parent", "-m", "--diff-filter=A", "--format=%H", "-n1", "--", "../store/migrations/"))
	if len(added) == 0 {
		t.Skip("no migration in the history")
	}
	return binaryAt(t, git("rev-parse", added[0]+"^"))
}

// binaryAt builds (once per commit, cached under berth's tool cache) berth
// as of commit.
func binaryAt(t *testing.T, commit string) string {
	t.Helper()
	cache, err := toolcache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "berth-"+commit[:12])
	bin := filepath.Join(dir, "berth")
	if toolcache.IsExec(bin) {
		return bin
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	unlock, err := toolcache.Lock(filepath.Join(dir, ".build.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if toolcache.IsExec(bin) {
		return bin
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive "$1" | tar -x -C "$2"`, "sh", commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	build := exec.Command("go", "build", "-o", bin+".build", "./cmd/berth")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if err := toolcache.Build(build, testWriter{t}); err != nil {
		t.Fatalf("build berth %s: %v", commit[:12], err)
	}
	if err := os.Rename(bin+".build", bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built berth %s", commit[:12])
	return bin
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// oldBerth is a berth of another binary, driven with plain HTTP.
type oldBerth struct {
	t     *testing.T
	url   string
	token string
	cmd   *exec.Cmd
	done  chan struct{}
}

var runningAtOld = regexp.MustCompile(`is running at (http://\S+)`)

func startBinary(t *testing.T, bin, dataDir, dbURL string) *oldBerth {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir) // #nosec G204 -- the test's own build
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "BERTH_DATABASE_URL=" + dbURL,
		"BERTH_ADMIN_PASSWORD=" + adminPassword, "BERTH_RATE_LIMIT=-1", "BERTH_WORKLOAD_DIR=" + workloadDirFor(dataDir)}
	cmd.Dir = dataDir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &oldBerth{t: t, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); pw.Close(); close(b.done) }()
	urlc := make(chan string, 1)
	log := &testutil.SyncBuffer{}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if m := runningAtOld.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case b.url = <-urlc:
	case <-b.done:
		t.Fatalf("old berth exited: %s", log.String())
	case <-time.After(60 * time.Second):
		t.Fatal("old berth not ready after 60s")
	}
	t.Cleanup(b.stop)
	b.token = b.login()
	return b
}

func (b *oldBerth) login() string {
	code, body := b.do("POST", "/api/v1/auth/login", fmt.Sprintf(`{"username":"admin","password":%q}`, adminPassword))
	m := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		b.t.Fatalf("old berth login: %d %s", code, body)
	}
	return m[1]
}

func (b *oldBerth) get(path string) (int, string) { return b.do("GET", path, "") }

func (b *oldBerth) put(path, body string) {
	if code, out := b.do("PUT", path, body); code/100 != 2 {
		b.t.Fatalf("old berth PUT %s: %d %s", path, code, out)
	}
}

func (b *oldBerth) do(method, path, body string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, b.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (b *oldBerth) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = syscall.Kill(b.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
}
