package metrics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// Bounds of a history answer.
const (
	MaxPoints = 1000 // per series
	MaxSeries = 500
)

// niceSteps are the steps chosen when a query gives none.
var niceSteps = []time.Duration{
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// History answers queries of the stored metrics, choosing the resolution
// from the range and the step.
type History struct {
	store    berth.MetricsStore
	ret      Retention
	interval time.Duration
	now      func() time.Time
}

// NewHistory reads store; ret and interval are the sampler's (zero: defaults).
func NewHistory(store berth.MetricsStore, ret Retention, interval time.Duration, now func() time.Time) *History {
	if now == nil {
		now = time.Now
	}
	return &History{store: store, ret: ret.withDefaults(), interval: cmp.Or(interval, 15*time.Second), now: now}
}

// Request selects series. Range and Step are durations as the API takes
// them ("90s", "15m", "6h", "7d"); empty Step picks one.
type Request struct {
	Target      string
	Namespace   string
	Service     string
	Environment string
	Replicas    bool     // with Service: each replica's series too
	Metrics     []string // empty: every metric
	Range       string
	Step        string
}

// Result is a history answer (api.MetricsHistory).
type Result = api.MetricsHistory

var knownMetrics = []string{berth.MetricCPU, berth.MetricMemory, berth.MetricNetRx, berth.MetricNetTx,
	berth.MetricRestarts, berth.MetricReady, berth.MetricDesired}

// ParseDuration reads a Go duration or a whole number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 3650 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// FormatDuration writes d as ParseDuration reads it, days when whole.
func FormatDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func resName(res time.Duration) string {
	switch res {
	case berth.ResMinute:
		return "1m"
	case berth.ResHour:
		return "1h"
	}
	return "raw"
}

// Query validates req (INVALID_REQUEST naming range, step or metric) and
// returns at most MaxSeries series of at most MaxPoints points each.
func (h *History) Query(ctx context.Context, req Request, defaultRange time.Duration) (*Result, error) {
	rng := defaultRange
	if req.Range != "" {
		d, err := ParseDuration(req.Range)
		if err != nil || d <= 0 {
			return nil, berth.Invalid("range", "range %q is not a positive duration such as 15m, 6h or 7d", req.Range)
		}
		rng = d
	}
	if rng < time.Minute {
		return nil, berth.Invalid("range", "range must be at least 1m, got %s", FormatDuration(rng))
	}
	if rng > h.ret.Hour {
		return nil, berth.Invalid("range", "range %s exceeds the history kept (%s)", FormatDuration(rng), FormatDuration(h.ret.Hour))
	}
	var step time.Duration
	if req.Step != "" {
		d, err := ParseDuration(req.Step)
		if err != nil || d < time.Second {
			return nil, berth.Invalid("step", "step %q is not a duration of at least 1s", req.Step)
		}
		if d > rng {
			return nil, berth.Invalid("step", "step %s is longer than the range %s", FormatDuration(d), FormatDuration(rng))
		}
		if n := int64(rng / d); n > MaxPoints {
			return nil, berth.Invalid("step", "step %s over %s gives %d points per series; at most %d: use a step of at least %s",
				FormatDuration(d), FormatDuration(rng), n, MaxPoints, FormatDuration((rng+MaxPoints-1)/MaxPoints))
		}
		step = d
	} else {
		step = niceSteps[len(niceSteps)-1]
		for _, s := range niceSteps {
			if s >= h.interval && rng/s <= MaxPoints {
				step = s
				break
			}
		}
	}
	for _, m := range req.Metrics {
		if !slices.Contains(knownMetrics, m) {
			return nil, berth.Invalid("metric", "unknown metric %q; known: %s", m, strings.Join(knownMetrics, ", "))
		}
	}
	if req.Service != "" && req.Environment != "" {
		return nil, berth.Invalid("environment", "give service or environment, not both")
	}

	// The coarsest resolution not coarser than the step whose retention
	// covers the range; else the finest that covers it, and the step grows to it.
	res := berth.ResHour
	switch {
	case rng <= h.ret.Raw && step < berth.ResMinute:
		res = berth.ResRaw
	case rng <= h.ret.Minute && step < berth.ResHour:
		res = berth.ResMinute
	}
	if step < res {
		step = res
	}
	to := h.now().UTC()
	from := to.Add(-rng)
	q := berth.MetricQuery{Resolution: res, From: bucket(from, step), To: to, Target: req.Target, Namespace: req.Namespace,
		Metrics: req.Metrics, MaxSeries: MaxSeries}
	switch {
	case req.Service != "":
		q.Name, q.Kinds = req.Service, []string{berth.SubjectService}
		if req.Replicas {
			q.Kinds = append(q.Kinds, berth.SubjectReplica)
		}
	case req.Environment != "":
		q.Name, q.Kinds = req.Environment, []string{berth.SubjectEnvironment}
	default:
		q.Kinds = []string{berth.SubjectService}
	}
	series, err := h.store.QueryMetrics(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query metrics history: %w", err)
	}
	for i := range series {
		if res == berth.ResRaw {
			series[i].Points = Rollup(series[i].Points, step)
		} else {
			series[i].Points = Merge(series[i].Points, step)
		}
		// The first bucket may start before from: at most MaxPoints+1 buckets.
		if n := len(series[i].Points); n > MaxPoints {
			series[i].Points = series[i].Points[n-MaxPoints:]
		}
	}
	return &Result{From: from, To: to, Range: FormatDuration(rng), Step: FormatDuration(step), Resolution: resName(res), Series: series}, nil
}
