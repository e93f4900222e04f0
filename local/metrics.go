package local

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

var (
	_ berth.UsageLister              = (*Runtime)(nil)
	_ berth.EnvironmentUsageReporter = (*Runtime)(nil)
)

// envPID returns the pid of the environment's running process, 0 when none.
func (e *environment) envPID() int {
	e.mu.Lock()
	sup := e.sup
	e.mu.Unlock()
	if sup == nil {
		return 0
	}
	return sup.snapshot().PID
}

// EnvironmentUsage measures the environment's process group.
func (r *Runtime) EnvironmentUsage(ctx context.Context, env *berth.Environment) (*berth.ReplicaUsage, error) {
	e, err := r.lookupEnv(env.ID)
	if err != nil {
		return nil, err
	}
	pid := 0
	if e != nil {
		pid = e.envPID()
	}
	if pid == 0 {
		return nil, berth.Errorf(berth.ENOTFOUND, "environment %q is not running", env.ID)
	}
	u, ok := groupUsages()[pid]
	if !ok {
		return nil, berth.Errorf(berth.ENOTFOUND, "environment %q is not running", env.ID)
	}
	return &berth.ReplicaUsage{
		Replica: "env-" + env.ID, PID: pid, Time: time.Now(),
		CPUSeconds: float64(u.ticks) / clockTicks, RSSBytes: u.pages * int64(os.Getpagesize()),
	}, nil
}

// Usage measures every running replica and environment with one walk of
// /proc. Replica names follow Inventory ("web-0", "env-<id>").
func (r *Runtime) Usage(ctx context.Context) ([]berth.WorkloadUsage, error) {
	r.mu.Lock()
	svcs := slices.SortedFunc(maps.Values(r.services), func(a, b *service) int { return strings.Compare(a.name, b.name) })
	envs := slices.SortedFunc(maps.Values(r.envs), func(a, b *environment) int { return strings.Compare(a.id, b.id) })
	r.mu.Unlock()
	type proc struct {
		svc, env, name string
		pid            int
	}
	var procs []proc
	for _, s := range svcs {
		for _, rp := range s.replicaList() {
			if pid := rp.snapshot().PID; pid > 0 {
				procs = append(procs, proc{svc: s.name, name: rp.name, pid: pid})
			}
		}
	}
	for _, e := range envs {
		if pid := e.envPID(); pid > 0 {
			procs = append(procs, proc{env: e.id, name: "env-" + e.id, pid: pid})
		}
	}
	out := []berth.WorkloadUsage{}
	if len(procs) == 0 {
		return out, nil
	}
	usage := groupUsages()
	page := int64(os.Getpagesize())
	now := time.Now()
	for _, p := range procs {
		u, ok := usage[p.pid]
		if !ok {
			continue // exited meanwhile
		}
		out = append(out, berth.WorkloadUsage{Service: p.svc, Environment: p.env, ReplicaUsage: berth.ReplicaUsage{
			Replica: p.name, PID: p.pid, Time: now, CPUSeconds: float64(u.ticks) / clockTicks, RSSBytes: u.pages * page,
		}})
	}
	return out, nil
}
