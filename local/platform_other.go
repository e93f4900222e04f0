//go:build !linux

package local

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// setNoNewPrivs: no_new_privs is Linux's; elsewhere (the darwin builds of
// `make release`, mostly used as the CLI) the shim of per-user isolation
// refuses to run a workload rather than run it without.
func setNoNewPrivs() error {
	return errors.New("per-user isolation needs Linux (no_new_privs)")
}

// dieWithBerth: there is no parent-death signal outside Linux; the stop
// path (the process group) still ends the workload when berth stops.
func dieWithBerth(*syscall.SysProcAttr) {}

// exitWatch: outside Linux there is no pidfd; the supervisor waits in Wait.
type exitWatch struct{}

func watchExit(*os.Process) *exitWatch { return nil }
func (*exitWatch) wait() (bool, error) { return false, errors.ErrUnsupported }
func (*exitWatch) until(time.Time)     {}
func (*exitWatch) interrupt()          {}
func (*exitWatch) close()              {}
