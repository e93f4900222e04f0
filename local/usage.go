package local

import (
	"context"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

type groupUsage struct {
	ticks uint64
	pages int64
}

// groupUsages sums CPU time and resident pages of every process by process group.
func groupUsages() map[int]groupUsage {
	out := map[int]groupUsage{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		u := out[st.PGID]
		u.ticks += st.UTime + st.STime
		u.pages += st.RSSPages
		out[st.PGID] = u
	}
	return out
}

// ServiceUsage measures each running replica, summed over its process group.
func (r *Runtime) ServiceUsage(ctx context.Context, ref berth.ServiceRef) ([]berth.ReplicaUsage, error) {
	s, err := r.lookupService(ref)
	if err != nil {
		return nil, err
	}
	type running struct {
		name string
		pid  int
	}
	var procs []running
	for _, rp := range s.replicaList() {
		if pid := rp.snapshot().PID; pid > 0 {
			procs = append(procs, running{rp.name, pid})
		}
	}
	if len(procs) == 0 {
		return []berth.ReplicaUsage{}, nil
	}
	usage := groupUsages()
	page := int64(os.Getpagesize())
	now := time.Now()
	out := make([]berth.ReplicaUsage, 0, len(procs))
	for _, p := range procs {
		u, ok := usage[p.pid]
		if !ok {
			continue
		}
		out = append(out, berth.ReplicaUsage{
			Replica: p.name, PID: p.pid, Time: now,
			CPUSeconds: float64(u.ticks) / clockTicks, RSSBytes: u.pages * page,
		})
	}
	return out, nil
}

// replicas_ lists the active replicas by index, then a rolling update's new one.
func (s *service) replicaList() []*replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*replica
	for _, i := range slices.Sorted(maps.Keys(s.active)) {
		out = append(out, s.active[i])
	}
	if s.surge != nil {
		out = append(out, s.surge)
	}
	return out
}

// Inventory lists one "process" resource per running replica or environment.
func (r *Runtime) Inventory(ctx context.Context) ([]berth.Resource, error) {
	r.mu.Lock()
	svcs := slices.SortedFunc(maps.Values(r.services), func(a, b *service) int { return strings.Compare(a.name, b.name) })
	envs := slices.SortedFunc(maps.Values(r.envs), func(a, b *environment) int { return strings.Compare(a.id, b.id) })
	r.mu.Unlock()
	var out []berth.Resource
	for _, s := range svcs {
		for _, rp := range s.replicaList() {
			st := rp.snapshot()
			if st.PID == 0 {
				continue
			}
			out = append(out, berth.Resource{
				Type: "process", ID: rp.name, Name: rp.name, Target: r.cfg.Name, Status: st.State, Managed: true,
				BerthKind: "service", BerthID: s.name,
				Details: map[string]any{"pid": st.PID, "port": rp.port, "service": s.name, "restarts": st.Restarts, "revision": rp.revision},
			})
		}
	}
	for _, e := range envs {
		e.mu.Lock()
		sup, port := e.sup, e.port
		e.mu.Unlock()
		if sup == nil {
			continue
		}
		st := sup.snapshot()
		if st.PID == 0 {
			continue
		}
		out = append(out, berth.Resource{
			Type: "process", ID: "env-" + e.id, Name: "env-" + e.id, Target: r.cfg.Name, Status: st.State, Managed: true,
			BerthKind: "environment", BerthID: e.id,
			Details: map[string]any{"pid": st.PID, "port": port, "environment": e.id, "restarts": st.Restarts},
		})
	}
	return out, nil
}

// DeleteResource kills a process (SIGKILL to its group); its supervisor
// restarts it, as a deleted pod is replaced.
func (r *Runtime) DeleteResource(ctx context.Context, typ, id string) error {
	if typ != "process" {
		return berth.NotSupported(r.cfg.Name, "deleting "+typ+" resources")
	}
	r.mu.Lock()
	svcs := slices.Collect(maps.Values(r.services))
	envs := slices.Collect(maps.Values(r.envs))
	r.mu.Unlock()
	for _, s := range svcs {
		for _, rp := range s.replicaList() {
			if rp.name == id && rp.kill() {
				return nil
			}
		}
	}
	for _, e := range envs {
		if "env-"+e.id != id {
			continue
		}
		e.mu.Lock()
		sup := e.sup
		e.mu.Unlock()
		if sup != nil && sup.kill() {
			return nil
		}
	}
	return berth.NotFound("process", id)
}
