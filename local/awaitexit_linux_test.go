package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
)

// An exit watch's wait returns only once the child has exited (or when
// interrupted, saying so, while the child runs on), leaves it to Wait to
// reap (a zombie in /proc until then, its exit status intact), and returns
// for a child that exited before it was called.
func TestWatchExit(t *testing.T) {
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
	w := watchExit(cmd.Process)
	if w == nil {
		t.Fatal("no pidfd for a child")
	}
	defer w.close()
	pid := cmd.Process.Pid
	// Interrupted: the wait returns at once, the child runs on.
	w.interrupt()
	if ok, err := w.wait(); ok || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("interrupted wait = %v, %v; want false, deadline exceeded", ok, err)
	}
	w.until(time.Time{})
	done := make(chan struct{})
	go func() {
		if ok, err := w.wait(); !ok || err != nil {
			t.Errorf("wait = %v, %v; want the exit", ok, err)
		}
		close(done)
	}()
	testutil.Eventually(t, testutil.Process, "sleep running", func() (bool, string) {
		return state(pid) == "S", state(pid)
	})
	select {
	case <-done:
		t.Fatalf("wait returned while %d runs (state %s)", pid, state(pid))
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testutil.Process):
		t.Fatalf("wait did not return after %d exited (state %s)", pid, state(pid))
	}
	if s := state(pid); s != "Z" {
		t.Errorf("after the wait, %d is %s in /proc, want Z (exited, not reaped)", pid, s)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("Wait after the wait: %v, want killed by SIGTERM", err)
	}

	// Exited before the wait asks: it returns at once.
	quick := exec.Command("true")
	if err := quick.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Process, "true exited", func() (bool, string) {
		return state(quick.Process.Pid) == "Z", state(quick.Process.Pid)
	})
	qw := watchExit(quick.Process)
	if qw == nil {
		t.Fatal("no pidfd for an exited child")
	}
	defer qw.close()
	returned := make(chan struct{})
	go func() { _, _ = qw.wait(); close(returned) }()
	select {
	case <-returned:
	case <-time.After(testutil.Process):
		t.Fatal("the wait of a process that had exited did not return")
	}
	if err := quick.Wait(); err != nil {
		t.Errorf("Wait of true: %v", err)
	}
}
