package berth

import (
	"context"
	"time"
)

// Metering (docs/usage.md): every environment and service holds a shape
// (running replicas, cores, memory, storage) that changes only at status
// transitions. The store records each change as the close of one interval
// and the open of the next, in the transaction that writes the state, so
// a crash can never keep one without the other.

// UsageShape is what a resource holds at one moment: cores and memory are
// totals over its running replicas.
type UsageShape struct {
	Replicas  int
	CPUCores  float64
	MemoryGB  float64
	StorageGB float64
}

// IsZero says whether the shape holds nothing (no interval is kept for it).
func (s UsageShape) IsZero() bool {
	return s.Replicas == 0 && s.CPUCores == 0 && s.MemoryGB == 0 && s.StorageGB == 0
}

// EnvironmentShape is what an environment is metered for: its size while
// RUNNING (observed), its storage for as long as it exists, stopped or not.
func EnvironmentShape(e *Environment) UsageShape {
	s := UsageShape{StorageGB: float64(e.StorageGB)}
	if e.Status == EnvRunning {
		s.Replicas, s.CPUCores, s.MemoryGB = 1, float64(e.CPUCores), float64(e.MemoryGB)
	}
	return s
}

// ServiceShape is what a service is metered for: its ready replicas times
// each one's requests (ServicePerReplica), nothing while stopped.
func ServiceShape(s *Service) UsageShape {
	if s.Stopped || s.ReadyReplicas <= 0 {
		return UsageShape{}
	}
	cpu, mem := ServicePerReplica(s.Spec)
	n := float64(s.ReadyReplicas)
	return UsageShape{Replicas: s.ReadyReplicas, CPUCores: cpu * n, MemoryGB: mem * n}
}

// Usage groupings of GET /api/v1/usage.
const (
	GroupByUser        = "user"
	GroupByEnvironment = "environment"
	GroupByService     = "service"
	GroupByTarget      = "target"
	GroupByDay         = "day"
	GroupByMonth       = "month"
)

// UsageQuery selects metered usage: intervals clipped to [From, To),
// grouped by GroupBy, of one user when UserID is set. Open intervals end at
// Now.
type UsageQuery struct {
	From, To, Now time.Time
	GroupBy       string
	UserID        string
}

// UsageAgg is one group's usage on one target, in resource-seconds as the
// store sums them (hours and cost are computed by core).
type UsageAgg struct {
	Key, Name, Target                     string
	CPUCoreSec, MemoryGBSec, StorageGBSec float64
	ReplicaSec                            float64
}

// UsageStore keeps the metered intervals.
type UsageStore interface {
	// UsageHeartbeat marks every open interval seen at now. With
	// staleAfter > 0, an open interval last seen before now-staleAfter
	// (berth was down) is first closed at its last_seen and opened again at
	// now, so the time nobody ran is not metered. It answers how many it
	// cut so.
	UsageHeartbeat(ctx context.Context, now time.Time, staleAfter time.Duration) (int, error)
	// UsageAggregate sums the intervals of q by (group key, target); for
	// GroupByDay and GroupByMonth the key is the bucket's (UsageBuckets),
	// all buckets in one answer (a bucket without usage has no entry);
	// GroupBy "" is one group, key "".
	UsageAggregate(ctx context.Context, q UsageQuery) ([]UsageAgg, error)
}

// UsageBucket is one day or month of a report, clipped to its range.
type UsageBucket struct {
	Key      string // 2026-01-02 (day) or 2026-01 (month)
	From, To time.Time
}

// UsageBuckets splits [from, to) into UTC days (GroupByDay) or months
// (GroupByMonth), the first and last clipped to the range. ok is false
// when there would be more than limit (limit > 0).
func UsageBuckets(from, to time.Time, groupBy string, limit int) (out []UsageBucket, ok bool) {
	from, to = from.UTC(), to.UTC()
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	next, layout := func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }, "2006-01-02"
	if groupBy == GroupByMonth {
		start = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
		next, layout = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }, "2006-01"
	}
	for b := start; b.Before(to); b = next(b) {
		if limit > 0 && len(out) == limit {
			return nil, false
		}
		bf, bt := b, next(b)
		if bf.Before(from) {
			bf = from
		}
		if bt.After(to) {
			bt = to
		}
		out = append(out, UsageBucket{Key: b.Format(layout), From: bf, To: bt})
	}
	return out, true
}

// UsageRow is one group of a usage report: hours of cores, memory and
// storage held, running hours (replica-hours for services) and their cost.
type UsageRow struct {
	Key            string  `json:"key"`
	Name           string  `json:"name"`
	CPUCoreHours   float64 `json:"cpuCoreHours"`
	MemoryGBHours  float64 `json:"memoryGBHours"`
	StorageGBHours float64 `json:"storageGBHours"`
	RunningHours   float64 `json:"runningHours"`
	Cost           float64 `json:"cost"`
}

// UsageReport is GET /api/v1/usage.
type UsageReport struct {
	Usage    []UsageRow `json:"usage"`
	Total    UsageRow   `json:"total"`
	Currency string     `json:"currency"`
	From     time.Time  `json:"from"`
	To       time.Time  `json:"to"`
	GroupBy  string     `json:"groupBy"`
}
