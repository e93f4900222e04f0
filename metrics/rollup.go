package metrics

import (
	"math"
	"slices"
	"time"

	"github.com/berthhq/berth"
)

// Summary is min, average, max and 95th percentile of some values.
type Summary struct {
	Min, Avg, Max, P95 float64
	Count              int
}

// Summarize computes the summary of values (Count 0 when empty). P95 is
// the nearest-rank percentile: the smallest value that at least 95% of the
// values do not exceed, so it is always one of the values (KRR reads it
// as "the CPU this workload needs 95% of the time").
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	rank := int(math.Ceil(0.95 * float64(len(v))))
	return Summary{Min: v[0], Max: v[len(v)-1], Avg: sum / float64(len(v)), P95: v[rank-1], Count: len(v)}
}

func (s Summary) point(t time.Time) berth.MetricPoint {
	return berth.MetricPoint{Time: t, Value: s.Avg, Min: s.Min, Max: s.Max, P95: s.P95, Count: s.Count}
}

// bucket is the start of the step-aligned bucket holding t (steps that
// divide a day start on whole minutes and hours UTC).
func bucket(t time.Time, step time.Duration) time.Time {
	return t.Truncate(step).UTC()
}

// Rollup summarises raw points into one point per step bucket, each
// bucket's summary computed from its raw values.
func Rollup(points []berth.MetricPoint, step time.Duration) []berth.MetricPoint {
	out := []berth.MetricPoint{}
	var vals []float64
	var cur time.Time
	flush := func() {
		if len(vals) > 0 {
			out = append(out, Summarize(vals).point(cur))
		}
		vals = vals[:0]
	}
	for _, p := range points {
		b := bucket(p.Time, step)
		if !b.Equal(cur) {
			flush()
			cur = b
		}
		vals = append(vals, p.Value)
	}
	flush()
	return out
}

// Merge combines rollup points into one point per step bucket: min of
// the minima, max of the maxima, the count-weighted average, and as P95 the
// largest P95 (an upper bound: percentiles of parts do not combine exactly).
func Merge(points []berth.MetricPoint, step time.Duration) []berth.MetricPoint {
	out := []berth.MetricPoint{}
	for _, p := range points {
		b := bucket(p.Time, step)
		n := max(p.Count, 1)
		if len(out) > 0 && out[len(out)-1].Time.Equal(b) {
			last := &out[len(out)-1]
			total := last.Count + n
			last.Value = (last.Value*float64(last.Count) + p.Value*float64(n)) / float64(total)
			last.Min = min(last.Min, p.Min)
			last.Max = max(last.Max, p.Max)
			last.P95 = max(last.P95, p.P95)
			last.Count = total
			continue
		}
		p.Time, p.Count = b, n
		out = append(out, p)
	}
	return out
}
