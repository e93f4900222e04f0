// Command usage benchmarks the usage report (make bench-usage): metered
// intervals of N users over 12 months in a SQLite store, rolled up and
// summed at midnights as migrations 0011 and 0012 do, then the reports
// the API makes, timed through core as an admin: each through the store's
// report path and, in the same run, from the raw intervals alone (the
// reference computation). Every report query is followed by a cheap
// reference query (one user's last month), timed the same way, so p99 is
// also given as a ratio to the reference's p99 of the same moments: the
// machine's load weighs on both. It is not a test: it prints p50/p99
// medians of several runs, the same-run speed-up, the ratio, how both
// grow with the data (against the smallest size) and the load average.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// stub is a target that is never called: the report reads only its name
// and provider (for its prices).
type stub struct{ berth.Runtime }

func (stub) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}
}

func main() {
	sizes := flag.String("users", "250,1000", "user counts to measure (the last is the target size)")
	months := flag.Int("months", 12, "months of intervals")
	perMonth := flag.Int("intervals", 20, "intervals per user per month (running and stopped stretches of an environment and a service)")
	runs := flag.Int("runs", 3, "runs per measurement (each of -queries queries)")
	queries := flag.Int("queries", 40, "queries per run through the roll-up")
	refQueries := flag.Int("ref-queries", 2, "queries per run through the raw intervals (the reference computation: seconds each at 1,000 users; 0: none)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the roll-up queries to this file")
	keep := flag.Bool("keep", false, "keep the SQLite files (their paths are printed) to inspect them")
	flag.Parse()
	profile, keepDB = *cpuProfile, *keep
	if err := run(*sizes, *months, *perMonth, *runs, *queries, *refQueries); err != nil {
		fmt.Fprintln(os.Stderr, "bench-usage:", err)
		os.Exit(1)
	}
}

type shape struct {
	name string
	req  func(end time.Time, user string) core.UsageRequest
}

// Edge ranges: from the 16th (12:17:05 into the day for "mid-day") of the
// month a year before the end to the 28th of the last month (05:45 before
// it); the last 30 days up to a moment inside the day.
var (
	midDay   = 12*time.Hour + 17*time.Minute + 5*time.Second
	shortDay = 5*time.Hour + 45*time.Minute
)

var shapes = []shape{
	{"last month by user", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(0, -1, 0), To: end, GroupBy: berth.GroupByUser}
	}},
	{"12 months by user", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 0), To: end, GroupBy: berth.GroupByUser}
	}},
	{"12 months by target", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 0), To: end, GroupBy: berth.GroupByTarget}
	}},
	{"12 months by month", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 0), To: end, GroupBy: berth.GroupByMonth}
	}},
	{"12 months by day", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 0), To: end, GroupBy: berth.GroupByDay}
	}},
	{"edge: 16th to 28th, 12 months, by user", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 15), To: end.AddDate(0, 0, -3), GroupBy: berth.GroupByUser}
	}},
	{"edge: same, mid-day, by user", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 15).Add(midDay), To: end.AddDate(0, 0, -3).Add(-shortDay), GroupBy: berth.GroupByUser}
	}},
	{"edge: same, mid-day, by day", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 15).Add(midDay), To: end.AddDate(0, 0, -3).Add(-shortDay), GroupBy: berth.GroupByDay}
	}},
	{"edge: last 30 days, mid-day, by user", func(end time.Time, _ string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(0, 0, -30).Add(midDay), To: end.Add(-shortDay), GroupBy: berth.GroupByUser}
	}},
	{"one user, 12 months by environment", func(end time.Time, u string) core.UsageRequest {
		return core.UsageRequest{From: end.AddDate(-1, 0, 0), To: end, GroupBy: berth.GroupByEnvironment, UserID: u}
	}},
}

// reference is the cheap query timed after every report: one user's last
// month, a few rows whatever the data.
var reference = shape{"reference: one user, last month", func(end time.Time, u string) core.UsageRequest {
	return core.UsageRequest{From: end.AddDate(0, -1, 0), To: end, GroupBy: berth.GroupByUser, UserID: u}
}}

