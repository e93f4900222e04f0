package main

import (
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// TestPredict: `berth predict` sends its arguments as the API's query and
// prints each prediction's values in their units, the crossing and the
// backtest error, or why there is no forecast.
func TestPredict(t *testing.T) {
	f := newFakeAPI(t)
	reaches := time.Now().Add(36*time.Hour + 30*time.Minute).UTC()
	f.on("GET /api/v1/predictions", ok(200, api.PredictionList{Horizon: "3d", Predictions: []berth.Prediction{
		{Subject: berth.PredictionSubject{Type: "service", Name: "web"}, Target: "local", Metric: "memory", Unit: "bytes", Method: "holt",
			Current: 900 << 20, TrendPerHour: 3 << 20, Limit: 1 << 30, LimitSource: "request", ReachesLimitAt: &reaches,
			Backtest: &berth.PredictionBacktest{Window: "24h", Points: 24, MAE: 1 << 20, Error: 0.042}},
		{Subject: berth.PredictionSubject{Type: "environment", Name: "dev", ID: "env-a1b2"}, Metric: "cpu", Unit: "cores",
			Current: 0.25, Limit: 2, LimitSource: "size", NotEnoughData: "30 of 48 hourly points (18h more history needed)"},
	}}))
	r := runCLI(t, f, nil, "", "predict", "web", "--metric", "memory", "--horizon", "7d")
	mustSucceed(t, r)
	if reqs := f.requests(); reqs[len(reqs)-1] != "GET /api/v1/predictions?horizon=7d&metric=memory&service=web" {
		t.Errorf("request %q", reqs[len(reqs)-1])
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"SUBJECT", "METRIC", "CURRENT", "LIMIT", "TREND/H", "REACHES LIMIT", "METHOD", "BACKTEST ERROR"},
		{"service/web", "memory", "900Mi", "1.00Gi request", "3Mi", reaches.Format(time.RFC3339) + " (in 36h)", "holt", "4.2%"},
		{"environment/dev (env-a1b2)", "cpu", "250m", "2.00 size", "0m", "-", "not enough data: 30 of 48 hourly points", "-"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	r = runCLI(t, f, nil, "", "predict", "--environment", "env-a1b2", "-o", "json")
	mustSucceed(t, r)
	if !strings.Contains(r.stdout, `"notEnoughData"`) {
		t.Errorf("-o json prints the API's answer; got %s", r.stdout)
	}
}
