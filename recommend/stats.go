// Package recommend is berth's recommendation engine: pure functions from
// a service's or environment's stored state and metric history to
// proposals (berth.Recommendation). It reads nothing and writes nothing;
// core gathers the inputs, calls it and stores what it answers.
package recommend

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/berthhq/berth"
)

// Distribution is a weighted set of samples: rollup points weigh their
// sample count, raw points one.
type Distribution struct {
	vals, p95s []weighted
	max        float64
	samples    int
}

type weighted struct {
	v float64
	w int
}

// Add takes the points of one series. For rollups the p95 is taken over
// the points' own p95s (weighted by their count): an upper bound of the
// true p95 that never under-sizes; p50 over their averages; max over
// their maxima.
func (d *Distribution) Add(points []berth.MetricPoint) {
	for _, p := range points {
		n := max(p.Count, 1)
		d.vals = append(d.vals, weighted{p.Value, n})
		d.p95s = append(d.p95s, weighted{p.P95, n})
		if d.samples == 0 || p.Max > d.max {
			d.max = p.Max
		}
		d.samples += n
	}
}

// Samples is the number of samples the distribution holds.
func (d *Distribution) Samples() int { return d.samples }

// Stats are p50, p95 and max; zero when empty.
func (d *Distribution) Stats() berth.UsageStats {
	if d.samples == 0 {
		return berth.UsageStats{}
	}
	return berth.UsageStats{P50: quantile(d.vals, 0.5), P95: quantile(d.p95s, 0.95), Max: d.max}
}

// quantile is the nearest-rank quantile of weighted values: the smallest
// value whose cumulative weight reaches q of the total.
func quantile(ws []weighted, q float64) float64 {
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b weighted) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	total := 0
	for _, w := range s {
		total += w.w
	}
	rank := int(math.Ceil(q * float64(total)))
	cum := 0
	for _, w := range s {
		cum += w.w
		if cum >= rank {
			return w.v
		}
	}
	return s[len(s)-1].v
}

// Retention is how long each resolution is kept (the sampler's).
type Retention struct {
	Raw, Minute, Hour time.Duration
}

// WithDefaults fills the sampler's default retention (6h, 48h, 30d).
func (r Retention) WithDefaults() Retention {
	if r.Raw <= 0 {
		r.Raw = 6 * time.Hour
	}
	if r.Minute <= 0 {
		r.Minute = 48 * time.Hour
	}
	if r.Hour <= 0 {
		r.Hour = 30 * 24 * time.Hour
	}
	return r
}

// Resolution picks the finest resolution whose retention covers the
// window: raw for hours, 1-minute rollups for days, hourly beyond.
func Resolution(window time.Duration, ret Retention) time.Duration {
	switch {
	case window <= ret.Raw:
		return berth.ResRaw
	case window <= ret.Minute:
		return berth.ResMinute
	}
	return berth.ResHour
}

// ResolutionName is "raw", "1m" or "1h".
func ResolutionName(res time.Duration) string {
	switch res {
	case berth.ResRaw:
		return "raw"
	case berth.ResMinute:
		return "1m"
	}
	return "1h"
}

// FormatWindow writes a window as the API takes it: "7d", "6h", "90m".
func FormatWindow(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}
