package local

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
)

// TestDriftPidFileAndKilledProcess: a replica's pid file removed from
// outside is reported as drift and written again by ApplyService (same
// pid, same start time); a replica killed from outside comes back under
// its supervisor with a pid file of its own; a service this runtime does
// not run is reported. Without the repair, the pid file stayed gone and a
// berth restarted after a crash could not kill the replica it left.
func TestDriftPidFileAndKilledProcess(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, nil)
	ctx := context.Background()
	svc := &berth.Service{Name: "pf", Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Command: []string{"sleep", "60"}}}
	apply(t, r, svc)
	st := waitState(t, r, "pf", running(1, 1))
	pid := st.Instances[0].PID
	pidFile := func() (string, string) {
		files, _ := filepath.Glob(filepath.Join(r.runDir(), "svc.pf-0.*.pid"))
		if len(files) != 1 {
			return "", ""
		}
		b, _ := os.ReadFile(files[0])
		return files[0], string(b)
	}
	path, before := pidFile()
	if !strings.HasPrefix(before, strconv.Itoa(pid)+" ") {
		t.Fatalf("pid file %q for pid %d", before, pid)
	}
	if drift, err := r.ServiceDrift(ctx, svc); err != nil || len(drift) != 0 {
		t.Fatalf("drift of a service as applied: %v %v", drift, err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	drift, err := r.ServiceDrift(ctx, svc)
	if err != nil || len(drift) != 1 || !strings.Contains(drift[0], "pid file") {
		t.Fatalf("drift after the pid file was removed: %v %v, want the pid file named", drift, err)
	}
	apply(t, r, svc)
	if _, after := pidFile(); after != before {
		t.Fatalf("pid file after apply %q, want %q again", after, before)
	}
	if drift, err := r.ServiceDrift(ctx, svc); err != nil || len(drift) != 0 {
		t.Fatalf("drift after the repair: %v %v", drift, err)
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, r, "pf", func(st *berth.ServiceState) bool {
		return running(1, 1)(st) && st.Instances[0].PID != pid
	})
	testutil.Eventually(t, testutil.Process, "the new process's pid file", func() (bool, string) {
		_, b := pidFile()
		return strings.HasPrefix(b, strconv.Itoa(st.Instances[0].PID)+" "), b
	})
	if alive(pid) {
		t.Errorf("killed pid %d still alive", pid)
	}

	other := &berth.Service{Name: "elsewhere", Replicas: 1, Revision: 1}
	if drift, err := r.ServiceDrift(ctx, other); err != nil || len(drift) != 1 {
		t.Errorf("drift of a service not run here: %v %v, want it reported", drift, err)
	}
}

// TestEnvironmentDriftPidFile: a running workspace whose pid file was
// removed is drift, and ApplyEnvironment writes the file again without
// restarting the process; a stopped environment reports none, one this
// runtime does not run is reported.
func TestEnvironmentDriftPidFile(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, func(c *Config) {
		c.Templates = map[string]Template{"default": {
			Command: []string{testBinary(t)}, Env: map[string]string{"BERTH_LOCAL_HELPER": "server"},
		}}
	})
	ctx := context.Background()
	env := &berth.Environment{ID: "env-drift1", Name: "dev"}
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	waitEnv(t, r, env, berth.EnvRunning)
	pid := envPID(t, r, env.ID)
	var path string
	testutil.Eventually(t, testutil.Process, "the workspace's pid file", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(r.runDir(), "env."+env.ID+".*.pid"))
		if len(files) == 1 {
			path = files[0]
		}
		return len(files) == 1, strings.Join(files, ",")
	})
	if drift, err := r.EnvironmentDrift(ctx, env); err != nil || len(drift) != 0 {
		t.Fatalf("drift of a running workspace: %v %v", drift, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if drift, err := r.EnvironmentDrift(ctx, env); err != nil || len(drift) != 1 {
		t.Fatalf("drift after the pid file was removed: %v %v, want 1", drift, err)
	}
	if _, err := r.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), strconv.Itoa(pid)+" ") {
		t.Fatalf("pid file after apply: %q %v, want pid %d", b, err, pid)
	}
	if got := envPID(t, r, env.ID); got != pid {
		t.Errorf("the repair restarted the workspace: pid %d -> %d", pid, got)
	}
	stopped := *env
	stopped.Stopped = true
	if drift, err := r.EnvironmentDrift(ctx, &stopped); err != nil || len(drift) != 0 {
		t.Errorf("drift of a stopped environment: %v %v", drift, err)
	}
	if drift, err := r.EnvironmentDrift(ctx, &berth.Environment{ID: "env-other1"}); err != nil || len(drift) != 1 {
		t.Errorf("drift of an environment not run here: %v %v, want it reported", drift, err)
	}
}
