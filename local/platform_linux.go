package local

import "syscall"

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
