// Package metrics samples the workloads of every target into the metrics
// history (raw points, 1-minute and 1-hour rollups, retention), publishes
// each tick as an event, answers history queries, reads Prometheus, and
// exports the local runtime's workloads under cAdvisor's names.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"k8s.io/utils/clock"
)

// Store is what the sampler reads and writes.
type Store interface {
	berth.MetricsStore
	ListServices(ctx context.Context, f berth.ServiceFilter) ([]*berth.Service, int, error)
	ListEnvironments(ctx context.Context, f berth.EnvironmentFilter) ([]*berth.Environment, int, error)
}

// Retention bounds how long points of each resolution are kept.
type Retention struct {
	Raw    time.Duration // default 6h
	Minute time.Duration // default 48h
	Hour   time.Duration // default 30 days
}

func (r Retention) withDefaults() Retention {
	r.Raw = cmp.Or(r.Raw, 6*time.Hour)
	r.Minute = cmp.Or(r.Minute, 48*time.Hour)
	r.Hour = cmp.Or(r.Hour, 30*24*time.Hour)
	return r
}

// Config configures a Sampler.
type Config struct {
	Store    Store
	Runtimes []berth.Runtime
	// Sources measure usage by target name. A runtime without one is
	// measured through NewLocalSource when it reports usage (the local
	// runtime); otherwise only replica counts and restarts are sampled.
	Sources   map[string]Source
	Interval  time.Duration // default 15s
	Retention Retention
	Publisher berth.Publisher // nil: no events
	// Leading says whether this replica writes what it measures (store,
	// events, retention); nil: always. Followers still measure, so their
	// live views (overview, usage) stay current.
	Leading func() bool
	Now     func() time.Time
	// Clock paces Run (default the real one; tests drive a fake) and is
	// the time when Now is not set.
	Clock  clock.WithTicker
	Logger *slog.Logger
}

// Sampler measures every service, replica and environment each interval,
// stores the points, rolls them up and enforces retention.
type Sampler struct {
	cfg      Config
	runtimes map[string]berth.Runtime
	sources  map[string]Source
	log      *slog.Logger
	history  *History

	mu     sync.Mutex
	latest *Tick
}

// New validates cfg and returns a Sampler.
func New(cfg Config) (*Sampler, error) {
	if cfg.Store == nil {
		return nil, errors.New("metrics sampler: no store")
	}
	cfg.Interval = cmp.Or(cfg.Interval, 15*time.Second)
	if cfg.Interval < time.Second {
		return nil, fmt.Errorf("metrics sampler: interval %s is below 1s", cfg.Interval)
	}
	cfg.Retention = cfg.Retention.withDefaults()
	ret := cfg.Retention
	// Hourly rollups are computed from raw points, so those must outlive an hour.
	if ret.Raw < time.Hour+2*cfg.Interval {
		return nil, fmt.Errorf("metrics sampler: raw retention %s must cover an hour and two intervals", ret.Raw)
	}
	if ret.Minute < ret.Raw || ret.Hour < ret.Minute {
		return nil, fmt.Errorf("metrics sampler: retention must grow with resolution (raw %s, 1m %s, 1h %s)", ret.Raw, ret.Minute, ret.Hour)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sampler{cfg: cfg, runtimes: map[string]berth.Runtime{}, sources: map[string]Source{}, log: cfg.Logger.With("component", "metrics")}
	for _, rt := range cfg.Runtimes {
		name := rt.Info().Name
		s.runtimes[name] = rt
		if src, ok := cfg.Sources[name]; ok {
			s.sources[name] = src
		} else if src, ok := NewLocalSource(rt); ok {
			s.sources[name] = src
		}
	}
	s.history = NewHistory(cfg.Store, ret, cfg.Interval, cfg.Now)
	return s, nil
}

// History answers queries of what this sampler stores.
func (s *Sampler) History() *History { return s.history }

// Tick is one round of samples, as published on topic "metrics".
type Tick struct {
	Time         time.Time           `json:"time"`
	Services     []ServiceSample     `json:"services,omitempty"`
	Environments []EnvironmentSample `json:"environments,omitempty"`
}

// ServiceSample is a service's values (sums over its replicas, replica
// counts, restarts) and each replica's.
type ServiceSample struct {
	Target    string             `json:"target"`
	Namespace string             `json:"namespace,omitempty"`
	Name      string             `json:"name"`
	Values    map[string]float64 `json:"values"`
	Replicas  []ReplicaSample    `json:"replicas,omitempty"`
}

// ReplicaSample is one replica's values.
type ReplicaSample struct {
	Name   string             `json:"name"`
	Values map[string]float64 `json:"values"`
}

// EnvironmentSample is an environment's values.
type EnvironmentSample struct {
	Target string             `json:"target"`
	ID     string             `json:"id"`
	Owner  string             `json:"-"`
	Values map[string]float64 `json:"values"`
}

// Latest returns the last tick (nil before the first), for the overview.
func (s *Sampler) Latest() *Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// Lag is how long ago the last tick was taken (-1 before the first), for /status.
func (s *Sampler) Lag() time.Duration {
	if t := s.Latest(); t != nil {
		return s.cfg.Now().Sub(t.Time)
	}
	return -1
}

// Run samples every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) error {
	t := s.cfg.Clock.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.SampleOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sample metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// SampleOnce measures everything now, stores and publishes the tick, then
// rolls up completed buckets and deletes points past retention. A workload
// that cannot be measured is skipped (logged), never fails the tick.
func (s *Sampler) SampleOnce(ctx context.Context) (*Tick, error) {
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	tick := &Tick{Time: now}
	svcs, err := s.services(ctx)
	if err != nil {
		return nil, err
	}
	for _, svc := range svcs {
		if smp, ok := s.sampleService(ctx, svc); ok {
			tick.Services = append(tick.Services, smp)
		}
	}
	envs, _, err := s.cfg.Store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		return nil, fmt.Errorf("sample metrics: list environments: %w", err)
	}
	for _, env := range envs {
		if smp, ok := s.sampleEnvironment(ctx, env); ok {
			tick.Environments = append(tick.Environments, smp)
		}
	}
	if s.cfg.Leading != nil && !s.cfg.Leading() {
		s.mu.Lock()
		s.latest = tick
		s.mu.Unlock()
		return tick, nil // the leader writes and tells the subscribers of every replica
	}
	if err := s.cfg.Store.PutMetrics(ctx, berth.ResRaw, tick.series()); err != nil {
		return nil, fmt.Errorf("sample metrics: %w", err)
	}
	s.mu.Lock()
	s.latest = tick
	s.mu.Unlock()
	s.publish(ctx, tick)
	if err := s.Maintain(ctx); err != nil {
		return tick, err
	}
	return tick, nil
}

