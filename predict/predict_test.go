package predict

import (
	"cmp"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// series makes n hourly points of f(hour index).
func series(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{T: t0.Add(time.Duration(i) * time.Hour), V: f(i)}
	}
	return pts
}

func TestForecast(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float64, 24*30)
	for i := range noise {
		noise[i] = rng.NormFloat64()
	}
	const gib = float64(1 << 30)
	tests := []struct {
		name  string
		pts   []Point
		limit float64
		// wantIn is when the limit is reached after the last point (0: never
		// within the horizon); the prediction must be within 10% of it.
		wantIn      time.Duration
		wantMissing string // NotEnoughData contains it
		maxErr      float64
		testPoints  int // observed points of the last day (0: 24)
	}{
		{
			// 0.1 core growing 0.01 core/h with ±1% wiggle over 7 days: at the
			// last point (i=167) 1.77 cores; the limit 2.13 is 36 h later.
			name: "linear cpu reaches its request", limit: 2.13, wantIn: 36 * time.Hour, maxErr: 0.05,
			pts: series(168, func(i int) float64 { return (0.1 + 0.01*float64(i)) * (1 + 0.01*math.Sin(float64(i))) }),
		},
		{
			// Memory from 200 MiB by 4 MiB/h for 5 days; 1 GiB is reached at
			// i = 206, 87 h after the last point (119): inside a 96 h horizon.
			name: "linear memory reaches its size", limit: gib, wantIn: 87 * time.Hour, maxErr: 0.05,
			pts: series(120, func(i int) float64 { return 200*(1<<20) + float64(i)*4*(1<<20) + noise[i]*(1<<20) }),
		},
		{
			name: "flat noisy series never crosses", limit: 1.0, maxErr: 0.3,
			pts: series(24*7, func(i int) float64 { return 0.5 + 0.05*noise[i] }),
		},
		{
			name: "flat noisy series with a daily cycle never crosses", limit: 1.0, maxErr: 0.5,
			pts: series(24*14, func(i int) float64 {
				return 0.5 + 0.15*math.Sin(2*math.Pi*float64(i)/24) + 0.03*noise[i]
			}),
		},
		{
			name: "already over the limit", limit: 0.4, wantIn: 0, maxErr: 0.3,
			pts: series(72, func(i int) float64 { return 0.5 + 0.02*noise[i] }),
		},
		{
			name: "too little data says so", limit: 1, wantMissing: "30 of 48 hourly points (18h more",
			pts: series(30, func(i int) float64 { return float64(i) }),
		},
		{
			name: "no data at all says so", limit: 1, wantMissing: "0 of 48 hourly points",
		},
		{
			// Gaps (a stopped service) leave 03:00-05:00 out; the trend is still
			// found. The last point is i=98 (2.95); 4.2 is reached at i=148.
			name: "linear with gaps", limit: 4.2, wantIn: 50 * time.Hour, maxErr: 0.05, testPoints: 21,
			pts: func() []Point {
				var out []Point
				for _, p := range series(100, func(i int) float64 { return 0.5 + 0.025*float64(i) }) {
					if h := p.T.Hour(); h < 3 || h > 5 {
						out = append(out, p)
					}
				}
				return out
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var last time.Time
			if len(tt.pts) > 0 {
				last = tt.pts[len(tt.pts)-1].T
			}
			horizon := 96 * time.Hour
			p := Forecast(tt.pts, Options{Limit: tt.limit, Horizon: horizon, Now: last})
			if tt.wantMissing != "" {
				if !strings.Contains(p.NotEnoughData, tt.wantMissing) || len(p.Forecast) != 0 || p.ReachesLimitAt != nil {
					t.Fatalf("notEnoughData %q, %d forecast points, reaches %v; want %q and no forecast",
						p.NotEnoughData, len(p.Forecast), p.ReachesLimitAt, tt.wantMissing)
				}
				return
			}
			if p.NotEnoughData != "" || p.Method == "" || p.Backtest == nil {
				t.Fatalf("no forecast: %+v", p)
			}
			if want := cmp.Or(tt.testPoints, 24); p.Backtest.Points != want || p.Backtest.Error > tt.maxErr {
				t.Errorf("backtest %+v: want %d points and error ≤ %v", *p.Backtest, want, tt.maxErr)
			}
			if n := len(p.Forecast); n != 96 || !p.Forecast[0].Time.Equal(last.Add(time.Hour)) {
				t.Errorf("forecast of %d points from %v; want 96 hourly from %v", n, p.Forecast[0].Time, last.Add(time.Hour))
			}
			for _, f := range p.Forecast {
				if f.Lo > f.Value || f.Value > f.Hi || f.Lo < 0 {
					t.Fatalf("band %+v does not hold its value", f)
				}
			}
			switch {
			case tt.name == "already over the limit":
				if p.ReachesLimitAt == nil || !p.ReachesLimitAt.Equal(last) {
					t.Errorf("reachesLimitAt %v; want the last point %v", p.ReachesLimitAt, last)
				}
			case tt.wantIn == 0:
				if p.ReachesLimitAt != nil {
					t.Errorf("reachesLimitAt %v (method %s, trend %g/h); want no crossing", p.ReachesLimitAt, p.Method, p.TrendPerHour)
				}
			default:
				if p.ReachesLimitAt == nil {
					t.Fatalf("no crossing (method %s, trend %g/h, current %g); want one %s after the last point",
						p.Method, p.TrendPerHour, p.Current, tt.wantIn)
				}
				got := p.ReachesLimitAt.Sub(last)
				if math.Abs(float64(got-tt.wantIn)) > 0.1*float64(tt.wantIn) {
					t.Errorf("reaches the limit %s after the last point (method %s); want %s ± 10%%", got, p.Method, tt.wantIn)
				}
			}
		})
	}
}

// A limit reached only beyond the horizon is no crossing; the horizon
// counts from Now, not from a stale last point.
func TestForecastHorizon(t *testing.T) {
	t.Parallel()
	pts := series(72, func(i int) float64 { return 0.1 * float64(i+1) }) // 7.2 at i=71
	last := pts[len(pts)-1].T
	if p := Forecast(pts, Options{Limit: 10, Horizon: 24 * time.Hour, Now: last}); p.ReachesLimitAt != nil {
		t.Errorf("limit 28 h away reached within 24 h: %v", p.ReachesLimitAt)
	}
	p := Forecast(pts, Options{Limit: 10, Horizon: 24 * time.Hour, Now: last.Add(10 * time.Hour)})
	if p.ReachesLimitAt == nil || p.ReachesLimitAt.Sub(last).Round(time.Minute) != 28*time.Hour {
		t.Errorf("reachesLimitAt %v; want 28h after %v", p.ReachesLimitAt, last)
	}
	if n := len(p.Forecast); n != 34 {
		t.Errorf("%d forecast points; want 34 (to now + 24h)", n)
	}
	if p.Horizon != "24h" || p.Samples != 72 || math.Abs(p.TrendPerHour-0.1) > 1e-9 {
		t.Errorf("horizon %s, samples %d, trend %g; want 24h, 72, 0.1", p.Horizon, p.Samples, p.TrendPerHour)
	}
}

// BenchmarkForecast: one series of 7 days of hourly rollups, 72h ahead
// (what each service's CPU and memory costs a predictions call).
func BenchmarkForecast(b *testing.B) {
	pts := series(168, func(i int) float64 { return 0.2 + 0.002*float64(i) + 0.02*math.Sin(float64(i)) })
	last := pts[len(pts)-1].T
	for b.Loop() {
		Forecast(pts, Options{Limit: 1, Now: last})
	}
}
