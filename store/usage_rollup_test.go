package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestUsageRollupMatchesIntervals: environments and services of three
// users driven through five simulated months of random transitions with an
// injected clock (intervals spanning month and day boundaries, transitions
// exactly at a month boundary or at midnight, two writes in one instant, a
// crash whose open intervals the next start cuts at their last heartbeat,
// intervals still open at the end), then 400 random reports — ranges cut
// anywhere (mid-day, mid-month), at midnights or on month boundaries,
// inside one day or across one midnight, every grouping, everyone or one
// user, now at the end or earlier — answered from the roll-up and the
// cumulative series equal the answers from the intervals alone to the
// millisecond; by day and by month they equal one raw query per bucket.
// The roll-up and cumulative series kept by the closing transactions
// equal ones rebuilt from scratch, and ones rebuilt by migrations 0011 and
// 0012 on a database that had the intervals but not the tables. Both
// stores.
func TestUsageRollupMatchesIntervals(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			url := storetest.URL(t, kind)
			sealer := storetest.NewSealer()
			s, err := store.Open(ctx, url, sealer)
			must(t, err)
			defer func() {
				if s != nil {
					_ = s.Close()
				}
			}()
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 14)) // #nosec G404 -- test data
			start, end := simulateUsage(t, s, rng)
			for i := range 400 {
				q := randomUsageQuery(rng, start, end)
				compareUsage(t, s, fmt.Sprintf("query %d %+v", i, q), q)
			}
			kept := rollupRows(t, s)
			if len(kept) == 0 {
				t.Fatal("the roll-up is empty after five months of transitions")
			}
			must(t, s.RebuildUsageRollup(ctx))
			equal(t, "roll-up kept by closing transactions vs rebuilt", rollupRows(t, s), kept)
			// A database from before migration 0011: the migrations' steps
			// fill the roll-up and the cumulative series from the
			// intervals already closed.
			for _, table := range []string{"usage_rollup", "usage_rollup_users", "usage_crossings", "usage_cumulative",
				"usage_cumulative_targets", "usage_cumulative_keys"} {
				_, err = s.DB().Exec(`DROP TABLE ` + table)
				must(t, err)
			}
			for _, index := range []string{"usage_intervals_resource", "usage_intervals_opened"} {
				_, err = s.DB().Exec(`DROP INDEX ` + index)
				must(t, err)
			}
			_, err = s.DB().Exec(`DELETE FROM schema_migrations WHERE version IN (11, 12)`)
			must(t, err)
			must(t, s.Close())
			s, err = store.Open(ctx, url, sealer)
			must(t, err)
			equal(t, "roll-up after migrations 0011 and 0012's backfill", rollupRows(t, s), kept)
		})
	}
}

var (
	monthStarts = func() []time.Time {
		var out []time.Time
		for m := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC); m.Year() < 2027; m = m.AddDate(0, 1, 0) {
			out = append(out, m)
		}
		return out
	}()
	rollupUsers   = []string{"u1", "u2", "u3"}
	rollupTargets = []string{"a", "b"}
)

