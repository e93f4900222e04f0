package recommend

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/berthhq/berth"
)

var t0 = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

// series makes one replica series of raw points, one per minute, ending
// before t0.
func series(replica, metric string, values []float64) berth.MetricSeries {
	s := berth.MetricSeries{MetricKey: berth.MetricKey{Target: "local", Kind: berth.SubjectReplica, Name: "web", Replica: replica, Metric: metric}}
	for i, v := range values {
		at := t0.Add(-time.Duration(len(values)-i) * time.Minute)
		s.Points = append(s.Points, berth.MetricPoint{Time: at, Value: v, Min: v, Max: v, P95: v, Count: 1})
	}
	return s
}

// ramp is 1..n scaled by f: its nearest-rank p95 is 0.95n·f exactly when n is a multiple of 20.
func ramp(n int, f float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i+1) * f
	}
	return out
}

func flat(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func svc(cpu, mem string, replicas int) *berth.Service {
	return &berth.Service{Name: "web", Target: "local", Replicas: replicas, Revision: 3, Managed: true,
		Spec: berth.ServiceSpec{Resources: berth.Resources{CPU: cpu, Memory: mem}, Replicas: &replicas}}
}

var prices = berth.DefaultPrices("LOCAL")

func TestRightsize(t *testing.T) {
	cfg := Config{MinSamples: 100, Window: 7 * 24 * time.Hour}
	tests := []struct {
		name              string
		in                ServiceInput
		wantNil           bool
		notEnough         int // missing samples
		wantCPU, wantMem  string
		wantSavingPositve bool
	}{
		{name: "p95 of a ramp, peak ×1.15",
			// cpu 1m..200m: p95 = 190m; memory peak 200Mi → 230Mi → rounded to 232Mi.
			in: ServiceInput{Service: svc("2", "2Gi", 1), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", ramp(200, 0.001))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", ramp(200, float64(1<<20)))}},
			wantCPU: "190m", wantMem: "232Mi", wantSavingPositve: true},
		{name: "per-replica: two replicas pooled",
			// replica 0 at 100m, replica 1 at 300m: p95 of the pooled samples is 300m.
			in: ServiceInput{Service: svc("1", "1Gi", 2), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(100, 0.1)), series("web-1", "cpu", flat(100, 0.3))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(100, 300<<20)), series("web-1", "memory", flat(100, 400<<20))}},
			wantCPU: "300m", wantMem: "460Mi", wantSavingPositve: true},
		{name: "floors 10m / 100Mi",
			in: ServiceInput{Service: svc("1", "1Gi", 1), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(120, 0.0001))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(120, 10<<20))}},
			wantCPU: "10m", wantMem: "100Mi", wantSavingPositve: true},
		{name: "OOM kill bumps memory ×1.2",
			// 500Mi × 1.15 × 1.2 = 690Mi → 692Mi.
			in: ServiceInput{Service: svc("500m", "512Mi", 1), Prices: prices, OOMKills: 2,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(100, 0.5))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(100, 500<<20))}},
			wantCPU: "500m", wantMem: "692Mi"},
		{name: "under-provisioned costs more",
			in: ServiceInput{Service: svc("100m", "128Mi", 1), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(100, 1.2))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(100, 1<<30))}},
			wantCPU: "1200m", wantMem: "1216Mi"},
		{name: "not enough data says how much is missing",
			in: ServiceInput{Service: svc("2", "2Gi", 1), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(40, 0.1))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(40, 50<<20))}},
			notEnough: 60},
		{name: "HPA-managed is skipped", wantNil: true,
			in: ServiceInput{Service: svc("2", "2Gi", 1), Prices: prices, HPAManaged: true,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(200, 0.1))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(200, 50<<20))}}},
		{name: "already right-sized: nothing", wantNil: true,
			in: ServiceInput{Service: svc("100m", "116Mi", 1), Prices: prices,
				ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", flat(200, 0.1))},
				ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", flat(200, 100<<20))}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := Rightsize(cfg, tc.in)
			if tc.wantNil {
				if rec != nil {
					t.Fatalf("want no recommendation, got %+v", rec)
				}
				return
			}
			if rec == nil {
				t.Fatal("no recommendation")
			}
			if tc.notEnough > 0 {
				if !rec.Evidence.NotEnoughData || rec.Evidence.MissingSamples != tc.notEnough || rec.Proposed.Resources != nil {
					t.Fatalf("want not enough data, %d missing, no proposal; got %+v", tc.notEnough, rec.Evidence)
				}
				return
			}
			got := rec.Proposed.Resources
			if got.CPU != tc.wantCPU || got.Memory != tc.wantMem {
				t.Fatalf("proposed cpu %s memory %s, want %s %s", got.CPU, got.Memory, tc.wantCPU, tc.wantMem)
			}
			if (rec.MonthlySaving.Amount > 0) != tc.wantSavingPositve {
				t.Fatalf("saving %v, want positive %v", rec.MonthlySaving.Amount, tc.wantSavingPositve)
			}
			if err := rec.Validate(50); err != nil {
				t.Fatalf("the engine's own recommendation does not validate: %v", err)
			}
		})
	}
}

