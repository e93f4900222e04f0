package e2e

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// seedHistory writes history into berth's own SQLite file beside it (the
// sampler adds its raw points as it goes): for the service "grow", CPU
// hourly rollups over 5 days, up to the last complete hour, growing
// 0.003 core/h from 0.1 (0.457 at the last point, 120 h in: its request of
// 500m is reached ~14 h later), a flat memory series, and minute rollups of
// the last day up to the last complete minute.
func seedHistory(t *testing.T, b *Berth, now time.Time) (lastHour time.Time) {
	t.Helper()
	key := func(metric string) berth.MetricKey {
		return berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: "grow", Metric: metric}
	}
	pt := func(at time.Time, v float64) berth.MetricPoint {
		return berth.MetricPoint{Time: at, Value: v, Min: v, Max: v, P95: v, Count: 60}
	}
	lastHour = now.Truncate(time.Hour).Add(-time.Hour)
	var cpuH, memH, cpuM []berth.MetricPoint
	for i := range 120 {
		at := lastHour.Add(time.Duration(i-119) * time.Hour)
		cpuH = append(cpuH, pt(at, 0.1+0.003*float64(i)))
		memH = append(memH, pt(at, 100*(1<<20)+float64(i%5)*(1<<20)))
	}
	lastMinute := now.Truncate(time.Minute).Add(-time.Minute)
	for i := range 24 * 60 {
		at := lastMinute.Add(time.Duration(i-24*60+1) * time.Minute)
		cpuM = append(cpuM, pt(at, 0.4+0.05*math.Sin(float64(i)/30)))
	}
	putHistory(t, b, berth.ResHour, berth.MetricSeries{MetricKey: key("cpu"), Points: cpuH}, berth.MetricSeries{MetricKey: key("memory"), Points: memH})
	putHistory(t, b, berth.ResMinute, berth.MetricSeries{MetricKey: key("cpu"), Points: cpuM})
	return lastHour
}

// putHistory writes points into berth's own SQLite file, beside it.
func putHistory(t *testing.T, b *Berth, res time.Duration, series ...berth.MetricSeries) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.DataDir, "berth.db"), storetest.NewSealer())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutMetrics(ctx, res, series); err != nil {
		t.Fatal(err)
	}
}

// chartState is what a chart box says of itself, and how many pixels
// uPlot painted on its canvas.
type chartState struct {
	Points     int    `json:"points"`
	Forecast   int    `json:"forecast"`
	Resolution string `json:"resolution"`
	Painted    int    `json:"painted"`
	Loaded     string `json:"loaded"`
}

func (d *dashboard) chart(metric string) chartState {
	d.t().Helper()
	var s chartState
	d.Eval(`(() => {
		const box = document.querySelector('[data-testid="chart-`+metric+`"]');
		const panel = document.querySelector('[data-testid="usage-charts"]');
		if (!box || !panel) return {points: 0, forecast: 0, resolution: '', painted: 0, loaded: ''};
		let painted = 0;
		const c = box.querySelector('canvas');
		if (c && c.width && c.height) {
			const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
		}
		return {points: Number(box.dataset.points || 0), forecast: Number(box.dataset.forecast || 0),
			resolution: box.dataset.resolution || '', painted, loaded: panel.dataset.loaded || ''};
	})()`, &s)
	return s
}

// waitChart waits until the charts show range with at least minPoints
// measured points at resolution, painted on the canvas.
func (d *dashboard) waitChart(rng, metric, resolution string, minPoints int) chartState {
	d.t().Helper()
	var s chartState
	d.Eventually("chart-"+metric+" of "+rng, func() (bool, string) {
		s = d.chart(metric)
		b, _ := json.Marshal(s)
		return s.Loaded == rng && s.Resolution == resolution && s.Points >= minPoints && s.Painted > 200, string(b)
	})
	return s
}

