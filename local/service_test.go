package local

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

func TestServiceLifecycle(t *testing.T) {
	t.Setenv("BERTH_SECRET_KEY", "must-not-leak")
	r := newRuntime(t, nil)
	ctx := context.Background()
	ref := berth.ServiceRef{Target: "local", Name: "web"}

	svc := helperService(t, "web", 2, 1)
	apply(t, r, svc)
	st := waitState(t, r, "web", running(2, 1))
	if st.Instances[0].Port == st.Instances[1].Port {
		t.Fatalf("replicas share port %d", st.Instances[0].Port)
	}
	for i, in := range st.Instances {
		want := "web-" + strconv.Itoa(i)
		if in.Name != want || in.StartedAt == nil {
			t.Fatalf("instance %d = %+v, want name %s and a start time", i, in, want)
		}
		checks := map[string]string{
			"PORT":             strconv.Itoa(in.Port),
			"GREETING":         "hello",
			"API_TOKEN":        "s3cret-token",
			"BERTH_SERVICE":    "web",
			"BERTH_REPLICA":    want,
			"BERTH_REVISION":   "1",
			"BERTH_SECRET_KEY": "",
		}
		for k, v := range checks {
			if got := mustGet(t, in.Port, "/env?k="+k); got != v {
				t.Errorf("%s: $%s = %q, want %q", in.Name, k, got, v)
			}
		}
		if p := mustGet(t, in.Port, "/env?k=PORT_ADMIN_API"); p == "" || p == strconv.Itoa(in.Port) {
			t.Errorf("PORT_ADMIN_API = %q", p)
		}
		confDir := mustGet(t, in.Port, "/env?k=BERTH_CONFIG_DIR")
		if b, err := os.ReadFile(filepath.Join(confDir, "app.conf")); err != nil || string(b) != "mode=test\n" {
			t.Errorf("config file: %q, %v", b, err)
		}
		if pid := mustGet(t, in.Port, "/pid"); pid != strconv.Itoa(in.PID) {
			t.Errorf("pid %s answers on port of %d", pid, in.PID)
		}
	}

	// Same revision, replicas and stopped: nothing restarts.
	before := pids(st)
	apply(t, r, helperService(t, "web", 2, 1))
	time.Sleep(200 * time.Millisecond) // give a wrong restart the chance to show
	if got := pids(state(t, r, "web")); !slices.Equal(got, before) {
		t.Fatalf("idempotent apply restarted replicas: %v -> %v", before, got)
	}

	t.Run("scale", func(t *testing.T) {
		if err := r.ScaleService(ctx, ref, 3); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, r, "web", running(3, 1))
		if !slices.Equal(pids(st)[:2], before) {
			t.Fatalf("scale up touched existing replicas: %v -> %v", before, pids(st))
		}
		third := st.Instances[2].PID
		if err := r.ScaleService(ctx, ref, 1); err != nil {
			t.Fatal(err)
		}
		st = waitState(t, r, "web", running(1, 1))
		if st.Instances[0].Name != "web-0" || st.Instances[0].PID != before[0] {
			t.Fatalf("scale down kept %+v, want web-0 pid %d", st.Instances[0], before[0])
		}
		waitGone(t, before[1], third)
		if err := r.ScaleService(ctx, ref, -1); !berth.IsCode(err, berth.EINVALID) {
			t.Fatalf("scale -1: %v", err)
		}
		if err := r.ScaleService(ctx, ref, 2); err != nil {
			t.Fatal(err)
		}
		waitState(t, r, "web", running(2, 1))
	})

	t.Run("stop and start", func(t *testing.T) {
		old := pids(state(t, r, "web"))
		if err := r.StopService(ctx, ref); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, r, "web", func(st *berth.ServiceState) bool {
			return st.Status == berth.ServiceStopped && len(st.Instances) == 0
		})
		if st.Replicas != 2 || !st.Stopped {
			t.Fatalf("stopped state %s", describe(st))
		}
		waitGone(t, old...)
		if err := r.StartService(ctx, ref); err != nil {
			t.Fatal(err)
		}
		waitState(t, r, "web", running(2, 1))
	})

	t.Run("rolling restart", func(t *testing.T) {
		old := pids(state(t, r, "web"))
		var minReady atomic.Int64
		minReady.Store(99)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, err := r.ServiceState(ctx, ref)
				if err == nil && int64(st.ReadyReplicas) < minReady.Load() {
					minReady.Store(int64(st.ReadyReplicas))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		if err := r.RestartService(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if st := state(t, r, "web"); st.Status != berth.ServiceDeploying && st.Status != berth.ServiceRunning {
			t.Errorf("status during restart: %s", describe(st))
		}
		st := waitState(t, r, "web", func(st *berth.ServiceState) bool {
			return running(2, 1)(st) && !slices.Contains(pids(st), old[0]) && !slices.Contains(pids(st), old[1])
		})
		close(stop)
		<-sampled
		if m := minReady.Load(); m < 1 {
			t.Fatalf("ready replicas dropped to %d during a rolling restart of 2", m)
		}
		waitGone(t, old...)
		_ = st
	})

	t.Run("new revision", func(t *testing.T) {
		next := helperService(t, "web", 2, 2)
		next.Spec.Env["GREETING"] = "bonjour"
		apply(t, r, next)
		st := waitState(t, r, "web", running(2, 2))
		for _, in := range st.Instances {
			if got := mustGet(t, in.Port, "/env?k=GREETING"); got != "bonjour" {
				t.Errorf("%s GREETING = %q", in.Name, got)
			}
			if got := mustGet(t, in.Port, "/env?k=BERTH_REVISION"); got != "2" {
				t.Errorf("%s BERTH_REVISION = %q", in.Name, got)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		old := pids(state(t, r, "web"))
		if err := r.DeleteService(ctx, ref); err != nil {
			t.Fatal(err)
		}
		waitGone(t, old...)
		if _, err := os.Stat(r.serviceDir("web")); !os.IsNotExist(err) {
			t.Fatalf("service dir still there: %v", err)
		}
		if _, err := r.ServiceState(ctx, ref); !berth.IsCode(err, berth.ENOTFOUND) {
			t.Fatalf("state after delete: %v", err)
		}
		if err := r.DeleteService(ctx, ref); err != nil {
			t.Fatalf("delete again: %v", err)
		}
		if err := r.ScaleService(ctx, ref, 1); !berth.IsCode(err, berth.ENOTFOUND) {
			t.Fatalf("scale after delete: %v", err)
		}
	})
}

func TestCrashRestartAndInventory(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	ctx := context.Background()
	apply(t, r, helperService(t, "api", 1, 1))
	st := waitState(t, r, "api", running(1, 1))
	first := st.Instances[0].PID

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, r, "api", func(st *berth.ServiceState) bool {
		return running(1, 1)(st) && st.Instances[0].Restarts == 1
	})
	in := st.Instances[0]
	if in.PID == first || in.LastExit != "signal: killed" {
		t.Fatalf("after crash: %+v", in)
	}

	res, err := r.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Type != "process" || res[0].ID != "api-0" || res[0].Details["pid"] != in.PID || res[0].Details["service"] != "api" {
		t.Fatalf("inventory: %+v", res)
	}
	if err := r.DeleteResource(ctx, "process", "api-0"); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, "api", func(st *berth.ServiceState) bool {
		return running(1, 1)(st) && st.Instances[0].Restarts == 2 && st.Instances[0].PID != in.PID
	})
	if err := r.DeleteResource(ctx, "process", "nope-0"); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("delete unknown process: %v", err)
	}
	if err := r.DeleteResource(ctx, "pod", "x"); !berth.IsCode(err, berth.ENOTSUPPORTED) {
		t.Fatalf("delete pod: %v", err)
	}
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	ctx := context.Background()
	tests := []struct {
		name    string
		command []string
		message string
	}{
		{"missing", []string{"/nonexistent/berth-test-cmd"}, "no such file"},
		{"notonpath", []string{"berth-no-such-command-xyz"}, "not found"},
		{"crashloop", []string{"/bin/sh", "-c", "echo boom; exit 1"}, "exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply(t, r, &berth.Service{Name: tt.name, Replicas: 2, Revision: 1, Spec: berth.ServiceSpec{Command: tt.command}})
			st := waitState(t, r, tt.name, func(st *berth.ServiceState) bool { return st.Status == berth.ServiceError })
			if !strings.Contains(st.Message, tt.message) {
				t.Fatalf("message %q, want it to mention %q", st.Message, tt.message)
			}
		})
	}

	if err := r.ApplyService(ctx, &berth.Service{Name: "nocmd", Replicas: 1, Revision: 1}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("apply without command: %v", err)
	}
	if _, err := r.ServiceState(ctx, berth.ServiceRef{Name: "unknown"}); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("state of unknown: %v", err)
	}
	bad := &berth.Service{Name: "bad", Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{
		Command: []string{"/bin/true"}, Config: berth.Config{Files: map[string]string{"../escape": "x"}},
	}}
	if err := r.ApplyService(ctx, bad); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("apply with escaping config file: %v", err)
	}
}