func TestRightsizeSaving(t *testing.T) {
	// 2 cores + 2Gi → 190m + 232Mi, one replica, OpenCost defaults.
	in := ServiceInput{Service: svc("2", "2Gi", 1), Prices: prices,
		ReplicaCPU:    []berth.MetricSeries{series("web-0", "cpu", ramp(200, 0.001))},
		ReplicaMemory: []berth.MetricSeries{series("web-0", "memory", ramp(200, float64(1<<20)))}}
	rec := Rightsize(Config{}, in)
	want := round2(730 * ((2-0.19)*0.031611 + (2-232.0/1024)*0.004237))
	if rec.MonthlySaving.Amount != want || rec.MonthlySaving.Currency != "USD" {
		t.Fatalf("saving %+v, want %v USD", rec.MonthlySaving, want)
	}
}

func TestRollupStats(t *testing.T) {
	// Two 1-minute rollups of 4 samples each: p95 over their p95s, max over maxima.
	var d Distribution
	d.Add([]berth.MetricPoint{{Value: 1, Min: 0.5, Max: 2, P95: 1.9, Count: 4}, {Value: 3, Min: 2, Max: 5, P95: 4.5, Count: 4}})
	st := d.Stats()
	if d.Samples() != 8 || st.P95 != 4.5 || st.Max != 5 || st.P50 != 1 {
		t.Fatalf("samples %d stats %+v", d.Samples(), st)
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		name     string
		replicas int
		cpu      string
		usage    float64
		want     int // 0: no recommendation
	}{
		{"starving: ceil(2 × 0.9 / (0.5 × 0.7)) = 6", 2, "500m", 0.9, 6},
		{"over target but within its request: rightsizing's business", 2, "500m", 0.45, 0},
		{"under target: ceil(4 × 0.1 / (1 × 0.7)) = 1", 4, "1", 0.1, 1},
		{"within tolerance: 0.37 / 0.35 = 1.06", 3, "500m", 0.37, 0},
		{"never below 1", 1, "2", 0.01, 0},
		{"no request: nothing", 2, "", 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cpu []berth.MetricSeries
			for i := range tc.replicas {
				cpu = append(cpu, series("web-"+string(rune('0'+i)), "cpu", flat(60, tc.usage)))
			}
			rec := Scale(Config{}, ServiceInput{Service: svc(tc.cpu, "1Gi", tc.replicas), Prices: prices, Now: t0, ReplicaCPU: cpu})
			if tc.want == 0 {
				if rec != nil {
					t.Fatalf("want none, got %s", rec.Title)
				}
				return
			}
			if rec == nil || *rec.Proposed.Replicas != tc.want {
				t.Fatalf("want %d replicas, got %+v", tc.want, rec)
			}
			if (rec.MonthlySaving.Amount < 0) != (tc.want > tc.replicas) {
				t.Fatalf("saving %v for %d → %d", rec.MonthlySaving.Amount, tc.replicas, tc.want)
			}
		})
	}
}

func TestRollback(t *testing.T) {
	revs := []*berth.Revision{{Number: 3, CreatedAt: t0.Add(-30 * time.Minute)}, {Number: 2, CreatedAt: t0.Add(-5 * time.Hour)}}
	ready := func(vals []float64) []berth.MetricSeries {
		s := series("", berth.MetricReady, vals)
		return []berth.MetricSeries{s}
	}
	looping := []berth.ReplicaState{{Name: "web-0", Restarts: 5, Ready: false, State: "backoff", Revision: 3}}
	tests := []struct {
		name      string
		instances []berth.ReplicaState
		ready     []berth.MetricSeries
		want      int
	}{
		{"crash-looping after a healthy revision", looping, ready(flat(120, 1)), 2},
		{"previous was not healthy either", looping, ready(append(flat(60, 1), flat(60, 0)...)), 0},
		{"not crash-looping", []berth.ReplicaState{{Name: "web-0", Restarts: 1, Ready: true, Revision: 3}}, ready(flat(120, 1)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := svc("1", "1Gi", 1)
			s.Instances = tc.instances
			rec := Rollback(Config{}, ServiceInput{Service: s, Now: t0, Revisions: revs, ServiceReady: tc.ready, Prices: prices})
			switch {
			case tc.want == 0 && rec != nil:
				t.Fatalf("want none, got %s", rec.Title)
			case tc.want != 0 && (rec == nil || rec.Proposed.Revision != tc.want):
				t.Fatalf("want rollback to %d, got %+v", tc.want, rec)
			}
		})
	}
}

