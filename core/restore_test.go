package core_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestOperateBeforeRestore: a replica that has just started answers
// requests before its reconcile loop has restored the stored services to
// its local runtime. Scaling, stopping, starting or restarting such a
// service applies its whole stored state (bench-chaos saw scales of
// existing services answered 404 right after a restart); the processes in
// /proc follow.
func TestOperateBeforeRestore(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{store.SQLite, store.Postgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, nil)
			marker := "restore-" + kind + "-" + strconv.Itoa(os.Getpid())
			replica := func() (*core.Core, *local.Runtime) {
				rt, err := local.New(local.Config{Name: "host", DataDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rt.Close(context.Background()) })
				c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}})
				if err != nil {
					t.Fatal(err)
				}
				return c, rt
			}
			ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
			one := 1
			spec := berth.ServiceSpec{Target: "host", Command: []string{"/bin/sh", "-c", "exec sleep 600"},
				Env: map[string]string{"BERTH_TEST_MARKER": marker}, Replicas: &one}
			first, firstRT := replica()
			for _, name := range []string{"scaled", "stopped", "started", "restarted"} {
				if _, _, err := first.ApplyService(ctx, name, spec); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := first.StopService(ctx, core.ServiceQuery{Name: "started"}); err != nil {
				t.Fatal(err)
			}
			// That berth is gone with its processes; a new one has started
			// and not restored anything yet (its loops have not run).
			if err := firstRT.Close(ctx); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"scaled", "stopped", "started", "restarted"} {
				if n := countMarked(marker, name); n != 0 {
					t.Fatalf("%s: %d processes after its runtime closed", name, n)
				}
			}
			c, _ := replica()
			ops := []struct {
				name string
				do   func() (*berth.Service, error)
				want int
			}{
				{"scaled", func() (*berth.Service, error) { return c.ScaleService(ctx, core.ServiceQuery{Name: "scaled"}, 2) }, 2},
				{"stopped", func() (*berth.Service, error) { return c.StopService(ctx, core.ServiceQuery{Name: "stopped"}) }, 0},
				{"started", func() (*berth.Service, error) { return c.StartService(ctx, core.ServiceQuery{Name: "started"}) }, 1},
				{"restarted", func() (*berth.Service, error) { return c.RestartService(ctx, core.ServiceQuery{Name: "restarted"}) }, 1},
			}
			for _, op := range ops {
				if _, err := op.do(); err != nil {
					t.Fatalf("%s before the restore: %v", op.name, err)
				}
			}
			for _, op := range ops {
				testutil.Eventually(t, testutil.Process, op.name+" runs its stored replicas in /proc", func() (bool, string) {
					n := countMarked(marker, op.name)
					return n == op.want, strconv.Itoa(n) + " processes, want " + strconv.Itoa(op.want)
				})
			}
		})
	}
}

// countMarked counts the live process group leaders whose environment
// carries marker and whose berth service is name (from /proc).
func countMarked(marker, name string) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			continue
		}
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte("BERTH_TEST_MARKER="+marker+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		if bytes.Contains(env, []byte("BERTH_SERVICE="+name+"\x00")) {
			n++
		}
	}
	return n
}
