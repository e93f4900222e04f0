package local

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setNoNewPrivs sets no_new_privs on the calling process (the shim).
func setNoNewPrivs() error {
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// dieWithBerth has the kernel SIGKILL the child when berth dies, even when
// berth is SIGKILLed.
func dieWithBerth(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// exitWatch waits for a process's exit on the runtime's poller through a
// pidfd, where Wait blocks an OS thread in waitid for as long as the
// process runs: with thousands of workloads, as many threads. The
// supervisor waits in its own goroutine, and halt interrupts the wait
// through the pidfd's deadline, so a workload costs neither a thread nor a
// goroutine for its exit.
type exitWatch struct {
	f  *os.File
	rc syscall.RawConn
}

// watchExit watches p; nil when no pidfd can be had (an old kernel): the
// supervisor then waits in Wait as before.
func watchExit(p *os.Process) *exitWatch {
	fd, err := unix.PidfdOpen(p.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "pidfd") // non-blocking: the poller watches it
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil
	}
	return &exitWatch{f: f, rc: rc}
}

// wait returns true once the process has exited, without reaping it (Wait
// then reaps it at once); an error when the deadline (interrupt, until)
// passed first.
func (w *exitWatch) wait() (bool, error) {
	// Asked before each wait: readiness that came before the wait began
	// is not remembered, so the pidfd itself says whether p has exited.
	err := w.rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0) // #nosec G115 -- a file descriptor fits an int32
		return err != nil || n > 0
	})
	return err == nil, err
}

// until makes waits give up at t (zero: never).
func (w *exitWatch) until(t time.Time) { _ = w.f.SetReadDeadline(t) }

// interrupt makes the current and every later wait return.
func (w *exitWatch) interrupt() { w.until(time.Unix(1, 0)) }

func (w *exitWatch) close() { _ = w.f.Close() }