func TestEnvironments(t *testing.T) {
	env := func(status berth.EnvStatus, stopped bool, updated time.Time) *berth.Environment {
		return &berth.Environment{ID: "env-1", Name: "dev", UserID: "u1", Status: status, Stopped: stopped, Target: "local",
			CPUCores: 2, MemoryGB: 4, StorageGB: 20, CreatedAt: t0.Add(-90 * 24 * time.Hour), UpdatedAt: updated, LastAccessedAt: updated}
	}
	cpu := func(v float64) []berth.MetricSeries { return []berth.MetricSeries{series("", "cpu", flat(30, v))} }
	if r := StopIdleEnvironment(Config{}, EnvironmentInput{Env: env(berth.EnvRunning, false, t0.Add(-3*time.Hour)), Now: t0, CPU: cpu(0.01), Prices: prices}); r == nil ||
		r.Proposed.Status != "STOPPED" || r.Owner != "u1" || r.MonthlySaving.Amount != round2(730*(2*0.031611+4*0.004237)) {
		t.Fatalf("idle for 3h (window 2h), low cpu: want stop, got %+v", r)
	}
	if r := StopIdleEnvironment(Config{}, EnvironmentInput{Env: env(berth.EnvRunning, false, t0.Add(-3*time.Hour)), Now: t0, CPU: cpu(0.5), Prices: prices}); r != nil {
		t.Fatalf("busy cpu: want none, got %s", r.Title)
	}
	if r := StopIdleEnvironment(Config{}, EnvironmentInput{Env: env(berth.EnvRunning, false, t0.Add(-time.Hour)), Now: t0, CPU: cpu(0.01), Prices: prices}); r != nil {
		t.Fatalf("active an hour ago: want none, got %s", r.Title)
	}
	if r := DeleteDormant(Config{}, EnvironmentInput{Env: env(berth.EnvStopped, true, t0.Add(-31*24*time.Hour)), Now: t0, Prices: prices}); r == nil ||
		r.Proposed.KeepVolume == nil || r.MonthlySaving.Amount != 0.8 {
		t.Fatalf("stopped 31 days: want delete saving 20 GB × 0.04, got %+v", r)
	}
	if r := DeleteDormant(Config{}, EnvironmentInput{Env: env(berth.EnvStopped, true, t0.Add(-29*24*time.Hour)), Now: t0, Prices: prices}); r != nil {
		t.Fatalf("stopped 29 days: want none, got %s", r.Title)
	}
}

func TestStopIdleService(t *testing.T) {
	in := ServiceInput{Service: svc("500m", "256Mi", 2), Prices: prices, Now: t0,
		ReplicaCPU: []berth.MetricSeries{series("web-0", "cpu", flat(200, 0))}}
	cfg := Config{Window: 200 * time.Minute}
	if r := StopIdleService(cfg, in); r == nil || r.Proposed.Status != "STOPPED" {
		t.Fatalf("no cpu over the window: want stop, got %+v", r)
	}
	in.ReplicaCPU = []berth.MetricSeries{series("web-0", "cpu", append(flat(199, 0), 0.2))}
	if r := StopIdleService(cfg, in); r != nil {
		t.Fatalf("one busy sample: want none, got %s", r.Title)
	}
}

func TestResolution(t *testing.T) {
	ret := Retention{Raw: 6 * time.Hour, Minute: 48 * time.Hour, Hour: 30 * 24 * time.Hour}
	for w, want := range map[time.Duration]time.Duration{time.Hour: berth.ResRaw, 24 * time.Hour: berth.ResMinute, 7 * 24 * time.Hour: berth.ResHour} {
		if got := Resolution(w, ret); got != want {
			t.Errorf("window %s: resolution %s, want %s", w, got, want)
		}
	}
}

// TestSelectKth: quickselect answers what sorting does, on random,
// constant and sorted inputs.
func TestSelectKth(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 10, 101, 1000} {
		for _, gen := range []func(i int) float64{func(int) float64 { return r.Float64() }, func(int) float64 { return 7 },
			func(i int) float64 { return float64(i) }, func(i int) float64 { return float64(i % 3) }} {
			vs := make([]float64, n)
			for i := range vs {
				vs[i] = gen(i)
			}
			sorted := slices.Clone(vs)
			slices.Sort(sorted)
			for _, k := range []int{0, n / 2, n * 95 / 100, n - 1} {
				if got := selectKth(slices.Clone(vs), k); got != sorted[k] {
					t.Fatalf("n %d k %d: got %v want %v", n, k, got, sorted[k])
				}
			}
		}
	}
}