// TestBrowserCharts: a service's page charts its CPU and memory for the
// range chosen — minute rollups for 24h, hourly ones for 7d, the sampler's
// raw points for 1h — painted by uPlot on its canvas; the forecast and its
// band are drawn on the ranges that have one, and say when the request is
// reached. The same prediction, read from the API, reaches the request
// within 10% of when the seeded line does, and the overview lists it among
// the nearest risks. No console error or CSP
// violation (uPlot's styles are set through the DOM, its stylesheet is a file).
func TestBrowserCharts(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s")
	tok := b.Token()
	if code, body := b.Do(tok, "PUT", "/api/v1/services/grow", map[string]any{
		"command": []string{"sleep", "3600"}, "resources": map[string]string{"cpu": "500m", "memory": "256Mi"},
	}); code != 201 && code != 200 {
		t.Fatalf("create grow: %d %v", code, body)
	}
	lastHour := seedHistory(t, b, time.Now().UTC())

	// From outside the page: the API's prediction for grow's CPU.
	code, raw := b.DoRaw(tok, "GET", "/api/v1/predictions?service=grow&metric=cpu", nil)
	var pl api.PredictionList
	if err := json.Unmarshal(raw, &pl); code != 200 || err != nil || len(pl.Predictions) != 1 {
		t.Fatalf("predictions: %d %v %s", code, err, raw)
	}
	p := pl.Predictions[0]
	// 0.1 + 0.003 i = 0.5 at i = 133.3: 13.3 h after the last point (i = 119).
	want := time.Duration(13.33 * float64(time.Hour))
	if p.ReachesLimitAt == nil || p.Limit != 0.5 || p.LimitSource != "request" {
		t.Fatalf("prediction %+v: want the 500m request reached", p)
	}
	if got := p.ReachesLimitAt.Sub(lastHour); math.Abs(float64(got-want)) > 0.1*float64(want) {
		t.Errorf("reaches the request %s after the last point; want %s ± 10%%", got, want)
	}

	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	// The overview lists grow's CPU among the nearest risks.
	if row := d.WaitTextSel(tid("risk-row"), "grow"); !strings.Contains(row, "cpu") || !strings.Contains(row, "500m request") || !strings.Contains(row, "in 1") {
		t.Errorf("overview risk row %q; want grow's cpu reaching its 500m request in 1x h", row)
	}
	d.open("#/services/grow")

	// 24h (the default): minute rollups, 2-minute points; the forecast
	// (24h ahead) reaches the request in about 13 h.
	s := d.waitChart("24h", "cpu", "1m", 600)
	if s.Forecast < 10 {
		t.Errorf("24h: %d forecast points drawn; want the next day's", s.Forecast)
	}
	note := d.WaitText("forecast-cpu", "reaches in")
	if !strings.Contains(note, "its request (500m)") || !strings.Contains(note, "Backtest error") {
		t.Errorf("forecast note %q", note)
	}
	if pressed := d.Attr(tid("range-24h"), "aria-pressed"); pressed != "true" {
		t.Errorf("range-24h aria-pressed = %q", pressed)
	}

	// 7d: hourly rollups, the 120 seeded hours; a 72h forecast.
	d.Click("range-7d")
	s = d.waitChart("7d", "cpu", "1h", 119)
	if s.Forecast < 60 {
		t.Errorf("7d: %d forecast points drawn; want ~72", s.Forecast)
	}
	m := d.waitChart("7d", "memory", "1h", 119)
	if m.Forecast < 60 {
		t.Errorf("7d memory: %d forecast points drawn", m.Forecast)
	}
	d.WaitText("forecast-memory", "Stays below its request (256 MiB)")

	// 1h: the sampler's raw points (one a second), no forecast.
	d.Click("range-1h")
	s = d.waitChart("1h", "cpu", "raw", 3)
	if s.Forecast != 0 {
		t.Errorf("1h: %d forecast points; want none", s.Forecast)
	}
	d.WaitText("forecast-cpu", "Forecasts are drawn on")
	if n, _ := strconv.Atoi(d.Attr(tid("chart-cpu"), "data-points")); n < 3 {
		t.Errorf("1h: %d points", n)
	}
	d.check()
}

// TestBrowserEnvironmentCharts: an environment's usage button charts its
// history: hourly rollups over 7d with the forecast reaching its size (2
// GiB of memory) within hours, and the sampler's raw points over 1h.
func TestBrowserEnvironmentCharts(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s")
	env := b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "dev-chart", "cpuCores": 1, "memoryGB": 2})
	id := str(env, "id")
	if id == "" {
		id = str(env, "environment", "id")
	}
	// 1 GiB growing 0.01 GiB/h over 96 h: 1.95 GiB at the last complete
	// hour, 2 GiB five hours later.
	lastHour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	var mem []berth.MetricPoint
	for i := range 96 {
		v := (1 + 0.01*float64(i)) * (1 << 30)
		mem = append(mem, berth.MetricPoint{Time: lastHour.Add(time.Duration(i-95) * time.Hour), Value: v, Min: v, Max: v, P95: v, Count: 60})
	}
	putHistory(t, b, berth.ResHour, berth.MetricSeries{
		MetricKey: berth.MetricKey{Target: "local", Kind: berth.SubjectEnvironment, Name: id, Metric: berth.MetricMemory}, Points: mem})

	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")
	d.Click("nav-environments")
	d.WaitHash("#/environments")
	d.waitEnv(id, "RUNNING")
	d.ClickSel(envRow(id) + " " + tid("env-usage"))
	d.WaitTextSel(tid("usage-charts")+" h2", "DEV-CHART") // h2 is upper case (app.css)
	d.Click("range-7d")
	s := d.waitChart("7d", "memory", "1h", 95)
	if s.Forecast < 60 {
		t.Errorf("7d: %d forecast points drawn", s.Forecast)
	}
	note := d.WaitText("forecast-memory", "its size (2.0 GiB)")
	if !strings.Contains(note, "reaches in") {
		t.Errorf("forecast note %q; want the size reached within hours", note)
	}
	// The workspace runs: the sampler's raw points chart the last hour.
	d.Click("range-1h")
	d.waitChart("1h", "memory", "raw", 3)
	d.check()
}
