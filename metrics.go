package berth

import (
	"context"
	"time"
)

// Metric names: what a series measures.
const (
	MetricCPU      = "cpu"              // cores (rate of CPU seconds)
	MetricMemory   = "memory"           // bytes (resident / working set)
	MetricNetRx    = "net_rx"           // bytes per second received
	MetricNetTx    = "net_tx"           // bytes per second sent
	MetricRestarts = "restarts"         // cumulative restarts
	MetricReady    = "ready_replicas"   // service only
	MetricDesired  = "desired_replicas" // service only
)

// Subject kinds of a metric series.
const (
	SubjectService     = "service"
	SubjectReplica     = "replica"
	SubjectEnvironment = "environment"
)

// Resolutions of stored points: raw samples and the two rollups.
const (
	ResRaw    time.Duration = 0
	ResMinute time.Duration = time.Minute
	ResHour   time.Duration = time.Hour
)

// MetricKey identifies a series. Name is the service name or the
// environment id; Replica is set for kind "replica" only.
type MetricKey struct {
	Target    string `json:"target"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Replica   string `json:"replica,omitempty"`
	Metric    string `json:"metric"`
}

// MetricPoint is one point. A raw point has Value only (Min, Max and P95
// equal it, Count is 1); a rollup point has Value = average of Count samples.
type MetricPoint struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	P95   float64   `json:"p95"`
	Count int       `json:"n"`
}

// MetricSeries is a key and its points in time order.
type MetricSeries struct {
	MetricKey
	Points []MetricPoint `json:"points"`
}

// MetricQuery selects points of one resolution in [From, To).
type MetricQuery struct {
	Resolution time.Duration
	From, To   time.Time
	Target     string
	Namespace  string
	Kinds      []string // empty: every kind
	Name       string
	Metrics    []string // empty: every metric
	MaxSeries  int      // 0: no bound
}

// MetricsStore keeps the metrics history: raw points and rollups, bounded
// by retention deletes.
type MetricsStore interface {
	// PutMetrics stores the points of each series at resolution res; a point
	// at an existing (series, resolution, time) replaces it.
	PutMetrics(ctx context.Context, res time.Duration, series []MetricSeries) error
	// QueryMetrics returns the matching series ordered by key, points in time order.
	QueryMetrics(ctx context.Context, q MetricQuery) ([]MetricSeries, error)
	// LatestMetricTime is the time of the newest point of resolution res (zero when none).
	LatestMetricTime(ctx context.Context, res time.Duration) (time.Time, error)
	// PruneMetrics deletes points of resolution res older than before, then
	// series left without points; it returns the points deleted.
	PruneMetrics(ctx context.Context, res time.Duration, before time.Time) (int64, error)
}

// WorkloadUsage is the usage of one workload of a runtime: a replica of a
// service (Service set) or an environment (Environment set).
type WorkloadUsage struct {
	Service     string `json:"service,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Environment string `json:"environment,omitempty"`
	ReplicaUsage
}

// UsageLister is the optional capability of measuring every workload of a
// target in one pass (the cAdvisor-named export of the local runtime).
type UsageLister interface {
	Usage(ctx context.Context) ([]WorkloadUsage, error)
}

// EnvironmentUsageReporter is the optional capability of measuring an
// environment's workload. ENOTFOUND when it does not run.
type EnvironmentUsageReporter interface {
	EnvironmentUsage(ctx context.Context, env *Environment) (*ReplicaUsage, error)
}
