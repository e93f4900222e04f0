package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// metricsServer is a real server over a real SQLite store and local
// runtime, with history points written relative to its fixed clock.
func metricsServer(t *testing.T, now time.Time) (srv *httptest.Server, admin, viewer string) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite, nil)
	rt, err := local.New(local.Config{DataDir: t.TempDir(), StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	if _, err := acc.Bootstrap(ctx, "admin-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.CreateUser(berth.WithActor(ctx, berth.System), "vic", "viewer-password", berth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	login := func(user, pw string) string {
		tok, _, _, err := acc.Login(ctx, user, pw)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin, viewer = login("admin", "admin-password"), login("vic", "viewer-password")
	adminActor, err := acc.Authenticate(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	actx := berth.WithActor(ctx, adminActor)
	if _, _, err := c.ApplyService(actx, "web", berth.ServiceSpec{Command: []string{"sleep", "60"}}); err != nil {
		t.Fatal(err)
	}
	env := &berth.Environment{ID: "env-adm", UserID: adminActor.UserID, Name: "adm", Status: berth.EnvStopped, Target: "local",
		Stopped: true, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}

	key := func(kind, name, replica, metric string) berth.MetricKey {
		return berth.MetricKey{Target: "local", Kind: kind, Name: name, Replica: replica, Metric: metric}
	}
	points := func(res, every, span time.Duration, v float64) []berth.MetricPoint {
		var out []berth.MetricPoint
		for at := now.Add(-span).Truncate(every); at.Before(now); at = at.Add(every) {
			out = append(out, berth.MetricPoint{Time: at, Value: v, Min: v, Max: v, P95: v, Count: 1})
		}
		return out
	}
	for _, w := range []struct {
		res, every, span time.Duration
	}{{berth.ResRaw, 15 * time.Second, 30 * time.Minute}, {berth.ResMinute, time.Minute, 48 * time.Hour}, {berth.ResHour, time.Hour, 30 * 24 * time.Hour}} {
		if err := st.PutMetrics(ctx, w.res, []berth.MetricSeries{
			{MetricKey: key(berth.SubjectService, "web", "", berth.MetricCPU), Points: points(w.res, w.every, w.span, 0.5)},
			{MetricKey: key(berth.SubjectService, "web", "", berth.MetricMemory), Points: points(w.res, w.every, w.span, 1e6)},
			{MetricKey: key(berth.SubjectReplica, "web", "web-0", berth.MetricCPU), Points: points(w.res, w.every, w.span, 0.5)},
			{MetricKey: key(berth.SubjectService, "web-api", "", berth.MetricCPU), Points: points(w.res, w.every, w.span, 2)},
			{MetricKey: key(berth.SubjectEnvironment, "env-adm", "", berth.MetricMemory), Points: points(w.res, w.every, w.span, 3e6)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	s := NewServer(Deps{Core: c, Accounts: acc, Audit: st, Now: func() time.Time { return now }})
	srv = httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, admin, viewer
}

func TestMetricsHandlers(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)
	srv, admin, viewer := metricsServer(t, now)

	type history struct {
		Range, Step, Resolution string
		Series                  []berth.MetricSeries
	}
	tests := []struct {
		name, path, token string
		status            int
		field             string // of an INVALID_REQUEST
		resolution, step  string
		series            []string // kind/name/replica/metric
		maxPoints         int
	}{
		{name: "services, last hour", path: "/api/v1/metrics", token: viewer, status: 200, resolution: "raw", step: "15s",
			series: []string{"service/web//cpu", "service/web//memory", "service/web-api//cpu"}, maxPoints: 240},
		{name: "one service with replicas, cpu", path: "/api/v1/metrics?service=web&replicas=true&metric=cpu&range=30m&step=1m", token: viewer, status: 200,
			resolution: "1m", step: "1m", series: []string{"replica/web/web-0/cpu", "service/web//cpu"}, maxPoints: 31},
		{name: "history default 24h", path: "/api/v1/metrics/history?service=web&metric=memory", token: viewer, status: 200,
			resolution: "1m", step: "2m", series: []string{"service/web//memory"}, maxPoints: 721},
		{name: "history of a week comes from hourly rollups", path: "/api/v1/metrics/history?service=web&metric=cpu&range=7d", token: viewer, status: 200,
			resolution: "1h", step: "1h", series: []string{"service/web//cpu"}, maxPoints: 169},
		{name: "a small step over a long range", path: "/api/v1/metrics?range=7d&step=1m", token: viewer, status: 400, field: "step"},
		{name: "step longer than range", path: "/api/v1/metrics?range=1h&step=2h", token: viewer, status: 400, field: "step"},
		{name: "step not a duration", path: "/api/v1/metrics?step=often", token: viewer, status: 400, field: "step"},
		{name: "range not a duration", path: "/api/v1/metrics?range=lots", token: viewer, status: 400, field: "range"},
		{name: "range past retention", path: "/api/v1/metrics?range=60d", token: viewer, status: 400, field: "range"},
		{name: "unknown metric", path: "/api/v1/metrics?metric=cpu,disk", token: viewer, status: 400, field: "metric"},
		{name: "bad replicas", path: "/api/v1/metrics?replicas=maybe", token: viewer, status: 400, field: "replicas"},
		{name: "own environment", path: "/api/v1/metrics?environment=env-adm", token: admin, status: 200, resolution: "raw", step: "15s",
			series: []string{"environment/env-adm//memory"}, maxPoints: 240},
		{name: "another user's environment", path: "/api/v1/metrics?environment=env-adm", token: viewer, status: 404},
		{name: "no credential", path: "/api/v1/metrics", status: 401},
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
				json.NewDecoder(resp.Body).Decode(&e)
				if e.Error != berth.EINVALID || e.Field != tt.field {
					t.Fatalf("error %+v, want INVALID_REQUEST on %s", e, tt.field)
				}
				return
			}
			if tt.status != 200 {
				return
			}
			var h history
			if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
				t.Fatal(err)
			}
			if h.Resolution != tt.resolution || h.Step != tt.step {
				t.Errorf("resolution %s step %s, want %s %s", h.Resolution, h.Step, tt.resolution, tt.step)
			}
			var got []string
			for _, s := range h.Series {
				got = append(got, s.Kind+"/"+s.Name+"/"+s.Replica+"/"+s.Metric)
				if len(s.Points) == 0 || len(s.Points) > tt.maxPoints {
					t.Errorf("%s/%s: %d points, want 1 to %d", s.Name, s.Metric, len(s.Points), tt.maxPoints)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.series, " ") {
				t.Errorf("series %v, want %v", got, tt.series)
			}
		})
	}

	// The service route keeps its live fields and adds the history.
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/services/web/metrics?metric=cpu", nil)
	req.Header.Set("Authorization", "Bearer "+viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Service     string               `json:"service"`
		Replicas    []berth.ReplicaUsage `json:"replicas"`
		MemoryBytes *int64               `json:"memoryBytes"`
		CPUSeconds  *float64             `json:"cpuSeconds"`
		History     history              `json:"history"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("service metrics: %d %v", resp.StatusCode, err)
	}
	if body.Service != "web" || body.MemoryBytes == nil || body.CPUSeconds == nil || len(body.History.Series) != 2 {
		t.Fatalf("service metrics body %+v", body)
	}
}
