package metrics_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// The test binary doubles as the workload: with BERTH_METRICS_HELPER=burn
// it holds MEM_MB of touched memory and keeps BUSY_PCT percent of a core busy.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_METRICS_HELPER") == "burn" {
		burn()
		return
	}
	pgtest.Main(m)
}

func burn() {
	mb, _ := strconv.Atoi(os.Getenv("MEM_MB"))
	pct, _ := strconv.Atoi(os.Getenv("BUSY_PCT"))
	buf := make([]byte, mb<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	for {
		end := time.Now().Add(time.Duration(pct) * time.Millisecond)
		for time.Now().Before(end) {
		}
		time.Sleep(time.Duration(100-pct) * time.Millisecond)
		runtime.KeepAlive(buf)
	}
}

var ctx = context.Background()

func helperCmd(t *testing.T) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-test.run=^$"}
}

func newLocal(t *testing.T) *local.Runtime {
	t.Helper()
	rt, err := local.New(local.Config{DataDir: t.TempDir(), StopGrace: 2 * time.Second, ProbeInterval: 50 * time.Millisecond,
		Templates: map[string]local.Template{"default": {Command: helperCmd(t), Env: map[string]string{
			"BERTH_METRICS_HELPER": "burn", "MEM_MB": "16", "BUSY_PCT": "0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// runService stores and applies a service of the helper.
func runService(t *testing.T, st berth.ServiceStore, rt berth.Runtime, name string, replicas, memMB, busyPct int) {
	t.Helper()
	spec := berth.ServiceSpec{Target: "local", Command: helperCmd(t), Replicas: &replicas,
		Env: map[string]string{"BERTH_METRICS_HELPER": "burn", "MEM_MB": strconv.Itoa(memMB), "BUSY_PCT": strconv.Itoa(busyPct)}}
	svc := &berth.Service{Name: name, Target: "local", Status: berth.ServicePending, Replicas: replicas, Revision: 1, Managed: true,
		Spec: spec, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if st != nil {
		if err := st.CreateService(ctx, svc, &berth.Revision{Number: 1, Spec: spec, Cause: "create", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.ApplyService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Process, name+" ready", func() (bool, string) {
		s, err := rt.ServiceState(ctx, svc.Ref())
		if err != nil {
			return false, err.Error()
		}
		return s.ReadyReplicas == replicas, fmt.Sprintf("%d ready", s.ReadyReplicas)
	})
}

type recorder struct {
	mu     sync.Mutex
	events []berth.Event
}

func (r *recorder) Publish(_ context.Context, e berth.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func seriesOf(t *testing.T, s *store.Store, q berth.MetricQuery) map[berth.MetricKey][]berth.MetricPoint {
	t.Helper()
	got, err := s.QueryMetrics(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[berth.MetricKey][]berth.MetricPoint{}
	for _, ser := range got {
		out[ser.MetricKey] = ser.Points
	}
	return out
}

// TestSamplerRun: Run samples at once, then once per interval of its
// clock (a fake one here, so the test says when an interval has passed), and
// returns when its context ends.
func TestSamplerRun(t *testing.T) {
	t.Parallel()
	clk := testutil.NewClock(t0)
	s, err := metrics.New(metrics.Config{Store: storetest.Open(t, store.SQLite, nil), Runtimes: []berth.Runtime{newLocal(t)},
		Interval: 15 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	latest := func() string {
		if tk := s.Latest(); tk != nil {
			return "latest tick at " + tk.Time.String()
		}
		return "no tick"
	}
	at := func(want time.Time) func() (bool, string) {
		return func() (bool, string) { tk := s.Latest(); return tk != nil && tk.Time.Equal(want), latest() }
	}
	testutil.Eventually(t, testutil.Short, "the first tick at once", at(t0))
	testutil.Eventually(t, testutil.Short, "Run waiting on its ticker", func() (bool, string) {
		return clk.Waiters() == 1, fmt.Sprintf("%d waiters", clk.Waiters())
	})
	clk.Advance(15 * time.Second)
	testutil.Eventually(t, testutil.Short, "the tick one interval later", at(t0.Add(15*time.Second)))
	clk.Advance(15 * time.Second)
	testutil.Eventually(t, testutil.Short, "the tick two intervals later", at(t0.Add(30*time.Second)))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(testutil.Short):
		t.Fatal("Run did not return when its context ended")
	}
}

func TestSampler(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) { testSampler(t, kind) })
	}
}

func testSampler(t *testing.T, kind string) {
	st := storetest.Open(t, kind, nil)
	rt := newLocal(t)
	runService(t, st, rt, "web", 2, 24, 5)
	runService(t, st, rt, "web-api", 1, 4, 0)
	env := &berth.Environment{ID: "env1", UserID: "usr-1", Name: "dev", Status: berth.EnvRunning, Target: "local",
		CreatedAt: time.Now(), UpdatedAt: time.Now(), LastAccessedAt: time.Now()}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}

	clk := testutil.NewClock(t0.Add(5 * time.Second))
	pub := &recorder{}
	s, err := metrics.New(metrics.Config{Store: st, Runtimes: []berth.Runtime{rt}, Publisher: pub, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	// CPU is a rate between two measurements: sample until the second has it.
	var tick *metrics.Tick
	at := clk.Now()
	testutil.Eventually(t, testutil.Process, "a tick with CPU of both web replicas and the environment", func() (bool, string) {
		clk.Set(at)
		at = at.Add(15 * time.Second)
		tick, err = s.SampleOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(tick.Services) == 2 && len(tick.Environments) == 1
		for _, svc := range tick.Services {
			for _, r := range svc.Replicas {
				_, has := r.Values[berth.MetricCPU]
				ok = ok && has
			}
		}
		_, envCPU := tick.Environments[0].Values[berth.MetricCPU]
		return ok && envCPU, fmt.Sprintf("%d services, %d environments, CPU of all replicas %v, of the environment %v",
			len(tick.Services), len(tick.Environments), ok, envCPU)
	})
	if s.Latest() != tick {
		t.Fatal("Latest is not the last tick")
	}
	web, api := tick.Services[0], tick.Services[1]
	if web.Name != "web" || api.Name != "web-api" {
		t.Fatalf("services in tick: %s, %s", web.Name, api.Name)
	}
	const mib = 1 << 20
	for _, c := range []struct {
		what      string
		got, want float64
		atLeast   bool
	}{
		{"web desired", web.Values[berth.MetricDesired], 2, false},
		{"web ready", web.Values[berth.MetricReady], 2, false},
		{"web restarts", web.Values[berth.MetricRestarts], 0, false},
		{"web replicas", float64(len(web.Replicas)), 2, false},
		{"web-api replicas", float64(len(api.Replicas)), 1, false},
		{"web memory (2 × 24 MiB held)", web.Values[berth.MetricMemory], 48 * mib, true},
		{"web-0 memory", web.Replicas[0].Values[berth.MetricMemory], 24 * mib, true},
		{"environment memory (16 MiB held)", tick.Environments[0].Values[berth.MetricMemory], 16 * mib, true},
		{"web cpu is the sum of its replicas", web.Values[berth.MetricCPU], web.Replicas[0].Values[berth.MetricCPU] + web.Replicas[1].Values[berth.MetricCPU], false},
	} {
		if (c.atLeast && c.got < c.want) || (!c.atLeast && c.got != c.want) {
			t.Errorf("%s = %v, want %v (at least: %v)", c.what, c.got, c.want, c.atLeast)
		}
	}
	if _, ok := web.Values[berth.MetricNetRx]; ok {
		t.Error("the local source reports network it cannot measure")
	}
	if web.Replicas[0].Name != "web-0" || web.Replicas[1].Name != "web-1" {
		t.Errorf("replica names %s, %s", web.Replicas[0].Name, web.Replicas[1].Name)
	}

	// Events: services for every reader, the environment for its owner only.
	pub.mu.Lock()
	last := pub.events[len(pub.events)-2:]
	pub.mu.Unlock()
	if e := last[0]; e.Topic != "metrics" || e.Type != "metric.tick" || e.Owner != "" || len(e.Data.(metrics.Tick).Services) != 2 || len(e.Data.(metrics.Tick).Environments) != 0 {
		t.Errorf("services event %+v", e)
	}
	if e := last[1]; e.Owner != "usr-1" || len(e.Data.(metrics.Tick).Environments) != 1 || len(e.Data.(metrics.Tick).Services) != 0 {
		t.Errorf("environment event %+v", e)
	}

	// The store holds one raw point per tick per series.
	ticks := int(at.Sub(t0.Add(5*time.Second)) / (15 * time.Second))
	rawNow := seriesOf(t, st, berth.MetricQuery{From: t0, To: t0.Add(time.Hour)})
	key := func(kind, name, replica, metric string) berth.MetricKey {
		return berth.MetricKey{Target: "local", Kind: kind, Name: name, Replica: replica, Metric: metric}
	}
	if n := len(rawNow[key(berth.SubjectService, "web", "", berth.MetricMemory)]); n != ticks {
		t.Errorf("web memory has %d raw points after %d ticks", n, ticks)
	}
	for _, k := range []berth.MetricKey{
		key(berth.SubjectReplica, "web", "web-1", berth.MetricCPU), key(berth.SubjectService, "web", "", berth.MetricReady),
		key(berth.SubjectEnvironment, "env1", "", berth.MetricMemory), key(berth.SubjectService, "web-api", "", berth.MetricRestarts),
	} {
		if len(rawNow[k]) == 0 {
			t.Errorf("no raw points of %+v", k)
		}
	}

	// Minute rollups of the buckets that completed match their raw points.
	clk.Set(t0.Add(time.Hour + 90*time.Second))
	if _, err := s.SampleOnce(ctx); err != nil {
		t.Fatal(err)
	}
	minute := seriesOf(t, st, berth.MetricQuery{Resolution: berth.ResMinute, From: t0, To: t0.Add(2 * time.Hour)})
	memKey := key(berth.SubjectService, "web", "", berth.MetricMemory)
	var firstMinute []float64
	for _, p := range rawNow[memKey] {
		if p.Time.Before(t0.Add(time.Minute)) {
			firstMinute = append(firstMinute, p.Value)
		}
	}
	want := metrics.Summarize(firstMinute)
	if got := minute[memKey]; len(got) == 0 || got[0].Time != t0 || got[0].Value != want.Avg || got[0].P95 != want.P95 ||
		got[0].Min != want.Min || got[0].Max != want.Max || got[0].Count != want.Count {
		t.Errorf("first minute rollup of web memory %+v, want %+v at %s", minute[memKey], want, t0)
	}
	// The hour 10:00–11:00 is complete: one hourly point from every raw point.
	hour := seriesOf(t, st, berth.MetricQuery{Resolution: berth.ResHour, From: t0, To: t0.Add(2 * time.Hour)})
	if got := hour[memKey]; len(got) != 1 || got[0].Count != ticks {
		t.Errorf("hourly rollup of web memory %+v, want one point of %d samples", got, ticks)
	}

	// Retention: after 7 hours the raw points of 10:00 are gone, rollups stay.
	clk.Set(t0.Add(7 * time.Hour))
	if _, err := s.SampleOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seriesOf(t, st, berth.MetricQuery{From: t0, To: t0.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("raw points of 10:00 survive 7h: %d series", len(got))
	}
	if got := seriesOf(t, st, berth.MetricQuery{Resolution: berth.ResMinute, From: t0, To: t0.Add(time.Hour)}); len(got[memKey]) == 0 {
		t.Error("minute rollups of 10:00 gone after 7h (kept 48h)")
	}
	// After 31 days nothing of 10:00 is left in any resolution.
	clk.Set(t0.Add(31 * 24 * time.Hour))
	if _, err := s.SampleOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, res := range []time.Duration{berth.ResRaw, berth.ResMinute, berth.ResHour} {
		if got := seriesOf(t, st, berth.MetricQuery{Resolution: res, From: t0, To: t0.Add(24 * time.Hour)}); len(got) != 0 {
			t.Errorf("resolution %s keeps %d series of the first day after 31 days", res, len(got))
		}
	}
}

func TestSamplerConfig(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, nil)
	for _, c := range []metrics.Config{
		{},
		{Store: st, Interval: 10 * time.Millisecond},
		{Store: st, Retention: metrics.Retention{Raw: 30 * time.Minute}},
		{Store: st, Retention: metrics.Retention{Raw: 24 * time.Hour, Minute: 2 * time.Hour}},
	} {
		if _, err := metrics.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
