package core_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// hourly makes n hourly points ending an hour before now, value f(i).
func hourly(now time.Time, n int, f func(i int) float64) []berth.MetricPoint {
	pts := make([]berth.MetricPoint, n)
	first := now.Truncate(time.Hour).Add(-time.Duration(n) * time.Hour)
	for i := range pts {
		v := f(i)
		pts[i] = berth.MetricPoint{Time: first.Add(time.Duration(i) * time.Hour), Value: v, Min: v, Max: v, P95: v, Count: 240}
	}
	return pts
}

// TestPredictions: on both stores, a service whose CPU grows linearly
// toward its requests × replicas and an environment whose memory grows
// toward its size are predicted to reach them at the known time (± 10%);
// a flat one does not; a young one says how much history is missing;
// another user's environment is NOT_FOUND; bad input names its field.
func TestPredictions(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testPredictions(t, kind)
		})
	}
}

func testPredictions(t *testing.T, kind string) {
	st := storetest.Open(t, kind, nil)
	now := time.Now().UTC().Truncate(time.Minute)
	rt := &stateful{states: map[string]*berth.ServiceState{}, reads: map[string]int{}}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sys := berth.WithActor(context.Background(), berth.System)
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	users := map[string]context.Context{}
	ids := map[string]string{}
	for _, name := range []string{"ann", "ben"} {
		u, err := acc.CreateUser(sys, name, name+"-password-1", berth.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		users[name], ids[name] = berth.WithActor(context.Background(), berth.Actor{UserID: u.ID, Username: name, Role: berth.RoleViewer}), u.ID
	}
	two := 2
	for name, res := range map[string]berth.Resources{"grow": {CPU: "500m", Memory: "1Gi"}, "flat": {CPU: "1", Memory: "512Mi"}, "young": {CPU: "1"}} {
		spec := berth.ServiceSpec{Target: "t", Command: []string{"sleep", "1"}, Replicas: &two, Resources: res}
		if err := st.CreateService(sys, &berth.Service{Name: name, Target: "t", Status: berth.ServiceRunning, Replicas: 2, Revision: 1,
			Managed: true, Spec: spec, CreatedAt: now, UpdatedAt: now}, &berth.Revision{Number: 1, Spec: spec, Cause: "create", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateEnvironment(sys, &berth.Environment{ID: "env-ann", UserID: ids["ann"], Name: "dev", Status: berth.EnvRunning,
		Target: "t", CloudProvider: berth.ProviderLocal, CPUCores: 2, MemoryGB: 4, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now}); err != nil {
		t.Fatal(err)
	}
	const gib = float64(1 << 30)
	// grow: 0.2 core rising 0.005 core/h over 96 h; the last point (i=95,
	// an hour ago) is 0.675; requests × replicas = 1 core: 65 h after it.
	// env-ann: memory 1 GiB rising 0.05 GiB/h over 60 h; the last point is
	// 3.95 GiB; the size 4 GiB is 1 h after it.
	series := []berth.MetricSeries{
		{MetricKey: berth.MetricKey{Target: "t", Kind: berth.SubjectService, Name: "grow", Metric: berth.MetricCPU},
			Points: hourly(now, 96, func(i int) float64 { return 0.2 + 0.005*float64(i) })},
		{MetricKey: berth.MetricKey{Target: "t", Kind: berth.SubjectService, Name: "flat", Metric: berth.MetricCPU},
			Points: hourly(now, 96, func(i int) float64 { return 0.4 + 0.05*math.Sin(float64(i)) })},
		{MetricKey: berth.MetricKey{Target: "t", Kind: berth.SubjectService, Name: "young", Metric: berth.MetricCPU},
			Points: hourly(now, 10, func(i int) float64 { return 0.1 })},
		{MetricKey: berth.MetricKey{Target: "t", Kind: berth.SubjectEnvironment, Name: "env-ann", Metric: berth.MetricMemory},
			Points: hourly(now, 60, func(i int) float64 { return gib + 0.05*gib*float64(i) })},
	}
	if err := st.PutMetrics(sys, berth.ResHour, series); err != nil {
		t.Fatal(err)
	}
	lastPoint := now.Truncate(time.Hour).Add(-time.Hour)

	// Ann's list: every series with history, the nearest risk first.
	all, err := c.Predictions(users["ann"], core.PredictionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range all {
		order = append(order, p.Subject.Name+"/"+p.Metric)
	}
	want := []string{"dev/memory", "grow/cpu", "flat/cpu", "young/cpu"}
	if len(order) != len(want) {
		t.Fatalf("predictions %v; want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("predictions %v; want %v", order, want)
		}
	}
	within := func(name string, p berth.Prediction, after time.Duration) {
		t.Helper()
		if p.ReachesLimitAt == nil {
			t.Fatalf("%s: no crossing (%+v)", name, p)
		}
		if got := p.ReachesLimitAt.Sub(lastPoint); math.Abs(float64(got-after)) > 0.1*float64(after) {
			t.Errorf("%s reaches its limit %s after its last point; want %s ± 10%%", name, got, after)
		}
	}
	within("grow", all[1], 65*time.Hour)
	if p := all[1]; p.Limit != 1 || p.LimitSource != "request" || p.Unit != "cores" || p.Target != "t" || p.Backtest == nil {
		t.Errorf("grow: limit %g from %q in %s on %q, backtest %v; want 1 core from request on t with a backtest",
			p.Limit, p.LimitSource, p.Unit, p.Target, p.Backtest)
	}
	within("env-ann", all[0], time.Hour)
	if p := all[0]; p.Limit != 4*gib || p.LimitSource != "size" || p.Subject.ID != "env-ann" || p.Subject.Type != "environment" {
		t.Errorf("env-ann: limit %g from %q, subject %+v; want 4 GiB from size", p.Limit, p.LimitSource, p.Subject)
	}
	if p := all[2]; p.ReachesLimitAt != nil || p.NotEnoughData != "" {
		t.Errorf("flat: reaches %v, notEnoughData %q; want a forecast without a crossing", p.ReachesLimitAt, p.NotEnoughData)
	}
	if p := all[3]; p.NotEnoughData == "" || len(p.Forecast) != 0 {
		t.Errorf("young: notEnoughData %q with %d points; want it to say so", p.NotEnoughData, len(p.Forecast))
	}

	// Ben sees the services only: Ann's environment is not his.
	ben, err := c.Predictions(users["ben"], core.PredictionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ben {
		if p.Subject.Type == berth.SubjectEnvironment {
			t.Errorf("ben sees %s's prediction", p.Subject.ID)
		}
	}
	if _, err := c.Predictions(users["ben"], core.PredictionQuery{Environment: "env-ann"}); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("ben asking for env-ann: %v; want NOT_FOUND", err)
	}

	// One service, one metric, a shorter horizon: 65 h is beyond 24 h.
	one, err := c.Predictions(users["ben"], core.PredictionQuery{Service: core.ServiceQuery{Name: "grow"}, Metric: "cpu", Horizon: 24 * time.Hour})
	// The forecast runs from the hour after the last point to now + 24h: 25 points.
	if err != nil || len(one) != 1 || one[0].ReachesLimitAt != nil || one[0].Horizon != "24h" || len(one[0].Forecast) != 25 {
		t.Fatalf("grow over 24h: %+v, %v; want one prediction of 25 points without a crossing", one, err)
	}
	// A named service without history is listed with what is missing.
	mem, err := c.Predictions(users["ben"], core.PredictionQuery{Service: core.ServiceQuery{Name: "young"}, Metric: "memory"})
	if err != nil || len(mem) != 1 || mem[0].NotEnoughData == "" {
		t.Fatalf("young memory: %+v, %v; want one prediction saying there is no data", mem, err)
	}

	for _, bad := range []struct {
		q     core.PredictionQuery
		field string
	}{
		{core.PredictionQuery{Metric: "net_rx"}, "metric"},
		{core.PredictionQuery{Horizon: 31 * 24 * time.Hour}, "horizon"},
		{core.PredictionQuery{Horizon: time.Minute}, "horizon"},
		{core.PredictionQuery{Environment: "env-ann", Service: core.ServiceQuery{Name: "grow"}}, "environment"},
	} {
		_, err := c.Predictions(users["ann"], bad.q)
		var be *berth.Error
		if !berth.IsCode(err, berth.EINVALID) || !errors.As(err, &be) || be.Field != bad.field {
			t.Errorf("%+v: %v; want INVALID_REQUEST naming %s", bad.q, err, bad.field)
		}
	}

	// Forecasts are kept while their input cannot change: a rewritten
	// series is seen once a newer hourly point lands (the rollup of the hour).
	steeper := hourly(now, 96, func(i int) float64 { return 0.2 + 0.008*float64(i) }) // 0.96 at the last point
	if err := st.PutMetrics(sys, berth.ResHour, []berth.MetricSeries{{MetricKey: series[0].MetricKey, Points: steeper}}); err != nil {
		t.Fatal(err)
	}
	again, err := c.Predictions(users["ann"], core.PredictionQuery{Service: core.ServiceQuery{Name: "grow"}, Metric: "cpu"})
	if err != nil || again[0].Current != all[1].Current {
		t.Fatalf("within the hour, without a new hourly point: current %v, %v; want the kept %v", again[0].Current, err, all[1].Current)
	}
	next := now.Truncate(time.Hour)
	if err := st.PutMetrics(sys, berth.ResHour, []berth.MetricSeries{{MetricKey: series[2].MetricKey,
		Points: []berth.MetricPoint{{Time: next, Value: 0.1, Min: 0.1, Max: 0.1, P95: 0.1, Count: 1}}}}); err != nil {
		t.Fatal(err)
	}
	again, err = c.Predictions(users["ann"], core.PredictionQuery{Service: core.ServiceQuery{Name: "grow"}, Metric: "cpu"})
	if err != nil || math.Abs(again[0].Current-0.96) > 1e-9 {
		t.Fatalf("after a new hourly point: current %v, %v; want the rewritten 0.96", again[0].Current, err)
	}
	within("grow (steeper)", again[0], 5*time.Hour) // 0.96 + 0.008 h = 1 at h = 5

	// The overview carries the nearest risks, the caller's own.
	ov, err := c.Overview(users["ann"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Predictions) != 2 || ov.Predictions[0].Subject.ID != "env-ann" || ov.Predictions[1].Subject.Name != "grow" {
		t.Errorf("overview predictions %+v; want env-ann then grow", ov.Predictions)
	}
}
