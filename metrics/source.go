package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/berthhq/berth"
)

// Usage is what a source measured of one workload (a replica or an
// environment): values by metric name (berth.MetricCPU in cores,
// berth.MetricMemory in bytes, berth.MetricNetRx/Tx in bytes per second).
// A metric the source cannot measure is absent, never zero.
type Usage struct {
	Replica string
	Values  map[string]float64
}

// Source measures the workloads of one target. The local runtime's /proc,
// the Kubernetes metrics API and Prometheus are sources; a target without
// one is sampled for replica counts and restarts only.
type Source interface {
	// ServiceUsage measures each running replica of svc.
	ServiceUsage(ctx context.Context, svc *berth.Service) ([]Usage, error)
	// EnvironmentUsage measures env's workload; ENOTFOUND when it does not run.
	EnvironmentUsage(ctx context.Context, env *berth.Environment) (*Usage, error)
}

// LocalSource turns the cumulative CPU seconds of a runtime's
// berth.UsageReporter (and berth.EnvironmentUsageReporter) into CPU cores
// between two calls. A replica's first measurement, or the first after its
// process changed, has memory but no CPU yet. It has no network figures:
// local processes share the host's network namespace, so /proc has no
// per-workload counters.
type LocalSource struct {
	services berth.UsageReporter
	envs     berth.EnvironmentUsageReporter // may be nil

	mu    sync.Mutex
	prev  map[string]cpuMark // by "svc/<target>/<name>/<replica>" or "env/<id>"
	swept time.Time
}

type cpuMark struct {
	pid     int
	seconds float64
	at      time.Time
}

// NewLocalSource measures through rt, which must be a berth.UsageReporter
// (ok false otherwise); environments are measured when rt is also a
// berth.EnvironmentUsageReporter.
func NewLocalSource(rt berth.Runtime) (*LocalSource, bool) {
	ur, ok := rt.(berth.UsageReporter)
	if !ok {
		return nil, false
	}
	er, _ := rt.(berth.EnvironmentUsageReporter)
	return &LocalSource{services: ur, envs: er, prev: map[string]cpuMark{}}, true
}

// rate records u and returns the CPU cores since the previous mark of key.
func (s *LocalSource) rate(key string, u berth.ReplicaUsage) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, seen := s.prev[key]
	s.prev[key] = cpuMark{pid: u.PID, seconds: u.CPUSeconds, at: u.Time}
	// Forget workloads gone for an hour, at most once a minute.
	if u.Time.Sub(s.swept) > time.Minute {
		for k, m := range s.prev {
			if u.Time.Sub(m.at) > time.Hour {
				delete(s.prev, k)
			}
		}
		s.swept = u.Time
	}
	dt := u.Time.Sub(p.at).Seconds()
	if !seen || p.pid != u.PID || u.CPUSeconds < p.seconds || dt <= 0 {
		return 0, false
	}
	return (u.CPUSeconds - p.seconds) / dt, true
}

func (s *LocalSource) usage(key string, u berth.ReplicaUsage) Usage {
	out := Usage{Replica: u.Replica, Values: map[string]float64{berth.MetricMemory: float64(u.RSSBytes)}}
	if cores, ok := s.rate(key, u); ok {
		out.Values[berth.MetricCPU] = cores
	}
	return out
}

// ServiceUsage measures svc's replicas through the runtime.
func (s *LocalSource) ServiceUsage(ctx context.Context, svc *berth.Service) ([]Usage, error) {
	us, err := s.services.ServiceUsage(ctx, svc.Ref())
	if err != nil {
		return nil, err
	}
	out := make([]Usage, 0, len(us))
	for _, u := range us {
		out = append(out, s.usage("svc/"+svc.Ref().String()+"/"+u.Replica, u))
	}
	return out, nil
}

// EnvironmentUsage measures env's process group.
func (s *LocalSource) EnvironmentUsage(ctx context.Context, env *berth.Environment) (*Usage, error) {
	if s.envs == nil {
		return nil, berth.NotSupported(env.Target, "environment usage")
	}
	u, err := s.envs.EnvironmentUsage(ctx, env)
	if err != nil {
		return nil, err
	}
	out := s.usage("env/"+env.ID, *u)
	return &out, nil
}
