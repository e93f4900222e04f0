package store_test

import (
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
)

func rawPoints(start time.Time, step time.Duration, values ...float64) []berth.MetricPoint {
	out := make([]berth.MetricPoint, len(values))
	for i, v := range values {
		out[i] = berth.MetricPoint{Time: start.Add(time.Duration(i) * step).UTC().Truncate(time.Microsecond), Value: v, Min: v, Max: v, P95: v, Count: 1}
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		t0 := base.Truncate(time.Minute)
		cpu := berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: "web", Metric: berth.MetricCPU}
		mem := cpu
		mem.Metric = berth.MetricMemory
		rep := berth.MetricKey{Target: "local", Kind: berth.SubjectReplica, Name: "web", Replica: "web-0", Metric: berth.MetricCPU}
		other := berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: "web-api", Metric: berth.MetricCPU}
		env := berth.MetricKey{Target: "aci-west", Namespace: "", Kind: berth.SubjectEnvironment, Name: "env-1", Metric: berth.MetricMemory}

		latest, err := s.LatestMetricTime(ctx, berth.ResRaw)
		must(t, err)
		equal(t, "latest of empty store", latest, time.Time{})

		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{
			{MetricKey: cpu, Points: rawPoints(t0, 15*time.Second, 0.5, 1, 1.5, 2)},
			{MetricKey: mem, Points: rawPoints(t0, 15*time.Second, 100, 200)},
			{MetricKey: rep, Points: rawPoints(t0, 15*time.Second, 0.25)},
			{MetricKey: other, Points: rawPoints(t0, 15*time.Second, 9)},
			{MetricKey: env, Points: rawPoints(t0.Add(time.Hour), 15*time.Second, 7)},
		}))
		// The same time again replaces the point (a re-run rollup, a retried sample).
		must(t, s.PutMetrics(ctx, berth.ResRaw, []berth.MetricSeries{{MetricKey: cpu, Points: rawPoints(t0, time.Second, 0.75)}}))
		// A rollup of the same series lives beside the raw points.
		roll := berth.MetricPoint{Time: t0.UTC(), Value: 1.25, Min: 0.5, Max: 2, P95: 2, Count: 4}
		must(t, s.PutMetrics(ctx, berth.ResMinute, []berth.MetricSeries{{MetricKey: cpu, Points: []berth.MetricPoint{roll}}}))

		tests := []struct {
			name string
			q    berth.MetricQuery
			want []berth.MetricSeries
		}{
			{"service web, both metrics", berth.MetricQuery{From: t0, To: t0.Add(time.Hour), Name: "web", Kinds: []string{berth.SubjectService}},
				[]berth.MetricSeries{
					{MetricKey: cpu, Points: rawPoints(t0, 15*time.Second, 0.75, 1, 1.5, 2)},
					{MetricKey: mem, Points: rawPoints(t0, 15*time.Second, 100, 200)},
				}},
			{"web and its replicas, cpu only, window cuts the tail", berth.MetricQuery{From: t0, To: t0.Add(30 * time.Second), Name: "web", Metrics: []string{berth.MetricCPU}},
				[]berth.MetricSeries{
					{MetricKey: rep, Points: rawPoints(t0, 15*time.Second, 0.25)},
					{MetricKey: cpu, Points: rawPoints(t0, 15*time.Second, 0.75, 1)},
				}},
			{"max series", berth.MetricQuery{From: t0, To: t0.Add(2 * time.Hour), Target: "local", MaxSeries: 1},
				[]berth.MetricSeries{{MetricKey: rep, Points: rawPoints(t0, 15*time.Second, 0.25)}}},
			{"series without points in the window are left out", berth.MetricQuery{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)},
				[]berth.MetricSeries{{MetricKey: env, Points: rawPoints(t0.Add(time.Hour), 15*time.Second, 7)}}},
			{"minute rollup", berth.MetricQuery{Resolution: berth.ResMinute, From: t0, To: t0.Add(time.Hour)},
				[]berth.MetricSeries{{MetricKey: cpu, Points: []berth.MetricPoint{roll}}}},
			{"nothing", berth.MetricQuery{From: t0, To: t0.Add(time.Hour), Name: "nope"}, []berth.MetricSeries{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.QueryMetrics(ctx, tt.q)
				must(t, err)
				equal(t, "series", got, tt.want)
			})
		}

		latest, err = s.LatestMetricTime(ctx, berth.ResRaw)
		must(t, err)
		equal(t, "latest raw", latest, t0.Add(time.Hour).UTC())

		// Retention: raw points before t0+30s go, the rollup stays, and
		// series left without any point are removed.
		n, err := s.PruneMetrics(ctx, berth.ResRaw, t0.Add(30*time.Second))
		must(t, err)
		equal(t, "pruned raw points", n, int64(2+2+1+1)) // cpu 2, mem 2, rep 1, other 1
		got, err := s.QueryMetrics(ctx, berth.MetricQuery{From: t0, To: t0.Add(2 * time.Hour)})
		must(t, err)
		equal(t, "after prune", got, []berth.MetricSeries{
			{MetricKey: env, Points: rawPoints(t0.Add(time.Hour), 15*time.Second, 7)},
			{MetricKey: cpu, Points: rawPoints(t0.Add(30*time.Second), 15*time.Second, 1.5, 2)},
		})
		var seriesLeft int
		must(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM metric_series").Scan(&seriesLeft))
		equal(t, "series left (cpu with rollup and raw, env)", seriesLeft, 2)
		got, err = s.QueryMetrics(ctx, berth.MetricQuery{Resolution: berth.ResMinute, From: t0, To: t0.Add(time.Hour)})
		must(t, err)
		equal(t, "rollup kept", got, []berth.MetricSeries{{MetricKey: cpu, Points: []berth.MetricPoint{roll}}})
	})
}