// services lists the stored services and those the runtimes run without
// berth having created them (Kubernetes Deployments), by target.
func (s *Sampler) services(ctx context.Context) ([]*berth.Service, error) {
	stored, _, err := s.cfg.Store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		return nil, fmt.Errorf("sample metrics: list services: %w", err)
	}
	seen := make(map[berth.ServiceRef]bool, len(stored))
	for _, svc := range stored {
		seen[svc.Ref()] = true
	}
	for name, rt := range s.runtimes {
		sl, ok := rt.(berth.ServiceLister)
		if !ok {
			continue
		}
		more, err := runtimeServices(ctx, name, sl)
		if err != nil {
			s.log.Warn("list services of target", "target", name, "err", err)
			continue
		}
		for _, svc := range more {
			if !seen[svc.Ref()] {
				seen[svc.Ref()] = true
				stored = append(stored, svc)
			}
		}
	}
	return stored, nil
}

// runtimeServices are the services of a lister. Sampling needs only their
// names: an indexed runtime's keys name them without building each one.
func runtimeServices(ctx context.Context, target string, sl berth.ServiceLister) ([]*berth.Service, error) {
	idx, ok := sl.(berth.ServiceIndexer)
	if !ok {
		return sl.ListServices(ctx)
	}
	keys, _, err := idx.ServiceKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*berth.Service, len(keys))
	for i, k := range keys {
		out[i] = &berth.Service{Target: target, Namespace: k.Namespace, Name: k.Name}
	}
	return out, nil
}

func (s *Sampler) sampleService(ctx context.Context, svc *berth.Service) (ServiceSample, bool) {
	rt, ok := s.runtimes[svc.Target]
	if !ok {
		return ServiceSample{}, false
	}
	smp := ServiceSample{Target: svc.Target, Namespace: svc.Namespace, Name: svc.Name, Values: map[string]float64{}}
	idx := map[string]int{}
	replica := func(name string) map[string]float64 {
		i, ok := idx[name]
		if !ok {
			i = len(smp.Replicas)
			idx[name] = i
			smp.Replicas = append(smp.Replicas, ReplicaSample{Name: name, Values: map[string]float64{}})
		}
		return smp.Replicas[i].Values
	}
	st, err := rt.ServiceState(ctx, svc.Ref())
	if err != nil {
		s.log.Debug("sample service state", "service", svc.Ref().String(), "err", err)
		return ServiceSample{}, false
	}
	smp.Values[berth.MetricDesired] = float64(st.Replicas)
	smp.Values[berth.MetricReady] = float64(st.ReadyReplicas)
	restarts := 0
	for _, in := range st.Instances {
		restarts += in.Restarts
		replica(in.Name)[berth.MetricRestarts] += float64(in.Restarts)
	}
	smp.Values[berth.MetricRestarts] = float64(restarts)
	if src, ok := s.sources[svc.Target]; ok {
		us, err := src.ServiceUsage(ctx, svc)
		if err != nil {
			s.log.Debug("sample service usage", "service", svc.Ref().String(), "err", err)
		}
		// A replica the state does not list (a pod terminating) still uses resources.
		for _, u := range us {
			vals := replica(u.Replica)
			for m, v := range u.Values {
				vals[m] += v
				smp.Values[m] += v
			}
		}
	}
	return smp, true
}

