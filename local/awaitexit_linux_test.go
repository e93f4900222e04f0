package local

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
)

// awaitExit returns only once the child has exited, leaves it to Wait to
// reap (a zombie in /proc until then, its exit status intact), and returns
// for a child that exited before it was called.
func TestAwaitExit(t *testing.T) {
	t.Parallel()
	state := func(pid int) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return "gone"
		}
		s := string(b)
		return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
	}
	cmd := exec.Command("sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan struct{})
	go func() { awaitExit(cmd.Process); close(done) }()
	pid := cmd.Process.Pid
	testutil.Eventually(t, testutil.Process, "sleep running", func() (bool, string) {
		return state(pid) == "S", state(pid)
	})
	select {
	case <-done:
		t.Fatalf("awaitExit returned while %d runs (state %s)", pid, state(pid))
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testutil.Process):
		t.Fatalf("awaitExit did not return after %d exited (state %s)", pid, state(pid))
	}
	if s := state(pid); s != "Z" {
		t.Errorf("after awaitExit, %d is %s in /proc, want Z (exited, not reaped)", pid, s)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("Wait after awaitExit: %v, want killed by SIGTERM", err)
	}

	// Exited before awaitExit asks: it returns at once.
	quick := exec.Command("true")
	if err := quick.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Process, "true exited", func() (bool, string) {
		return state(quick.Process.Pid) == "Z", state(quick.Process.Pid)
	})
	returned := make(chan struct{})
	go func() { awaitExit(quick.Process); close(returned) }()
	select {
	case <-returned:
	case <-time.After(testutil.Process):
		t.Fatal("awaitExit of a process that had exited did not return")
	}
	if err := quick.Wait(); err != nil {
		t.Errorf("Wait of true: %v", err)
	}
}