// simulateUsage drives 8 environments and 5 services through random
// transitions from mid-January to early June 2026.
func simulateUsage(t *testing.T, s *store.Store, rng *rand.Rand) (start, end time.Time) {
	ctx := berth.WithActor(context.Background(), berth.System)
	clk := &fakeClock{now: time.Date(2026, 1, 17, 8, 0, 0, 0, time.UTC)}
	s.SetClock(clk.Now)
	start = clk.Now()
	envs := make([]*berth.Environment, 8)
	for i := range envs {
		envs[i] = &berth.Environment{ID: fmt.Sprintf("env-%d", i), Name: fmt.Sprintf("e%d", i), UserID: rollupUsers[i%3],
			Target: rollupTargets[i%2], Status: berth.EnvCreating, CPUCores: 1 + i%4, MemoryGB: 2 + i, StorageGB: 10 * (1 + i%3)}
	}
	svcs := make([]*berth.Service, 5)
	for i := range svcs {
		svcs[i], _ = newService(rollupTargets[i%2], "", fmt.Sprintf("web%d", i))
		svcs[i].Owner, svcs[i].Status = rollupUsers[(i+1)%3], berth.ServiceRunning
	}
	envLive, svcLive := make([]bool, len(envs)), make([]bool, len(svcs))
	crashed := false
	for clk.Now().Before(time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)) {
		switch r := rng.IntN(20); {
		case r == 0: // the next transition exactly at a month boundary
			clk.Set(monthStarts[sort.Search(len(monthStarts), func(i int) bool { return monthStarts[i].After(clk.Now()) })])
		case r == 1: // a second write in the same instant
		case r == 2: // the next transition exactly at midnight
			clk.Set(clk.Now().Truncate(24 * time.Hour).Add(24 * time.Hour))
		default:
			clk.Set(clk.Now().Add(time.Duration(rng.Int64N(int64(9 * 24 * time.Hour)))).Truncate(time.Microsecond))
		}
		if !crashed && clk.Now().After(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)) {
			// berth crashes: the last heartbeat, 30 h of nothing, the start
			// cuts every open interval at that heartbeat.
			_, err := s.UsageHeartbeat(ctx, clk.Now(), 0)
			must(t, err)
			clk.Set(clk.Now().Add(30 * time.Hour))
			n, err := s.UsageHeartbeat(ctx, clk.Now(), time.Minute)
			must(t, err)
			if n == 0 {
				t.Fatal("the start after the crash cut no open interval")
			}
			crashed = true
			continue
		}
		if i := rng.IntN(len(envs) + len(svcs)); i < len(envs) {
			stepEnvironment(t, ctx, s, rng, envs[i], &envLive[i])
		} else {
			stepService(t, ctx, s, rng, svcs[i-len(envs)], &svcLive[i-len(envs)])
		}
	}
	return start, clk.Now()
}

func stepEnvironment(t *testing.T, ctx context.Context, s *store.Store, rng *rand.Rand, e *berth.Environment, live *bool) {
	t.Helper()
	switch {
	case !*live:
		e.Status, e.Stopped = berth.EnvCreating, false
		must(t, s.CreateEnvironment(ctx, e))
		*live = true
	case rng.IntN(12) == 0:
		must(t, s.DeleteEnvironment(ctx, e.ID))
		*live = false
	default:
		if e.Status == berth.EnvRunning {
			e.Status, e.Stopped = berth.EnvStopped, true
		} else {
			e.Status, e.Stopped = berth.EnvRunning, false
		}
		if rng.IntN(4) == 0 { // resized while stopped or started
			e.CPUCores, e.StorageGB = 1+rng.IntN(8), 10*(1+rng.IntN(5))
		}
		must(t, s.UpdateEnvironment(ctx, e))
	}
}

func stepService(t *testing.T, ctx context.Context, s *store.Store, rng *rand.Rand, svc *berth.Service, live *bool) {
	t.Helper()
	switch {
	case !*live:
		svc.ReadyReplicas, svc.Stopped = 1+rng.IntN(3), false
		spec := svc.Spec
		must(t, s.CreateService(ctx, svc, &berth.Revision{Number: svc.Revision, Spec: spec, Cause: "create"}))
		*live = true
	case rng.IntN(12) == 0:
		must(t, s.DeleteService(ctx, svc.Ref()))
		*live = false
	default:
		svc.ReadyReplicas, svc.Stopped = rng.IntN(5), rng.IntN(5) == 0
		must(t, s.UpdateService(ctx, svc, nil))
	}
}