func (s *Sampler) sampleEnvironment(ctx context.Context, env *berth.Environment) (EnvironmentSample, bool) {
	src, ok := s.sources[env.Target]
	if !ok || env.Stopped || env.Status == berth.EnvStopped || env.Status == berth.EnvDeleting {
		return EnvironmentSample{}, false
	}
	u, err := src.EnvironmentUsage(ctx, env)
	if err != nil {
		if berth.ErrorCode(err) != berth.ENOTFOUND {
			s.log.Debug("sample environment usage", "environment", env.ID, "err", err)
		}
		return EnvironmentSample{}, false
	}
	return EnvironmentSample{Target: env.Target, ID: env.ID, Owner: env.UserID, Values: u.Values}, true
}

// series flattens the tick into one raw point per series.
func (t *Tick) series() []berth.MetricSeries {
	var out []berth.MetricSeries
	add := func(k berth.MetricKey, values map[string]float64) {
		for _, m := range slices.Sorted(maps.Keys(values)) {
			v := values[m]
			k.Metric = m
			out = append(out, berth.MetricSeries{MetricKey: k, Points: []berth.MetricPoint{{Time: t.Time, Value: v, Min: v, Max: v, P95: v, Count: 1}}})
		}
	}
	for _, svc := range t.Services {
		add(berth.MetricKey{Target: svc.Target, Namespace: svc.Namespace, Kind: berth.SubjectService, Name: svc.Name}, svc.Values)
		for _, r := range svc.Replicas {
			add(berth.MetricKey{Target: svc.Target, Namespace: svc.Namespace, Kind: berth.SubjectReplica, Name: svc.Name, Replica: r.Name}, r.Values)
		}
	}
	for _, env := range t.Environments {
		add(berth.MetricKey{Target: env.Target, Kind: berth.SubjectEnvironment, Name: env.ID}, env.Values)
	}
	return out
}

// publish sends the services' tick to every reader of "metrics", and each
// owner's environments to that owner only.
func (s *Sampler) publish(ctx context.Context, t *Tick) {
	if s.cfg.Publisher == nil {
		return
	}
	s.cfg.Publisher.Publish(ctx, berth.Event{Topic: "metrics", Type: "metric.tick", Time: t.Time,
		Data: Tick{Time: t.Time, Services: t.Services}})
	byOwner := map[string][]EnvironmentSample{}
	var owners []string
	for _, e := range t.Environments {
		if _, ok := byOwner[e.Owner]; !ok {
			owners = append(owners, e.Owner)
		}
		byOwner[e.Owner] = append(byOwner[e.Owner], e)
	}
	for _, o := range owners {
		s.cfg.Publisher.Publish(ctx, berth.Event{Topic: "metrics", Type: "metric.tick", Time: t.Time, Owner: o,
			Data: Tick{Time: t.Time, Environments: byOwner[o]}})
	}
}

// Maintain rolls up every completed 1-minute and 1-hour bucket not rolled
// up yet (from raw points, so percentiles are exact), then deletes points
// past their retention. SampleOnce calls it; it is idempotent.
func (s *Sampler) Maintain(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	ret := s.cfg.Retention
	for _, res := range []time.Duration{berth.ResMinute, berth.ResHour} {
		if err := s.rollup(ctx, res, now); err != nil {
			return err
		}
	}
	for res, keep := range map[time.Duration]time.Duration{berth.ResRaw: ret.Raw, berth.ResMinute: ret.Minute, berth.ResHour: ret.Hour} {
		if _, err := s.cfg.Store.PruneMetrics(ctx, res, now.Add(-keep)); err != nil {
			return fmt.Errorf("metrics retention: %w", err)
		}
	}
	return nil
}

func (s *Sampler) rollup(ctx context.Context, res time.Duration, now time.Time) error {
	end := bucket(now, res) // buckets before it are complete: no sample is taken in the past
	start := bucket(now.Add(-s.cfg.Retention.Raw), res)
	last, err := s.cfg.Store.LatestMetricTime(ctx, res)
	if err != nil {
		return fmt.Errorf("roll up %s: %w", res, err)
	}
	if next := last.Add(res); !last.IsZero() && next.After(start) {
		start = next
	}
	// An hour of raw points at a time bounds the memory a long gap needs.
	chunk := max(res, time.Hour)
	for from := start; from.Before(end); from = from.Add(chunk) {
		to := from.Add(chunk)
		if to.After(end) {
			to = end
		}
		raw, err := s.cfg.Store.QueryMetrics(ctx, berth.MetricQuery{Resolution: berth.ResRaw, From: from, To: to})
		if err != nil {
			return fmt.Errorf("roll up %s from %s: %w", res, from.Format(time.RFC3339), err)
		}
		for i := range raw {
			raw[i].Points = Rollup(raw[i].Points, res)
		}
		if err := s.cfg.Store.PutMetrics(ctx, res, raw); err != nil {
			return fmt.Errorf("roll up %s from %s: %w", res, from.Format(time.RFC3339), err)
		}
	}
	return nil
}
