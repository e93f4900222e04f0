package metrics

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/prometheus/client_golang/prometheus"
)

// TargetProbe is one target's reachability, as core's Probe reports it.
type TargetProbe struct {
	Name string
	Err  error
}

// StatusConfig says where StatusCollector reads berth's own state. A nil
// function leaves its series out.
type StatusConfig struct {
	Version string
	// Leading reports whether this replica leads (runs the loops).
	Leading func() bool
	// Probe pings every target (core.Probe); its answer is reused for
	// ProbeTTL (default 15s), so scrapes do not hammer a cloud API.
	Probe    func(ctx context.Context) []TargetProbe
	ProbeTTL time.Duration
	// Sampler gives the per-service series and the sampler's lag.
	Sampler *Sampler
	// WSClients and WSDropped read the WebSocket hub.
	WSClients func() int
	WSDropped func() int64
	// Runtimes whose Throttles() counts the 429s their cloud answered.
	Runtimes []berth.Runtime
	Now      func() time.Time
}

// StatusCollector exports what berth's alert rules watch
// (deploy/prometheus/rules.yaml): leadership, target reachability, each
// service's replicas and restarts as the sampler last saw them, the
// sampler's lag, WebSocket clients and the ones dropped, cloud throttling.
type StatusCollector struct {
	cfg StatusConfig

	mu       sync.Mutex
	probedAt time.Time
	probes   []TargetProbe

	info, leader, targetUp, lag, ready, desired, restarts, wsClients, wsDropped, throttled *prometheus.Desc
}

var _ prometheus.Collector = (*StatusCollector)(nil)

// throttler is a runtime that counts throttled requests (the ACI runtime).
type throttler interface{ Throttles() int64 }

// NewStatusCollector makes the collector.
func NewStatusCollector(cfg StatusConfig) *StatusCollector {
	if cfg.ProbeTTL <= 0 {
		cfg.ProbeTTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	svc := []string{"target", "namespace", "service"}
	return &StatusCollector{cfg: cfg,
		info: prometheus.NewDesc("berth_build_info", "Always 1: the running berth's version and Go version.",
			[]string{"version", "goversion"}, nil),
		leader: prometheus.NewDesc("berth_leader", "1 when this replica is the leader (runs the background loops), else 0.", nil, nil),
		targetUp: prometheus.NewDesc("berth_target_up", "1 when the target answered its last ping, else 0.",
			[]string{"target"}, nil),
		lag: prometheus.NewDesc("berth_metrics_sampler_lag_seconds",
			"Seconds since the metrics sampler's last tick (only on the leader, which samples).", nil, nil),
		ready: prometheus.NewDesc("berth_service_ready_replicas", "Ready replicas of a service at the sampler's last tick.", svc, nil),
		desired: prometheus.NewDesc("berth_service_desired_replicas",
			"Replicas a service should run at the sampler's last tick (0 when stopped).", svc, nil),
		restarts: prometheus.NewDesc("berth_service_restarts_total",
			"Restarts of a service's replicas the target reports (cumulative).", svc, nil),
		wsClients: prometheus.NewDesc("berth_ws_clients", "Open WebSocket connections.", nil, nil),
		wsDropped: prometheus.NewDesc("berth_ws_clients_dropped_total",
			"WebSocket clients dropped for being slow or not answering pings.", nil, nil),
		throttled: prometheus.NewDesc("berth_target_throttled_total",
			"Requests the target's cloud API answered 429 Too Many Requests, retries included.", []string{"target"}, nil),
	}
}

// Describe sends every descriptor.
func (c *StatusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.leader, c.targetUp, c.lag, c.ready, c.desired, c.restarts, c.wsClients, c.wsDropped, c.throttled} {
		ch <- d
	}
}

// Collect reads the current state.
func (c *StatusCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, c.cfg.Version, runtime.Version())
	if c.cfg.Leading != nil {
		ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, b2f(c.cfg.Leading()))
	}
	for _, p := range c.targetProbes() {
		ch <- prometheus.MustNewConstMetric(c.targetUp, prometheus.GaugeValue, b2f(p.Err == nil), p.Name)
	}
	c.collectServices(ch)
	if c.cfg.WSClients != nil {
		ch <- prometheus.MustNewConstMetric(c.wsClients, prometheus.GaugeValue, float64(c.cfg.WSClients()))
	}
	if c.cfg.WSDropped != nil {
		ch <- prometheus.MustNewConstMetric(c.wsDropped, prometheus.CounterValue, float64(c.cfg.WSDropped()))
	}
	for _, rt := range c.cfg.Runtimes {
		if t, ok := rt.(throttler); ok {
			ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(t.Throttles()), rt.Info().Name)
		}
	}
}

// collectServices exports the sampler's last tick: only the leader samples,
// so a follower exports no service series and no lag.
func (c *StatusCollector) collectServices(ch chan<- prometheus.Metric) {
	s := c.cfg.Sampler
	if s == nil || (c.cfg.Leading != nil && !c.cfg.Leading()) {
		return
	}
	if lag := s.Lag(); lag >= 0 {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag.Seconds())
	}
	t := s.Latest()
	if t == nil {
		return
	}
	for _, svc := range t.Services {
		l := []string{svc.Target, svc.Namespace, svc.Name}
		if v, ok := svc.Values[berth.MetricReady]; ok {
			ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, v, l...)
		}
		if v, ok := svc.Values[berth.MetricDesired]; ok {
			ch <- prometheus.MustNewConstMetric(c.desired, prometheus.GaugeValue, v, l...)
		}
		if v, ok := svc.Values[berth.MetricRestarts]; ok {
			ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, v, l...)
		}
	}
}

// targetProbes pings the targets at most once per ProbeTTL.
func (c *StatusCollector) targetProbes() []TargetProbe {
	if c.cfg.Probe == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.cfg.Now(); c.probes == nil || now.Sub(c.probedAt) >= c.cfg.ProbeTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c.probes, c.probedAt = c.cfg.Probe(ctx), now
	}
	return c.probes
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
