package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthhq/berth"
)

// Drift (berth.DriftReporter) on the local runtime: berth is the parent of
// every replica, so a process killed from outside is restarted by its
// supervisor (with backoff) without core. What can vanish behind its back
// is the pid file of a running process, with which a berth restarted after
// a crash finds and kills what it left; and a service or environment this
// runtime does not run at all (it keeps desired state in memory only).
// Both are reported; ApplyService and ApplyEnvironment repair them.

var _ berth.DriftReporter = (*Runtime)(nil)

// ServiceDrift reports a service this runtime does not run, and the
// running replicas whose pid file is gone.
func (r *Runtime) ServiceDrift(_ context.Context, svc *berth.Service) ([]string, error) {
	s, err := r.lookupService(svc.Ref())
	if berth.IsCode(err, berth.ENOTFOUND) {
		return []string{fmt.Sprintf("service %s: not running here", svc.Name)}, nil
	}
	if err != nil {
		return nil, err
	}
	var drift []string
	for _, sup := range s.supervisors() {
		if path, ok := sup.pidFileGone(); !ok {
			drift = append(drift, fmt.Sprintf("replica %s: pid file %s missing", sup.name, path))
		}
	}
	return drift, nil
}

// EnvironmentDrift reports an environment this runtime does not run, and
// a running workspace whose pid file is gone. A stopped one has nothing to check.
func (r *Runtime) EnvironmentDrift(_ context.Context, env *berth.Environment) ([]string, error) {
	if env.Stopped {
		return nil, nil
	}
	r.mu.Lock()
	e, ok := r.envs[env.ID]
	r.mu.Unlock()
	if !ok {
		return []string{fmt.Sprintf("environment %s: not running here", env.ID)}, nil
	}
	e.mu.Lock()
	sup := e.sup
	e.mu.Unlock()
	if sup == nil {
		return []string{fmt.Sprintf("environment %s: not running here", env.ID)}, nil
	}
	if path, ok := sup.pidFileGone(); !ok {
		return []string{fmt.Sprintf("environment %s: pid file %s missing", env.ID, path)}, nil
	}
	return nil, nil
}

// supervisors are the service's replicas (a rolling step's new one included).
func (s *service) supervisors() []*supervisor {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*supervisor
	for _, rp := range s.active {
		out = append(out, rp.supervisor)
	}
	if s.surge != nil {
		out = append(out, s.surge.supervisor)
	}
	return out
}

// repairPidFiles writes the pid file of each running replica that lost it.
func (s *service) repairPidFiles() {
	for _, sup := range s.supervisors() {
		sup.repairPidFile()
	}
}

func (s *supervisor) pidPath(instance int) string {
	return filepath.Join(s.rt.runDir(), fmt.Sprintf("%s.%d.pid", s.pidName, instance))
}

// pidFileGone returns the pid file's path and false when the process runs
// but its pid file does not exist.
func (s *supervisor) pidFileGone() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.pidPath(s.instance)
	if s.pid <= 0 {
		return path, true
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return path, false
	}
	return path, true
}

// repairPidFile writes the pid file again when the process runs without
// one. Under the lock: the exit path clears pid before the file can be
// written for a process that is gone (a stale file names a pid and start
// time that no longer match, which killLeftovers ignores).
func (s *supervisor) repairPidFile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid <= 0 {
		return
	}
	if _, err := os.Stat(s.pidPath(s.instance)); errors.Is(err, os.ErrNotExist) {
		s.rt.writePidFile(s.pidName, s.instance, s.pid)
		s.rt.log.Info("pid file re-written", "process", s.name, "pid", s.pid)
	}
}