// randomUsageQuery is a range cut anywhere (mid-day, mid-month), at
// midnights or on month boundaries, or a short one inside a day or across
// one midnight, with a random grouping, user and now.
func randomUsageQuery(rng *rand.Rand, start, end time.Time) berth.UsageQuery {
	instant := func() time.Time {
		span := end.Sub(start) + 40*24*time.Hour
		t := start.Add(-20*24*time.Hour + time.Duration(rng.Int64N(int64(span)))).Truncate(time.Microsecond)
		switch rng.IntN(4) {
		case 0:
			return monthStarts[rng.IntN(len(monthStarts)-5)]
		case 1:
			return t.Truncate(24 * time.Hour) // midnight: whole days only
		}
		return t
	}
	from, to := instant(), instant()
	for !from.Before(to) {
		from, to = instant(), instant()
	}
	if rng.IntN(6) == 0 { // inside one day, or across one midnight
		to = from.Add(time.Duration(1 + rng.Int64N(int64(36*time.Hour)))).Truncate(time.Microsecond)
		if !from.Before(to) {
			to = from.Add(time.Microsecond)
		}
	}
	groups := []string{"", berth.GroupByUser, berth.GroupByEnvironment, berth.GroupByService, berth.GroupByTarget,
		berth.GroupByDay, berth.GroupByMonth, berth.GroupByMonth}
	q := berth.UsageQuery{From: from, To: to, Now: end, GroupBy: groups[rng.IntN(len(groups))]}
	if rng.IntN(3) == 0 {
		q.UserID = rollupUsers[rng.IntN(len(rollupUsers))]
	}
	if rng.IntN(4) == 0 { // a report as of an earlier moment clips at it
		q.Now = end.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))).Truncate(time.Microsecond)
	}
	return q
}

// compareUsage checks the roll-up's answer to q against the intervals
// alone: the same groups, names and sums within a millisecond of each
// resource-second.
func compareUsage(t *testing.T, s *store.Store, what string, q berth.UsageQuery) {
	t.Helper()
	got, err := s.UsageAggregate(ctx, q)
	must(t, err)
	want, err := s.UsageAggregateRaw(ctx, q)
	must(t, err)
	if q.GroupBy == berth.GroupByDay || q.GroupBy == berth.GroupByMonth {
		want = perBucket(t, s, q) // the old way: one raw query per bucket
	}
	g, w := byKeyTarget(got), byKeyTarget(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d groups from the roll-up, %d from the intervals:\n got %+v\nwant %+v", what, len(g), len(w), got, want)
	}
	for k, wa := range w {
		ga, ok := g[k]
		if !ok {
			t.Fatalf("%s: group %v missing from the roll-up's answer", what, k)
		}
		if ga.Name != wa.Name {
			t.Errorf("%s: group %v named %q, want %q", what, k, ga.Name, wa.Name)
		}
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"cpu", ga.CPUCoreSec, wa.CPUCoreSec}, {"memory", ga.MemoryGBSec, wa.MemoryGBSec},
			{"storage", ga.StorageGBSec, wa.StorageGBSec}, {"replicas", ga.ReplicaSec, wa.ReplicaSec}} {
			if math.Abs(f.got-f.want) > 1e-3 {
				t.Errorf("%s: group %v %s %.6f s, intervals %.6f s", what, k, f.name, f.got, f.want)
			}
		}
	}
}

// perBucket answers a by-day or by-month q with one raw query per bucket.
func perBucket(t *testing.T, s *store.Store, q berth.UsageQuery) []berth.UsageAgg {
	t.Helper()
	buckets, _ := berth.UsageBuckets(q.From, q.To, q.GroupBy, 0)
	var out []berth.UsageAgg
	for _, b := range buckets {
		aggs, err := s.UsageAggregateRaw(ctx, berth.UsageQuery{From: b.From, To: b.To, Now: q.Now, UserID: q.UserID})
		must(t, err)
		for _, a := range aggs {
			a.Key, a.Name = b.Key, b.Key
			out = append(out, a)
		}
	}
	return out
}

type keyTarget struct{ key, target string }

func byKeyTarget(aggs []berth.UsageAgg) map[keyTarget]berth.UsageAgg {
	m := map[keyTarget]berth.UsageAgg{}
	for _, a := range aggs {
		m[keyTarget{a.Key, a.Target}] = a
	}
	return m
}