func run(sizesFlag string, months, perMonth, runs, queries, refQueries int) error {
	var sizes []int
	for _, s := range strings.Split(sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-users: %q is not a count", s)
		}
		sizes = append(sizes, n)
	}
	fmt.Printf("usage report over SQLite: %d months, %d intervals per user per month; %d runs × %d queries (roll-up) and %d (raw), medians of the runs\n",
		months, perMonth, runs, queries, refQueries)
	base := map[string]float64{}
	for _, n := range sizes {
		m, err := measure(n, months, perMonth, runs, queries, refQueries)
		if err != nil {
			return err
		}
		fmt.Printf("\n%d users, %d intervals, %d roll-up rows, %d cumulative rows (built from the intervals in %.0f ms); load average %s → %s\n",
			n, m.intervals, m.rollupRows, m.cumRows, m.rebuildMS, m.loadBefore, m.loadAfter)
		fmt.Printf("  %-40s %-21s %-21s %-9s %s\n", "report", "p50 / p99", "raw p50 / p99", "raw/p50", "p99 ÷ reference p99")
		for _, sh := range shapes {
			r, w := m.rollup[sh.name], m.raw[sh.name]
			growth := ""
			if b, ok := base[sh.name]; ok && b > 0 {
				growth = fmt.Sprintf("  p50 ×%.2f of %d users for ×%.1f the data", r.p50/b, sizes[0], float64(n)/float64(sizes[0]))
			} else {
				base[sh.name] = r.p50
			}
			target := ""
			if n == sizes[len(sizes)-1] {
				target = "  target p99 < 100 ms: " + verdict(r.p99 < 100)
			}
			fmt.Printf("  %-40s %7.2f / %7.2f ms  %7.1f / %7.1f ms  ×%-7.1f ×%-5.1f%s%s\n", sh.name, r.p50, r.p99, w.p50, w.p99, w.p50/r.p50,
				r.p99/m.ref.p99, target, growth)
		}
		fmt.Printf("  %-40s %7.2f / %7.2f ms  (timed after every report above)\n", reference.name, m.ref.p50, m.ref.p99)
	}
	return nil
}

// loadAvg is the 1-minute load average (what else the machine runs).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// startProfile profiles the CPU into path until stop.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path) // #nosec G304 -- the operator's own flag
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

var (
	profile string
	keepDB  bool
)

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// pcts are the medians over runs of each run's p50 and p99, in ms.
type pcts struct{ p50, p99 float64 }

type measurement struct {
	intervals, rollupRows, cumRows int
	rebuildMS                      float64
	rollup, raw                    map[string]pcts
	ref                            pcts // the reference query, over every report's runs
	loadBefore, loadAfter          string
}

// rawStore answers reports from the intervals alone: the reference path.
type rawStore struct{ *store.Store }

func (r rawStore) UsageAggregate(ctx context.Context, q berth.UsageQuery) ([]berth.UsageAgg, error) {
	return r.UsageAggregateRaw(ctx, q)
}

