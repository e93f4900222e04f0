package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// reachableBinary copies the test binary (it doubles as berth's shim, see
// TestMain) where other uids may execute it: go test's build dir is 0700.
func reachableBinary(t *testing.T) (bin, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-local-iso-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(testBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin = filepath.Join(dir, "berth")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func owner(t *testing.T, path string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode().Perm()
}

// TestIsolatedWorkloads: with berth as root and a uid store, a service runs
// as its owner's uid (gid the same, no groups, no_new_privs) with HOME in
// its own directory and its config readable; an ownerless service gets a
// uid of its own; an environment from before isolation keeps its workspace,
// moved to the workload dir and given to its user's uid; stop/start keeps
// it; a new runtime on the same store (berth restarted) uses the same uids.
func TestIsolatedWorkloads(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("berth switches uids only as root; TestSingleTenantTarget in core covers the other case")
	}
	bin, dir := reachableBinary(t)
	st := storetest.Open(t, store.SQLite, nil)
	wdir := filepath.Join(dir, "workloads")
	dataDir := t.TempDir()
	mk := func() *Runtime {
		return newRuntime(t, func(c *Config) {
			c.DataDir, c.WorkloadDir, c.BerthBinary, c.UIDs = dataDir, wdir, bin, st
			c.UIDMin, c.UIDMax = 1_950_000_000, 1_950_000_099
			c.Templates = map[string]Template{"default": {Command: []string{"sleep", "60"}}}
		})
	}
	r := mk()
	ctx := context.Background()

	// An environment's workspace as an older berth left it: in the data dir, root's.
	oldWS := filepath.Join(dataDir, "environments", "env-old", "workspace")
	if err := os.MkdirAll(filepath.Join(oldWS, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(oldWS, "src", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := `echo "uid=$(id -u) groups=$(id -G) home=$HOME"; cat "$BERTH_CONFIG_DIR/app.conf"; touch "$HOME/written"; exec sleep 60`
	svc := func(name, owner string) *berth.Service {
		return &berth.Service{Name: name, Target: "local", Replicas: 1, Revision: 1, Owner: owner,
			Spec: berth.ServiceSpec{Command: []string{"sh", "-c", cmd}, Config: berth.Config{Files: map[string]string{"app.conf": "mode=isolated\n"}}}}
	}
	apply(t, r, svc("mine", "usr-a"))
	apply(t, r, svc("legacy", ""))
	env := &berth.Environment{ID: "env-old", UserID: "usr-a"}
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	uidA, err := st.WorkloadUID(ctx, "usr-a", 1_950_000_000, 1_950_000_099)
	if err != nil {
		t.Fatal(err)
	}
	uidUnowned, err := st.WorkloadUID(ctx, UnownedKey, 1_950_000_000, 1_950_000_099)
	if err != nil || uidUnowned == uidA {
		t.Fatalf("unowned services' uid %d (%v) is not their own (A has %d)", uidUnowned, err, uidA)
	}

	check := func(name string, uid uint32) {
		t.Helper()
		pid := pids(waitState(t, r, name, running(1, 1)))[0]
		want := strconv.Itoa(int(uid))
		testutil.Eventually(t, testutil.Process, name+" past the shim", func() (bool, string) {
			nnp := statusField(t, pid, "NoNewPrivs")
			return nnp == "1", nnp
		})
		if got := statusField(t, pid, "Uid"); got != strings.Repeat(want+" ", 3)+want {
			t.Errorf("%s Uid: %q, want %s", name, got, want)
		}
		if got := statusField(t, pid, "Gid"); got != strings.Repeat(want+" ", 3)+want {
			t.Errorf("%s Gid: %q, want %s", name, got, want)
		}
		if got := statusField(t, pid, "Groups"); got != "" {
			t.Errorf("%s Groups: %q, want none", name, got)
		}
		home := filepath.Join(wdir, "services", name, "home")
		var lines []string
		testutil.Eventually(t, testutil.Process, name+" output", func() (bool, string) {
			lines = nil
			r.ServiceLogs(ctx, berth.ServiceRef{Target: "local", Name: name}, berth.LogOptions{}, func(l berth.LogLine) error {
				lines = append(lines, l.Line)
				return nil
			})
			return len(lines) >= 2, strings.Join(lines, "|")
		})
		if want := fmt.Sprintf("uid=%d groups=%d home=%s", uid, uid, home); lines[0] != want || lines[1] != "mode=isolated" {
			t.Errorf("%s printed %q, want %q and its config", name, lines, want)
		}
		for _, d := range []string{"home", "work"} {
			if u, g, m := owner(t, filepath.Join(wdir, "services", name, d)); u != uid || g != uid || m != 0o700 {
				t.Errorf("%s/%s: %d:%d %04o, want %d:%d 0700", name, d, u, g, m, uid, uid)
			}
		}
		if u, g, m := owner(t, filepath.Join(wdir, "services", name, "config", "1", "app.conf")); u != 0 || g != uid || m != 0o640 {
			t.Errorf("%s config file: %d:%d %04o, want 0:%d 0640 (read-only to the workload)", name, u, g, m, uid)
		}
		if u, _, _ := owner(t, filepath.Join(home, "written")); u != uid {
			t.Errorf("%s wrote its home as %d", name, u)
		}
	}
	check("mine", uidA)
	check("legacy", uidUnowned)

	ws := filepath.Join(wdir, "environments", "env-old", "workspace")
	for _, p := range []string{ws, filepath.Join(ws, "src"), filepath.Join(ws, "src", "main.go")} {
		if u, g, _ := owner(t, p); u != uidA || g != uidA {
			t.Errorf("%s: %d:%d after the first start, want A's %d", p, u, g, uidA)
		}
	}
	if _, err := os.Lstat(oldWS); !os.IsNotExist(err) {
		t.Errorf("the old workspace is still in the data dir: %v", err)
	}
	if err := r.StopEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := r.StartEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "src", "main.go")); err != nil || string(b) != "package main\n" {
		t.Errorf("workspace after stop/start: %q %v", b, err)
	}

	// berth restarted: a new runtime on the same store and directories.
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r = mk()
	apply(t, r, svc("mine", "usr-a"))
	check("mine", uidA)
}