// rollupRows are the roll-up tables in a fixed order, sums rounded to the
// microsecond (a rebuild adds the same pieces in another order).
func rollupRows(t *testing.T, s *store.Store) []string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT month, kind, resource_id, user_id, target, name, cpu_us, memory_us, storage_us, replica_us
		FROM usage_rollup ORDER BY month, kind, resource_id, user_id, target, name`)
	must(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var month int64
		var kind, id, user, target, name string
		var cpu, mem, sto, rep float64
		must(t, rows.Scan(&month, &kind, &id, &user, &target, &name, &cpu, &mem, &sto, &rep))
		out = append(out, fmt.Sprintf("%s %s %s %s %s %s %.0f %.0f %.0f %.0f", time.UnixMicro(month).UTC().Format("2006-01"),
			kind, id, user, target, name, cpu, mem, sto, rep))
	}
	must(t, rows.Err())
	rows, err = s.DB().Query(`SELECT month, user_id, target, cpu_us, memory_us, storage_us, replica_us
		FROM usage_rollup_users ORDER BY month, user_id, target`)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		var month int64
		var user, target string
		var cpu, mem, sto, rep float64
		must(t, rows.Scan(&month, &user, &target, &cpu, &mem, &sto, &rep))
		out = append(out, fmt.Sprintf("%s user %s %s %.0f %.0f %.0f %.0f", time.UnixMicro(month).UTC().Format("2006-01"),
			user, target, cpu, mem, sto, rep))
	}
	must(t, rows.Err())
	rows, err = s.DB().Query(`SELECT month, kind, resource_id, name, user_id, target, replicas, cpu_cores, memory_gb, storage_gb,
		started_at, ends_at FROM usage_crossings ORDER BY month, kind, resource_id, started_at`)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		var month, start, end int64
		var kind, id, name, user, target string
		var rep int
		var cpu, mem, sto float64
		must(t, rows.Scan(&month, &kind, &id, &name, &user, &target, &rep, &cpu, &mem, &sto, &start, &end))
		out = append(out, fmt.Sprintf("%s crossing %s %s %s %s %s %d %g %g %g %d %d", time.UnixMicro(month).UTC().Format("2006-01"),
			kind, id, name, user, target, rep, cpu, mem, sto, start, end))
	}
	must(t, rows.Err())
	rows, err = s.DB().Query(`SELECT user_id, target, day, cpu_us, memory_us, storage_us, replica_us FROM usage_cumulative
		UNION ALL SELECT '*', target, day, cpu_us, memory_us, storage_us, replica_us FROM usage_cumulative_targets
		UNION ALL SELECT user_id, target, -1, 0, 0, 0, 0 FROM usage_cumulative_keys ORDER BY 1, 2, 3`)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		var user, target string
		var day int64
		var cpu, mem, sto, rep float64
		must(t, rows.Scan(&user, &target, &day, &cpu, &mem, &sto, &rep))
		out = append(out, fmt.Sprintf("cumulative %s %s %d %.0f %.0f %.0f %.0f", user, target, day, cpu, mem, sto, rep))
	}
	must(t, rows.Err())
	return out
}

// TestUsageRollsUpAnOldReplicasCloses: during a rolling upgrade a replica
// of the previous release (migration 0011) opens intervals and closes them
// with the monthly roll-ups but without the running totals (replayed here:
// its INSERT, then CloseAsPreviousRelease). This berth's next usage
// heartbeat adds them to the running totals, so every report (the running
// totals' groupings and the monthly ones alike) equals the intervals again,
// nothing is counted twice, and a second heartbeat adds nothing.
func TestUsageRollsUpAnOldReplicasCloses(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			s := storetest.Open(t, kind, nil)
			bind := func(q string) string {
				if kind != store.Postgres {
					return q
				}
				for i := 1; strings.Contains(q, "?"); i++ {
					q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
				}
				return q
			}
			us := func(t time.Time) int64 { return t.UnixMicro() }
			start := time.Date(2026, 1, 10, 9, 30, 0, 0, time.UTC)
			end := time.Date(2026, 3, 20, 17, 15, 0, 0, time.UTC)
			for _, r := range []struct {
				kind, id, user string
				from, to       time.Time
			}{
				{"environment", "env-old-1", "u1", start, start.Add(40*24*time.Hour + 3*time.Hour)},
				{"service", "local/old-svc", "u2", start.Add(5 * time.Hour), end},
				{"environment", "env-old-2", "u2", start.Add(30 * 24 * time.Hour), start.Add(30*24*time.Hour + 90*time.Minute)},
			} {
				_, err := s.DB().Exec(bind(`INSERT INTO usage_intervals (kind, resource_id, name, user_id, target,
					replicas, cpu_cores, memory_gb, storage_gb, started_at, ends_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
					r.kind, r.id, r.id, r.user, "local", 2, 1.5, 3, 10, us(r.from), int64(math.MaxInt64), us(r.from))
				must(t, err)
				must(t, s.CloseAsPreviousRelease(ctx, r.kind, r.id, r.to))
			}
			now := end.Add(48 * time.Hour)
			year := berth.UsageQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: now, Now: now, GroupBy: berth.GroupByUser}
			got, err := s.UsageAggregate(ctx, year)
			must(t, err)
			if len(got) != 0 {
				t.Fatalf("before the heartbeat the running totals already hold the old replica's intervals: %+v", got)
			}
			for round := range 2 {
				_, err := s.UsageHeartbeat(ctx, now, 0)
				must(t, err)
				for _, q := range []berth.UsageQuery{
					year,
					{From: start.Add(7 * time.Hour), To: end.Add(-5 * time.Hour), Now: now, GroupBy: berth.GroupByUser},
					{From: start, To: now, Now: now, GroupBy: berth.GroupByEnvironment},
					{From: start, To: now, Now: now, GroupBy: berth.GroupByService},
					{From: start.Add(-24 * time.Hour), To: now, Now: now, GroupBy: berth.GroupByMonth},
					{From: start.Add(13 * time.Hour), To: start.Add(45 * 24 * time.Hour), Now: now, GroupBy: berth.GroupByDay},
					{From: start, To: now, Now: now, UserID: "u2"},
				} {
					compareUsage(t, s, fmt.Sprintf("heartbeat %d, %+v", round+1, q), q)
				}
			}
			var unrolled int
			must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM usage_intervals WHERE ended_at IS NOT NULL AND rolled_up = 0`).Scan(&unrolled))
			if unrolled != 0 {
				t.Errorf("%d closed intervals still not rolled up after the heartbeat", unrolled)
			}
		})
	}
}

// TestMigration0013HoldsClosesAfter0012: during a rolling upgrade an old
// replica (migration 0011) may close an interval after migration 0012's
// step filled the running totals and before 0013 marks every closed
// interval as held by them. 0013 rebuilds the totals under its lock, so
// the reports that read them hold that interval with no heartbeat.
func TestMigration0013HoldsClosesAfter0012(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			url := storetest.URL(t, kind)
			sealer := storetest.NewSealer()
			s, err := store.Open(ctx, url, sealer)
			must(t, err)
			from := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
			to := time.Date(2026, 2, 20, 16, 30, 0, 0, time.UTC)
			insert := `INSERT INTO usage_intervals (kind, resource_id, name, user_id, target, replicas, cpu_cores, memory_gb,
				storage_gb, started_at, ends_at, last_seen) VALUES ('environment', 'env-old', 'old', 'u1', 'local', 1, 2, 4, 10, %d, %d, %d)`
			_, err = s.DB().Exec(fmt.Sprintf(insert, from.UnixMicro(), int64(math.MaxInt64), from.UnixMicro()))
			must(t, err)
			// The database as 0012 left it, and the old replica's close.
			for _, q := range []string{`DROP INDEX usage_intervals_unrolled`, `ALTER TABLE usage_intervals DROP COLUMN rolled_up`,
				`DELETE FROM schema_migrations WHERE version = 13`} {
				_, err = s.DB().Exec(q)
				must(t, err)
			}
			must(t, s.CloseAsPreviousRelease(ctx, "environment", "env-old", to))
			must(t, s.Close())

			s, err = store.Open(ctx, url, sealer) // applies 0013
			must(t, err)
			defer s.Close()
			now := to.Add(72 * time.Hour)
			for _, g := range []string{berth.GroupByUser, berth.GroupByTarget, berth.GroupByDay, berth.GroupByMonth, berth.GroupByEnvironment} {
				compareUsage(t, s, "after 0013, by "+g, berth.UsageQuery{From: from.Add(-48 * time.Hour), To: now, Now: now, GroupBy: g})
			}
			got, err := s.UsageAggregate(ctx, berth.UsageQuery{From: from, To: now, Now: now, GroupBy: berth.GroupByUser})
			must(t, err)
			if len(got) != 1 || got[0].Key != "u1" {
				t.Fatalf("by user after 0013: %+v, want u1's interval", got)
			}
		})
	}
}