// measure fills a fresh store, rolls it up and times every query shape
// through both paths, run by run, so their ratio is of the same moment.
func measure(users, months, perMonth, runs, queries, refQueries int) (*measurement, error) {
	dir, err := os.MkdirTemp("", "bench-usage-")
	if err != nil {
		return nil, err
	}
	if keepDB {
		fmt.Println("store kept at", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := berth.WithActor(context.Background(), berth.System)
	st, err := store.Open(ctx, filepath.Join(dir, "berth.db"), storetest.NewSealer())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m := &measurement{rollup: map[string]pcts{}, raw: map[string]pcts{}}
	for u := range users { // by-user reports name them from the users table
		if err := st.CreateUser(ctx, &berth.User{ID: fmt.Sprintf("u-%04d", u), Username: fmt.Sprintf("user%04d", u), Role: berth.RoleViewer}); err != nil {
			return nil, err
		}
	}
	if m.intervals, err = fill(ctx, st, users, months, perMonth, end); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := st.RebuildUsageRollup(ctx); err != nil {
		return nil, err
	}
	m.rebuildMS = float64(time.Since(t0).Microseconds()) / 1000
	if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_rollup").Scan(&m.rollupRows); err != nil {
		return nil, err
	}
	if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_cumulative").Scan(&m.cumRows); err != nil {
		return nil, err
	}
	now := func() time.Time { return end }
	rolled, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{stub{}}, Now: now})
	if err != nil {
		return nil, err
	}
	raw, err := core.New(core.Config{Store: rawStore{st}, Runtimes: []berth.Runtime{stub{}}, Now: now})
	if err != nil {
		return nil, err
	}
	if profile != "" {
		stop, err := startProfile(fmt.Sprintf("%s.%d", profile, users))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	m.loadBefore = loadAvg()
	var f50, f99 []float64
	for _, sh := range shapes {
		var r50, r99, w50, w99 []float64
		for range runs {
			p, ref, err := timeQueries(ctx, rolled, sh, end, users, queries)
			if err != nil {
				return nil, err
			}
			r50, r99 = append(r50, p.p50), append(r99, p.p99)
			f50, f99 = append(f50, ref.p50), append(f99, ref.p99)
			if refQueries > 0 {
				p, _, err := timeQueries(ctx, raw, sh, end, users, refQueries)
				if err != nil {
					return nil, err
				}
				w50, w99 = append(w50, p.p50), append(w99, p.p99)
			}
		}
		m.rollup[sh.name], m.raw[sh.name] = pcts{median(r50), median(r99)}, pcts{median(w50), median(w99)}
	}
	m.ref, m.loadAfter = pcts{median(f50), median(f99)}, loadAvg()
	return m, nil
}

// timeQueries times queries reports of one shape, each followed by the
// reference query: p50 and p99 in ms of both.
func timeQueries(ctx context.Context, c *core.Core, sh shape, end time.Time, users, queries int) (p, ref pcts, err error) {
	var ds, rs []float64
	for q := range queries {
		u := fmt.Sprintf("u-%04d", q%users)
		for _, x := range []struct {
			sh  shape
			out *[]float64
		}{{sh, &ds}, {reference, &rs}} {
			t0 := time.Now()
			if _, err := c.Usage(ctx, x.sh.req(end, u)); err != nil {
				return p, ref, fmt.Errorf("%s: %w", x.sh.name, err)
			}
			*x.out = append(*x.out, float64(time.Since(t0).Microseconds())/1000)
		}
	}
	return pcts{pct(ds, 0.50), pct(ds, 0.99)}, pcts{pct(rs, 0.50), pct(rs, 0.99)}, nil
}

// fill writes the intervals of users over months directly (one
// transaction): per user an environment alternating running and stopped
// stretches and a service, back to back, as metering leaves them.
func fill(ctx context.Context, st *store.Store, users, months, perMonth int, end time.Time) (int, error) {
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO usage_intervals (kind, resource_id, name, user_id, target, replicas,
		cpu_cores, memory_gb, storage_gb, started_at, ended_at, ends_at, last_seen) VALUES (?, ?, ?, ?, 'local', ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	rng := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- seeded on purpose: the same bench data every run
	start := end.AddDate(0, -months, 0)
	span := end.Sub(start)
	n := 0
	for u := range users {
		user := fmt.Sprintf("u-%04d", u)
		total := months * perMonth
		step := span / time.Duration(total)
		for i := range total {
			from := start.Add(time.Duration(i) * step)
			to := from.Add(step)
			kind, id, running := "environment", "env-"+user, i%2 == 0
			cpu, mem, sto, rep := 0.0, 0.0, 20.0, 0
			if running {
				cpu, mem, rep = 2, 4, 1
			}
			if i%5 == 4 { // every fifth stretch is the service's
				kind, id, cpu, mem, sto, rep = "service", "local:web-"+user, float64(1+rng.IntN(3))*0.25, 0.5, 0, 2
			}
			var ended any = to.UnixMicro()
			ends := to.UnixMicro()
			if i == total-1 {
				ended, ends = nil, math.MaxInt64 // the last one is still open
			}
			if _, err := ins.ExecContext(ctx, kind, id, id, user, rep, cpu, mem, sto, from.UnixMicro(), ended, ends, to.UnixMicro()); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, tx.Commit()
}

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

func pct(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[int(float64(len(s)-1)*p)]
}
