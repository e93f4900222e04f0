// Package recommend is berth's recommendation engine: pure functions from
// a service's or environment's stored state and metric history to
// proposals (berth.Recommendation). It reads nothing and writes nothing;
// core gathers the inputs, calls it and stores what it answers.
package recommend

import (
	"cmp"
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
	stats      *berth.UsageStats // computed once
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
	d.vals = slices.Grow(d.vals, len(points))
	d.p95s = slices.Grow(d.p95s, len(points))
	d.stats = nil
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

// Max is the largest sample.
func (d *Distribution) Max() float64 { return d.max }

// Stats are p50, p95 and max; zero when empty. It sorts the
// distribution's own samples (once).
func (d *Distribution) Stats() berth.UsageStats {
	if d.samples == 0 {
		return berth.UsageStats{}
	}
	if d.stats == nil {
		d.stats = &berth.UsageStats{P50: quantile(d.vals, 0.5), P95: quantile(d.p95s, 0.95), Max: d.max}
	}
	return *d.stats
}

// quantile is the nearest-rank quantile of weighted values: the smallest
// value whose cumulative weight reaches q of the total. It sorts ws; when
// every weight is the same (raw points, rollups of one interval) it sorts
// the bare values, several times faster.
func quantile(ws []weighted, q float64) float64 {
	uniform := true
	for _, w := range ws {
		if w.w != ws[0].w {
			uniform = false
			break
		}
	}
	if uniform {
		vs := make([]float64, len(ws))
		for i, w := range ws {
			vs[i] = w.v
		}
		rank := int(math.Ceil(q * float64(len(vs))))
		return selectKth(vs, max(rank, 1)-1)
	}
	slices.SortFunc(ws, func(a, b weighted) int { return cmp.Compare(a.v, b.v) })
	total := 0
	for _, w := range ws {
		total += w.w
	}
	rank := int(math.Ceil(q * float64(total)))
	cum := 0
	for _, w := range ws {
		cum += w.w
		if cum >= rank {
			return w.v
		}
	}
	return ws[len(ws)-1].v
}

// selectKth answers the k-th smallest of vs (0-based) in linear expected
// time (quickselect, median-of-three pivots), reordering vs.
func selectKth(vs []float64, k int) float64 {
	lo, hi := 0, len(vs)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if vs[mid] < vs[lo] {
			vs[mid], vs[lo] = vs[lo], vs[mid]
		}
		if vs[hi] < vs[lo] {
			vs[hi], vs[lo] = vs[lo], vs[hi]
		}
		if vs[hi] < vs[mid] {
			vs[hi], vs[mid] = vs[mid], vs[hi]
		}
		pivot := vs[mid]
		i, j := lo, hi
		for i <= j {
			for vs[i] < pivot {
				i++
			}
			for vs[j] > pivot {
				j--
			}
			if i <= j {
				vs[i], vs[j] = vs[j], vs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return vs[k]
		}
	}
	return vs[k]
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
