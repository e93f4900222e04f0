// Command recommend benchmarks the recommendations (make bench-recommend).
// It is not a test: the machine is shared and noisy, so it prints medians
// of several runs, and the targets:
//
//   - the engine (package recommend: rightsize, scale, stop-idle,
//     rollback) over 1,000 services × 7 days of 1-minute rollups, one
//     replica each (10,080 cpu and 10,080 memory points per service):
//     time and the extra heap it takes (target < 5 s, < 200 MB). The
//     series are built once (16 distinct ones, used round-robin: the
//     engine is pure, so reading the same input costs the same) and are
//     not counted; the engine's allocations and peak heap above that are.
//   - GET /api/v1/recommendations (default page, pageSize 20 and 200) p99
//     on a real berth with 1,000 OPEN recommendations (target < 20 ms);
//     the reference is GET /api/v1/auth/me in the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/berthproc"
	"github.com/berthhq/berth/recommend"
	"github.com/berthhq/berth/store"
)

func main() {
	bin := flag.String("berth", "bin/berth", "berth binary")
	runs := flag.Int("runs", 5, "runs per measurement")
	services := flag.Int("services", 1000, "services for the engine run")
	recs := flag.Int("recs", 1000, "open recommendations for the list benchmark")
	requests := flag.Int("requests", 300, "requests per list run")
	flag.Parse()
	if err := engineBench(*runs, *services); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := listBench(*bin, *runs, *recs, *requests); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const week = 7 * 24 * 60 // 1-minute rollups in 7 days

// rollups makes a week of 1-minute rollups around base with daily waves and noise.
func rollups(r *rand.Rand, name, metric string, base float64, end time.Time) berth.MetricSeries {
	s := berth.MetricSeries{MetricKey: berth.MetricKey{Target: "local", Kind: berth.SubjectReplica, Name: name, Replica: name + "-0", Metric: metric},
		Points: make([]berth.MetricPoint, week)}
	for i := range week {
		at := end.Add(-time.Duration(week-i) * time.Minute)
		wave := 1 + 0.3*math.Sin(2*math.Pi*float64(i)/(24*60))
		v := base * wave * (0.9 + 0.2*r.Float64())
		s.Points[i] = berth.MetricPoint{Time: at, Value: v, Min: v * 0.8, Max: v * 1.3, P95: v * 1.2, Count: 4}
	}
	return s
}

func engineBench(runs, n int) error {
	end := time.Now().UTC().Truncate(time.Minute)
	r := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- synthetic usage series, seeded for repeatable runs

	type input struct{ cpu, mem []berth.MetricSeries }
	pool := make([]input, 16)
	for i := range pool {
		pool[i] = input{cpu: []berth.MetricSeries{rollups(r, "svc", berth.MetricCPU, 0.05+0.1*float64(i), end)},
			mem: []berth.MetricSeries{rollups(r, "svc", berth.MetricMemory, float64((64+32*i)<<20), end)}}
	}
	cfg := recommend.Config{Window: 7 * 24 * time.Hour, MinSamples: 100}
	prices := berth.DefaultPrices("LOCAL")
	var times, peaks, allocs, refs []float64
	proposals := 0
	for run := 0; run < runs; run++ {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseHeap, baseAlloc := ms.HeapAlloc, ms.TotalAlloc
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // samples the heap while the engine runs
			defer close(done)
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > peak.Load() {
						peak.Store(m.HeapAlloc)
					}
				}
			}
		}()
		t0 := time.Now()
		proposals = 0
		for i := range n {
			in := pool[i%len(pool)]
			replicas := 1 + i%3
			svc := &berth.Service{Name: fmt.Sprintf("svc-%d", i), Target: "local", Replicas: replicas, Revision: 1, Managed: true,
				Spec: berth.ServiceSpec{Replicas: &replicas, Resources: berth.Resources{CPU: "1", Memory: "1Gi"}}}
			si := recommend.ServiceInput{Service: svc, Prices: prices, Now: end, Resolution: berth.ResMinute, ReplicaCPU: in.cpu, ReplicaMemory: in.mem}
			si.Summarize()
			rs := recommend.Rightsize(cfg, si)
			var sc *berth.Recommendation
			if rs == nil {
				sc = recommend.Scale(cfg, si)
			}
			for _, p := range []*berth.Recommendation{rs, sc, recommend.StopIdleService(cfg, si), recommend.Rollback(cfg, si)} {
				if p != nil {
					proposals++
				}
			}
		}
		d := time.Since(t0)
		close(stop)
		<-done
		runtime.ReadMemStats(&ms)
		times = append(times, d.Seconds())
		refs = append(refs, reference(pool[0].cpu[0].Points, n).Seconds())
		extra := float64(0)
		if p := peak.Load(); p > baseHeap {
			extra = float64(p-baseHeap) / (1 << 20)
		}
		peaks = append(peaks, extra)
		allocs = append(allocs, float64(ms.TotalAlloc-baseAlloc)/(1<<20))
	}
	fmt.Printf("engine: %d services × 7 days of 1-minute rollups (%d points per series), %d runs, %d proposals per run\n",
		n, week, runs, proposals)
	fmt.Printf("  time         median %.3f s (min %.3f, max %.3f)   target < 5 s\n", median(times), minOf(times), maxOf(times))
	fmt.Printf("  reference    median %.3f s: copying and sorting 4 × %d values per service (exact quantiles by sorting, what the engine did before quickselect); engine/reference %.2f\n",
		median(refs), week, median(times)/median(refs))
	fmt.Printf("  load average %s (the machine is shared: absolute times scale with it, the ratio does not)\n", loadavg())
	fmt.Printf("  extra heap   median peak %.1f MB above the inputs (allocated %.1f MB per run)   target < 200 MB\n", median(peaks), median(allocs))
	return nil
}

