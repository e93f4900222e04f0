package metrics_test

import (
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/metrics"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	seq := func(n int) []float64 { // 1..n
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i + 1)
		}
		return out
	}
	tests := []struct {
		name   string
		values []float64
		want   metrics.Summary
	}{
		{"empty", nil, metrics.Summary{}},
		{"one value", []float64{3}, metrics.Summary{Min: 3, Avg: 3, Max: 3, P95: 3, Count: 1}},
		// Nearest rank: ceil(0.95*20) = 19th smallest.
		{"1..20", seq(20), metrics.Summary{Min: 1, Avg: 10.5, Max: 20, P95: 19, Count: 20}},
		// ceil(0.95*100) = 95th.
		{"1..100", seq(100), metrics.Summary{Min: 1, Avg: 50.5, Max: 100, P95: 95, Count: 100}},
		// ceil(0.95*4) = 4th: with few samples p95 is the max.
		{"unsorted with a spike", []float64{0.2, 5, 0.1, 0.3}, metrics.Summary{Min: 0.1, Avg: 1.4, Max: 5, P95: 5, Count: 4}},
		{"negative and equal", []float64{-1, -1, -1}, metrics.Summary{Min: -1, Avg: -1, Max: -1, P95: -1, Count: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := metrics.Summarize(tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Summarize(%v) = %+v, want %+v", tt.values, got, tt.want)
			}
		})
	}
}

var t0 = time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)

func raw(at time.Duration, v float64) berth.MetricPoint {
	return berth.MetricPoint{Time: t0.Add(at), Value: v, Min: v, Max: v, P95: v, Count: 1}
}

func TestRollupAndMerge(t *testing.T) {
	t.Parallel()
	s := time.Second
	points := []berth.MetricPoint{raw(0, 1), raw(15*s, 2), raw(30*s, 3), raw(45*s, 10), raw(60*s, 4), raw(135*s, 6)}
	rolled := metrics.Rollup(points, time.Minute)
	want := []berth.MetricPoint{
		{Time: t0, Value: 4, Min: 1, Max: 10, P95: 10, Count: 4},
		{Time: t0.Add(time.Minute), Value: 4, Min: 4, Max: 4, P95: 4, Count: 1},
		{Time: t0.Add(2 * time.Minute), Value: 6, Min: 6, Max: 6, P95: 6, Count: 1},
	}
	if !reflect.DeepEqual(rolled, want) {
		t.Fatalf("Rollup:\n got %+v\nwant %+v", rolled, want)
	}
	// Three minutes into one 5-minute bucket: weighted average (16+4+6)/6,
	// min/max over all, p95 the largest p95.
	merged := metrics.Merge(rolled, 5*time.Minute)
	wantMerged := []berth.MetricPoint{{Time: t0, Value: 26.0 / 6, Min: 1, Max: 10, P95: 10, Count: 6}}
	if !reflect.DeepEqual(merged, wantMerged) {
		t.Fatalf("Merge:\n got %+v\nwant %+v", merged, wantMerged)
	}
	if got := metrics.Rollup(nil, time.Minute); len(got) != 0 {
		t.Fatalf("Rollup(nil) = %v", got)
	}
}

// PromQL anchors regexes at both ends, as ^(...)$ does here.
func TestPodRegex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scheme, workload, pod string
		match                 bool
	}{
		{metrics.PodsLocal, "web", "web-0", true},
		{metrics.PodsLocal, "web", "web-12", true},
		{metrics.PodsLocal, "web", "web-api-0", false},
		{metrics.PodsLocal, "web", "web", false},
		{metrics.PodsLocal, "web-api", "web-api-0", true},
		{metrics.PodsKubernetes, "web", "web-7d9f8c6b5d-x2x4z", true},
		{metrics.PodsKubernetes, "web", "web-0", true},
		{metrics.PodsKubernetes, "web", "web-api-7d9f8c6b5d-x2x4z", false},
		{metrics.PodsKubernetes, "web", "web-api-0", false},
		{metrics.PodsKubernetes, "web", "web-db-7d9f8c6b5d-x2x4z", false},
		{metrics.PodsKubernetes, "web", "web-7d9f8c6b5d-x2x4", false},
		{metrics.PodsKubernetes, "web-api", "web-api-5c4b7f9d8-qwz2k", true},
	}
	for _, tt := range tests {
		re := regexp.MustCompile("^(?:" + metrics.PodRegex(tt.scheme, tt.workload) + ")$")
		if got := re.MatchString(tt.pod); got != tt.match {
			t.Errorf("%s pods of %s: %q matches = %v, want %v", tt.scheme, tt.workload, tt.pod, got, tt.match)
		}
	}
}
