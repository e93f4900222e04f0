// Command predict benchmarks GET /api/v1/predictions' core: every service's
// CPU and memory forecast from 7 days of hourly rollups, over a real SQLite
// store. It prints medians of several runs: the first (cold) call of an
// hour, which fits every series, a second (warm) call, answered from the
// hour's cache, and, as the same-run reference, the store query alone.
//
//	go run ./bench/predict -services 1000 -runs 5
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
)

func main() {
	n := flag.Int("services", 1000, "services, each with a CPU and a memory series")
	runs := flag.Int("runs", 5, "runs (medians are printed)")
	flag.Parse()
	if err := run(*n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench predict:", err)
		os.Exit(1)
	}
}

func run(n, runs int) error {
	ctx := context.Background()
	sys := berth.WithActor(ctx, berth.System)
	dir, err := os.MkdirTemp("", "bench-predict-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	sealer, err := secret.NewSealer(key)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "berth.db"), sealer)
	if err != nil {
		return err
	}
	defer st.Close()
	rt, err := local.New(local.Config{DataDir: filepath.Join(dir, "local"), StopGrace: time.Second})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	now := time.Now().UTC()
	if err := seed(sys, st, n, now); err != nil {
		return err
	}
	var cold, warm, query []float64
	var alloc []float64
	for range runs {
		c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: func() time.Time { return now }})
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := st.QueryMetrics(ctx, berth.MetricQuery{Resolution: berth.ResHour, From: now.Add(-core.PredictionWindow), To: now,
			Kinds: []string{berth.SubjectService, berth.SubjectEnvironment}, Metrics: []string{berth.MetricCPU, berth.MetricMemory}}); err != nil {
			return err
		}
		query = append(query, ms(time.Since(t0)))
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		t0 = time.Now()
		preds, err := c.Predictions(sys, core.PredictionQuery{})
		if err != nil {
			return err
		}
		cold = append(cold, ms(time.Since(t0)))
		runtime.ReadMemStats(&m1)
		alloc = append(alloc, float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20))
		if len(preds) != 2*n {
			return fmt.Errorf("%d predictions, want %d", len(preds), 2*n)
		}
		t0 = time.Now()
		if _, err := c.Predictions(sys, core.PredictionQuery{}); err != nil {
			return err
		}
		warm = append(warm, ms(time.Since(t0)))
	}
	fmt.Printf("predictions of %d services × 2 series × 168 hourly points, medians of %d runs\n", n, runs)
	fmt.Printf("  store query alone: %8.1f ms\n", median(query))
	fmt.Printf("  cold (fits all):   %8.1f ms  (%.1f× the query; %.0f µs a series; %.0f MiB allocated)\n",
		median(cold), median(cold)/median(query), 1000*median(cold)/float64(2*n), median(alloc))
	fmt.Printf("  warm (cached):     %8.1f ms  (%.2f× the query)\n", median(warm), median(warm)/median(query))
	return nil
}

// seed stores n services with requests and their hourly CPU and memory.
func seed(ctx context.Context, st *store.Store, n int, now time.Time) error {
	lastHour := now.Truncate(time.Hour).Add(-time.Hour)
	var series []berth.MetricSeries
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		spec := berth.ServiceSpec{Target: "local", Command: []string{"sleep", "1"}, Resources: berth.Resources{CPU: "1", Memory: "1Gi"}}
		if err := st.CreateService(ctx, &berth.Service{Name: name, Target: "local", Status: berth.ServiceStopped, Revision: 1, Managed: true,
			Spec: spec, CreatedAt: now, UpdatedAt: now}, &berth.Revision{Number: 1, Spec: spec, Cause: "create", CreatedAt: now}); err != nil {
			return err
		}
		cpu, mem := make([]berth.MetricPoint, 168), make([]berth.MetricPoint, 168)
		for h := range 168 {
			at := lastHour.Add(time.Duration(h-167) * time.Hour)
			c := 0.2 + 0.001*float64(i%50)*float64(h) + 0.05*math.Sin(float64(h+i))
			m := float64(300<<20) + float64(h)*float64(i%7)*(1<<20)
			cpu[h] = berth.MetricPoint{Time: at, Value: c, Min: c, Max: c, P95: c, Count: 240}
			mem[h] = berth.MetricPoint{Time: at, Value: m, Min: m, Max: m, P95: m, Count: 240}
		}
		series = append(series,
			berth.MetricSeries{MetricKey: berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: name, Metric: berth.MetricCPU}, Points: cpu},
			berth.MetricSeries{MetricKey: berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: name, Metric: berth.MetricMemory}, Points: mem})
		if len(series) >= 200 {
			if err := st.PutMetrics(ctx, berth.ResHour, series); err != nil {
				return err
			}
			series = series[:0]
		}
	}
	return st.PutMetrics(ctx, berth.ResHour, series)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
