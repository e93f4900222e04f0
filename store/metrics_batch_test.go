package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// tick is what the sampler writes every tick: one point for each of n
// series (services, their replicas, environments), at t.
func tick(n int, t time.Time, v float64) []berth.MetricSeries {
	out := make([]berth.MetricSeries, n)
	for i := range out {
		out[i] = berth.MetricSeries{
			MetricKey: berth.MetricKey{Target: "kube", Namespace: fmt.Sprintf("ns-%d", i%100), Kind: berth.SubjectService,
				Name: fmt.Sprintf("svc-%d", i/3), Metric: []string{berth.MetricCPU, berth.MetricMemory, berth.MetricNetRx}[i%3]},
			Points: rawPoints(t, 0, v+float64(i)),
		}
	}
	return out
}

// TestPutMetricsBatches writes more series than one statement carries, a
// key given twice and a point given twice in one call: every series gets
// its id, and the later of two points at one time wins, as it did when
// each row was its own statement.
func TestPutMetricsBatches(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.Truncate(time.Minute)
		series := tick(451, t0, 0)
		dup := series[7]
		dup.Points = rawPoints(t0, 0, -1)
		later := series[7]
		later.Points = rawPoints(t0.Add(15*time.Second), 0, 42)
		series = append(series, dup, later)
		must(t, s.PutMetrics(ctx, berth.ResRaw, series))
		// A second tick: existing series, new points, one replaced.
		must(t, s.PutMetrics(ctx, berth.ResRaw, tick(451, t0.Add(time.Minute), 1000)))
		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{{MetricKey: series[450].MetricKey, Points: rawPoints(t0, 0, 7)}}))

		got, err := s.QueryMetrics(ctx, berth.MetricQuery{From: t0, To: t0.Add(time.Hour), Name: series[7].Name, Metrics: []string{series[7].Metric}})
		must(t, err)
		equal(t, "series 7", got, []berth.MetricSeries{{MetricKey: series[7].MetricKey,
			Points: append(rawPoints(t0, 15*time.Second, -1, 42), rawPoints(t0.Add(time.Minute), 0, 1007)...)}})
		got, err = s.QueryMetrics(ctx, berth.MetricQuery{From: t0, To: t0.Add(time.Hour), Name: series[450].Name, Metrics: []string{series[450].Metric}})
		must(t, err)
		equal(t, "series 450", got, []berth.MetricSeries{{MetricKey: series[450].MetricKey,
			Points: append(rawPoints(t0, 0, 7), rawPoints(t0.Add(time.Minute), 0, 1450)...)}})
		all, err := s.QueryMetrics(ctx, berth.MetricQuery{From: t0, To: t0.Add(time.Hour), MaxSeries: 1000})
		must(t, err)
		points := 0
		for _, ser := range all {
			points += len(ser.Points)
		}
		equal(t, "series, points", [2]int{len(all), points}, [2]int{451, 451*2 + 1})
	})
}

// BenchmarkPutMetrics times one sampler tick of 30,000 series (10,000
// services × 3 metrics) on SQLite, batched against the row-by-row
// reference in the same run: go test ./store -run '^$' -bench PutMetrics -count 5
func BenchmarkPutMetrics(b *testing.B) {
	const n = 30000
	for _, impl := range []struct {
		name string
		put  func(*store.Store, []berth.MetricSeries) error
	}{
		{"batched", func(s *store.Store, ser []berth.MetricSeries) error { return s.PutMetrics(ctx, berth.ResRaw, ser) }},
		{"row-by-row", func(s *store.Store, ser []berth.MetricSeries) error {
			return s.PutMetricsRowByRow(ctx, berth.ResRaw, ser)
		}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			s := storetest.Open(b, "sqlite", nil)
			t0 := base.Truncate(time.Minute)
			if err := impl.put(s, tick(n, t0, 0)); err != nil { // the series exist, as after the first tick
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				if err := impl.put(s, tick(n, t0.Add(time.Duration(i)*15*time.Second), 0)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "points/op")
		})
	}
}

// TestPutMetricsAfterPrune: a series whose id PutMetrics remembers is
// deleted, by this store's prune or behind its back as another replica's
// prune would; its next points still land, under a new series.
func TestPutMetricsAfterPrune(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.Truncate(time.Minute)
		a, b := tick(2, t0, 1)[0], tick(2, t0, 1)[1]
		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{a, b}))

		// Another replica prunes a's points and then its series.
		for _, q := range []string{
			"DELETE FROM metric_points WHERE series_id IN (SELECT id FROM metric_series WHERE name = 'svc-0' AND metric = 'cpu')",
			"DELETE FROM metric_series WHERE name = 'svc-0' AND metric = 'cpu'",
		} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		a.Points = rawPoints(t0.Add(time.Minute), 0, 2)
		b.Points = rawPoints(t0.Add(time.Minute), 0, 3)
		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{a, b}))

		// This store's own prune: every point so far goes, and with them
		// both series; a third tick after it.
		_, err := s.PruneMetrics(ctx, berth.ResRaw, t0.Add(2*time.Minute))
		must(t, err)
		a.Points = rawPoints(t0.Add(3*time.Minute), 0, 4)
		b.Points = rawPoints(t0.Add(3*time.Minute), 0, 5)
		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{a, b}))

		got, err := s.QueryMetrics(ctx, berth.MetricQuery{From: t0, To: t0.Add(time.Hour)})
		must(t, err)
		equal(t, "series", got, []berth.MetricSeries{
			{MetricKey: a.MetricKey, Points: rawPoints(t0.Add(3*time.Minute), 0, 4)},
			{MetricKey: b.MetricKey, Points: rawPoints(t0.Add(3*time.Minute), 0, 5)},
		})
	})
}