func TestStatusPendingAndScaledToZero(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	apply(t, r, &berth.Service{Name: "zero", Replicas: 0, Revision: 1, Spec: berth.ServiceSpec{Command: []string{"sleep", "60"}}})
	st := state(t, r, "zero")
	if st.Status != berth.ServiceStopped || st.Message != "scaled to 0" {
		t.Fatalf("replicas 0: %s", describe(st))
	}
	// No health check: ready once still running after the settle time.
	apply(t, r, &berth.Service{Name: "zero", Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Command: []string{"sleep", "60"}}})
	waitState(t, r, "zero", running(1, 1))
}

func TestFailedRolloutKeepsOldReplicas(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	apply(t, r, helperService(t, "app", 2, 1))
	st := waitState(t, r, "app", running(2, 1))
	old := pids(st)

	broken := helperService(t, "app", 2, 2)
	broken.Spec.Command = []string{"/bin/sh", "-c", "exit 7"}
	apply(t, r, broken)
	st = waitState(t, r, "app", func(st *berth.ServiceState) bool { return st.Status == berth.ServiceDegraded })
	if !strings.Contains(st.Message, "revision 2") || !strings.Contains(st.Message, "exit status 7") {
		t.Fatalf("message %q", st.Message)
	}
	if got := pids(st); !slices.Equal(got, old) || st.ReadyReplicas != 2 {
		t.Fatalf("old replicas not kept: %s", describe(st))
	}
	for _, pid := range old {
		if !alive(pid) {
			t.Fatalf("old replica %d died", pid)
		}
	}
	// A fixed revision rolls out.
	apply(t, r, helperService(t, "app", 2, 3))
	waitState(t, r, "app", running(2, 3))
}

func TestNewCleansUpLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	start := func() (*os.Process, chan struct{}) {
		t.Helper()
		// A leader with a child in its process group, as a crashed berth leaves.
		p, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "sleep 300 & sleep 300; wait"}, &os.ProcAttr{
			Sys: &syscall.SysProcAttr{Setpgid: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		reaped := make(chan struct{})
		go func() { p.Wait(); close(reaped) }()
		t.Cleanup(func() { syscall.Kill(-p.Pid, syscall.SIGKILL); <-reaped })
		testutil.Eventually(t, testutil.Process, "group of 3", func() (bool, string) {
			n := 0
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				if pid, err := strconv.Atoi(e.Name()); err == nil {
					if st, err := readProcStat(pid); err == nil && st.PGID == p.Pid {
						n++
					}
				}
			}
			return n >= 3, strconv.Itoa(n)
		})
		return p, reaped
	}
	victim, reaped := start()
	bystander, _ := start()
	vst, err := readProcStat(victim.Pid)
	if err != nil {
		t.Fatal(err)
	}
	bst, err := readProcStat(bystander.Pid)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, pid int, startTime uint64) {
		if err := os.WriteFile(filepath.Join(dir, "run", name), []byte(strconv.Itoa(pid)+" "+strconv.FormatUint(startTime, 10)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("web-0.1.pid", victim.Pid, vst.StartTime)
	write("web-1.4.pid", bystander.Pid, bst.StartTime+1) // pid reused by another process
	write("env-x.2.pid", 1<<22+12345, 1)                 // long gone

	r := newRuntime(t, func(c *Config) { c.DataDir = dir })
	_ = r
	<-reaped
	testutil.Eventually(t, testutil.Process, "leftover group gone", func() (bool, string) { return !groupAlive(victim.Pid), "alive" })
	if !alive(bystander.Pid) || !groupAlive(bystander.Pid) {
		t.Fatal("a process whose start time differs was killed")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "run", "*.pid")); len(files) != 0 {
		t.Fatalf("pid files left: %v", files)
	}
}

func TestPidFileWhileRunning(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	apply(t, r, &berth.Service{Name: "pf", Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Command: []string{"sleep", "60"}}})
	st := waitState(t, r, "pf", running(1, 1))
	files, _ := filepath.Glob(filepath.Join(r.runDir(), "svc.pf-0.*.pid"))
	if len(files) != 1 {
		t.Fatalf("pid files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(b), strconv.Itoa(st.Instances[0].PID)+" ") {
		t.Fatalf("pid file %q for pid %d", b, st.Instances[0].PID)
	}
	if err := r.StopService(context.Background(), berth.ServiceRef{Name: "pf"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Process, "pid file removed", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(r.runDir(), "*.pid"))
		return len(files) == 0, strings.Join(files, ",")
	})
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	line := "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 987654 1000000 250 18446744073709551615"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.PGID != 4242 || st.UTime != 7 || st.STime != 3 || st.StartTime != 987654 || st.RSSPages != 250 {
		t.Fatalf("parsed %+v", st)
	}
	if _, err := parseProcStat("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestDegradedWhileBackingOff(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, func(c *Config) { c.BackoffBase = time.Second })
	apply(t, r, helperService(t, "deg", 2, 1))
	st := waitState(t, r, "deg", running(2, 1))
	if _, err := get(st.Instances[1].Port, "/crash"); err == nil {
		t.Fatal("crash request answered")
	}
	st = waitState(t, r, "deg", func(st *berth.ServiceState) bool {
		return st.Status == berth.ServiceDegraded && st.Instances[1].State == "backoff"
	})
	if st.ReadyReplicas != 1 || st.Instances[1].LastExit != "exit status 3" || !strings.Contains(st.Message, "1 of 2") {
		t.Fatalf("degraded state: %s", describe(st))
	}
	waitState(t, r, "deg", func(st *berth.ServiceState) bool {
		return running(2, 1)(st) && st.Instances[1].Restarts == 1
	})
}
