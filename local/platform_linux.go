package local

import (
	"os"
	"syscall"

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

// awaitExit returns once p has exited, without reaping it (Wait then reaps
// it at once). It waits on the runtime's poller through a pidfd, where
// Wait blocks an OS thread in waitid for as long as the process runs: with
// thousands of workloads, as many threads. When no pidfd can be had (an old
// kernel), it returns at once and Wait blocks as before.
func awaitExit(p *os.Process) {
	fd, err := unix.PidfdOpen(p.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd") // non-blocking: the poller watches it
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Asked before each wait: readiness that came before the wait began
	// is not remembered, so the pidfd itself says whether p has exited.
	_ = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0) // #nosec G115 -- a file descriptor fits an int32
		return err != nil || n > 0
	})
}