// reference copies and sorts 4 series' values per service: what any exact
// p50/p95 of cpu and memory costs at least.
func reference(points []berth.MetricPoint, n int) time.Duration {
	t0 := time.Now()
	for range n {
		for range 4 {
			vs := make([]float64, len(points))
			for i, p := range points {
				vs[i] = p.Value
			}
			slices.Sort(vs)
		}
	}
	return time.Since(t0)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil || len(b) < 14 {
		return "unknown"
	}
	return string(b[:14])
}

func listBench(bin string, runs, n, requests int) error {
	dir, err := os.MkdirTemp("", "bench-recommend-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("BERTH_RECOMMEND_INTERVAL", "off"); err != nil {
		return err
	}
	s, err := berthproc.Start(bin, dir, "targets:\n  - name: local\n    type: local\n")
	if err != nil {
		return err
	}
	defer s.Stop()
	// The OPEN recommendations go straight into berth's database (the engine
	// would need 1,000 running services and their history to raise them).
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "data", "berth.db"), nopSealer{})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := range n {
		cpu := fmt.Sprintf("%dm", 50+i%500)
		rec := &berth.Recommendation{Kind: berth.RecRightsize, Source: berth.RecSourceBerth, Target: "local",
			Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: fmt.Sprintf("svc-%04d", i)}, Title: "Rightsize svc",
			Reason: "Over 7d a replica used little.", Confidence: "high",
			Current:  berth.RecState{Resources: &berth.Resources{CPU: "2", Memory: "2Gi"}, Revision: 1},
			Proposed: berth.RecState{Resources: &berth.Resources{CPU: cpu, Memory: "256Mi"}},
			Evidence: berth.Evidence{Window: "7d", Resolution: "1h", Samples: 40320, CPU: &berth.UsageStats{P50: 0.03, P95: 0.05, Max: 0.2},
				Memory: &berth.UsageStats{P50: 2e8, P95: 2.1e8, Max: 2.2e8}},
			MonthlySaving: berth.Saving{Amount: 50, Currency: "USD"}}
		if _, err := st.SaveRecommendation(ctx, rec, now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			return err
		}
	}
	_ = st.Close()
	var total struct{ Total int }
	if err := s.Do("GET", "/api/v1/recommendations", nil, &total); err != nil {
		return err
	}
	fmt.Printf("GET /api/v1/recommendations with %d OPEN recommendations (berth answers total %d), %d requests per run, %d runs\n", n, total.Total, requests, runs)
	for _, path := range []string{"/api/v1/recommendations", "/api/v1/recommendations?pageSize=200", "/api/v1/recommendations?status=OPEN&kind=rightsize&service=svc-0500", "/api/v1/auth/me"} {
		var p50s, p99s []float64
		for run := 0; run < runs; run++ {
			var ds []time.Duration
			for range requests {
				t0 := time.Now()
				if err := s.Do("GET", path, nil, nil); err != nil {
					return err
				}
				ds = append(ds, time.Since(t0))
			}
			p50s, p99s = append(p50s, pct(ds, 0.5)), append(p99s, pct(ds, 0.99))
		}
		target := "   target p99 < 20 ms"
		if path == "/api/v1/auth/me" {
			target = "   (reference)"
		}
		fmt.Printf("  %-62s p50 %.2f ms  p99 %.2f ms (medians of runs)%s\n", path, median(p50s), median(p99s), target)
	}
	return nil
}

type nopSealer struct{}

func (nopSealer) Seal(b []byte) ([]byte, error) { return b, nil }
func (nopSealer) Open(b []byte) ([]byte, error) { return b, nil }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(xs []float64) float64 { s := append([]float64(nil), xs...); sort.Float64s(s); return s[0] }
func maxOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)-1]
}

func pct(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}
