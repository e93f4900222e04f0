package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// TestPredictionsHandler: the route reads service, environment, metric and
// horizon, answers api.PredictionList, names the field of bad input and
// hides another user's environment.
func TestPredictionsHandler(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)
	srv, admin, viewer := metricsServer(t, now)
	tests := []struct {
		name, path, token string
		status            int
		field             string
		want              []string // subject/metric
		horizon           string
	}{
		{name: "every stored service, and own environments", path: "/api/v1/predictions", token: admin, status: 200, horizon: "3d",
			want: []string{"environment/adm/memory", "service/web/cpu", "service/web/memory"}},
		{name: "a viewer sees no other user's environment", path: "/api/v1/predictions", token: viewer, status: 200, horizon: "3d",
			want: []string{"service/web/cpu", "service/web/memory"}},
		{name: "one service, one metric, a week", path: "/api/v1/predictions?service=web&metric=cpu&horizon=7d", token: viewer, status: 200,
			horizon: "7d", want: []string{"service/web/cpu"}},
		{name: "own environment", path: "/api/v1/predictions?environment=env-adm", token: admin, status: 200, horizon: "3d",
			want: []string{"environment/adm/cpu", "environment/adm/memory"}},
		{name: "another user's environment", path: "/api/v1/predictions?environment=env-adm", token: viewer, status: 404},
		{name: "unknown service", path: "/api/v1/predictions?service=nope", token: viewer, status: 404},
		{name: "bad horizon", path: "/api/v1/predictions?horizon=soon", token: viewer, status: 400, field: "horizon"},
		{name: "horizon too long", path: "/api/v1/predictions?horizon=60d", token: viewer, status: 400, field: "horizon"},
		{name: "a metric without a limit", path: "/api/v1/predictions?metric=net_rx", token: viewer, status: 400, field: "metric"},
		{name: "target without service", path: "/api/v1/predictions?target=local", token: viewer, status: 400, field: "service"},
		{name: "no credential", path: "/api/v1/predictions", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 400 {
				var e api.Error
				_ = json.NewDecoder(resp.Body).Decode(&e)
				if e.Error != berth.EINVALID || e.Field != tt.field {
					t.Fatalf("error %+v, want INVALID_REQUEST on %s", e, tt.field)
				}
				return
			}
			if tt.status != 200 {
				return
			}
			var l api.PredictionList
			if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range l.Predictions {
				got = append(got, p.Subject.Type+"/"+p.Subject.Name+"/"+p.Metric)
				// web's flat series: a forecast, no limit (no requests), no crossing.
				if p.Subject.Name == "web" && (p.Method == "" || p.Backtest == nil || p.ReachesLimitAt != nil || len(p.Forecast) == 0) {
					t.Errorf("web %s: %+v; want a forecast with a backtest and no crossing", p.Metric, p)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || l.Horizon != tt.horizon || !l.GeneratedAt.Equal(now.Truncate(time.Second)) {
				t.Errorf("predictions %v over %s at %v; want %v over %s at %v", got, l.Horizon, l.GeneratedAt, tt.want, tt.horizon, now)
			}
		})
	}
}
