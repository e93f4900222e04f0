package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
)

// driftRuntime is a runtime that reports the drift it is told to and
// records every apply, at the time of an injected clock.
type driftRuntime struct {
	berth.Runtime
	clock *testutil.Clock

	mu        sync.Mutex
	failures  int                 // applies that fail before one succeeds
	envFails  int                 // environment applies that fail before one succeeds
	drift     map[string][]string // service name or environment id → drift
	applies   []berth.Service
	applyAt   []time.Time
	envApply  []string
	checkErr  error
	applyCall chan struct{}
}

func newDriftRuntime(clock *testutil.Clock) *driftRuntime {
	return &driftRuntime{clock: clock, drift: map[string][]string{}, applyCall: make(chan struct{}, 100)}
}

func (r *driftRuntime) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: "k8s", Provider: berth.ProviderKubernetes, DefaultNamespace: "ns"}
}
func (r *driftRuntime) Ping(context.Context) error { return nil }
func (r *driftRuntime) ServiceState(context.Context, berth.ServiceRef) (*berth.ServiceState, error) {
	return &berth.ServiceState{Status: berth.ServiceRunning, Replicas: 1, ReadyReplicas: 1}, nil
}
func (r *driftRuntime) EnvironmentState(context.Context, *berth.Environment) (*berth.EnvironmentState, error) {
	return &berth.EnvironmentState{Status: berth.EnvRunning}, nil
}
func (r *driftRuntime) ApplyService(_ context.Context, svc *berth.Service) error {
	r.mu.Lock()
	defer func() { r.mu.Unlock(); r.applyCall <- struct{}{} }()
	r.applies = append(r.applies, *svc)
	if r.clock != nil {
		r.applyAt = append(r.applyAt, r.clock.Now())
	}
	if r.failures > 0 {
		r.failures--
		return berth.Errorf(berth.EUNAVAILABLE, "target k8s: connection refused")
	}
	delete(r.drift, svc.Name) // applied: as berth wants it again
	return nil
}
func (r *driftRuntime) ApplyEnvironment(_ context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envApply = append(r.envApply, env.ID)
	if r.envFails > 0 {
		r.envFails--
		return nil, berth.Errorf(berth.EUNAVAILABLE, "target k8s: connection refused")
	}
	delete(r.drift, env.ID)
	return &berth.EnvironmentState{Status: berth.EnvRunning}, nil
}
func (r *driftRuntime) ServiceDrift(_ context.Context, svc *berth.Service) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drift[svc.Name], r.checkErr
}
func (r *driftRuntime) EnvironmentDrift(_ context.Context, env *berth.Environment) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drift[env.ID], r.checkErr
}

func (r *driftRuntime) applied() []berth.Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]berth.Service(nil), r.applies...)
}

func (r *driftRuntime) setDrift(name string, drift ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drift[name] = drift
}

func storeServices(t *testing.T, st *store.Store, svcs ...*berth.Service) {
	t.Helper()
	for _, svc := range svcs {
		if err := st.CreateService(context.Background(), svc, &berth.Revision{Number: 1, Spec: svc.Spec}); err != nil {
			t.Fatalf("store service %s: %v", svc.Name, err)
		}
	}
}

// TestReconcileRepairsWhatDrifted: the first pass of each managed service
// applies it (what restore did); later passes apply only what the runtime
// reports drifted, keep a stopped service stopped, never touch a service
// berth did not create, and make each repair visible (event, audit entry by
// system, counter). A failing drift check is an error (retried by the loop).
func TestReconcileRepairsWhatDrifted(t *testing.T) {
	t.Parallel()
	rt := newDriftRuntime(nil)
	events := &eventLog{}
	st := storetest.Open(t, store.SQLite, nil)
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(context.Background(), berth.System) // the loop's own caller
	web := berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "web"}
	idle := berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "idle"}
	theirs := berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "theirs"}
	storeServices(t, st,
		&berth.Service{Name: "web", Target: "k8s", Namespace: "ns", Managed: true, Replicas: 2, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx:1"}},
		&berth.Service{Name: "idle", Target: "k8s", Namespace: "ns", Managed: true, Stopped: true, Replicas: 3, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx:1"}},
		&berth.Service{Name: "theirs", Target: "k8s", Namespace: "ns", Managed: false, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx:1"}},
	)
	env := &berth.Environment{Name: "ws", UserID: "usr-alice", Target: "k8s", Status: berth.EnvRunning}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	reconcileAll := func() {
		t.Helper()
		for _, ref := range []berth.ServiceRef{web, idle, theirs} {
			if err := c.Reconcile(ctx, ref, ""); err != nil {
				t.Fatalf("reconcile %s: %v", ref, err)
			}
		}
		if err := c.Reconcile(ctx, berth.ServiceRef{}, env.ID); err != nil {
			t.Fatalf("reconcile environment: %v", err)
		}
	}

	reconcileAll()
	if got := len(rt.applied()); got != 2 {
		t.Fatalf("first pass applied %d services, want 2 (web, idle; never theirs)", got)
	}
	reconcileAll()
	if got := len(rt.applied()); got != 2 {
		t.Fatalf("a pass without drift applied %d more services", got-2)
	}
	if n := events.count("service.drift"); n != 0 {
		t.Fatalf("restore published %d drift events, want 0", n)
	}

	rt.setDrift("idle", "Deployment ns/idle: changed")
	rt.setDrift("theirs", "Deployment ns/theirs: changed")
	rt.setDrift(env.ID, "Ingress ns/ws: missing")
	reconcileAll()
	got := rt.applied()
	if len(got) != 3 || got[2].Name != "idle" || !got[2].Stopped || got[2].Replicas != 3 {
		t.Fatalf("applies after drift: %+v, want one more of idle, stopped with 3 replicas kept", got)
	}
	if len(rt.envApply) != 2 {
		t.Fatalf("environment applied %d times, want 2 (restore, drift)", len(rt.envApply))
	}
	if n := events.count("service.drift"); n != 1 {
		t.Errorf("%d service.drift events, want 1", n)
	}
	if n := events.count("environment.drift"); n != 1 {
		t.Errorf("%d environment.drift events, want 1", n)
	}
	for _, e := range events.events {
		if e.Type == "environment.drift" && e.Owner != "usr-alice" {
			t.Errorf("environment.drift event owned by %q, want the environment's owner", e.Owner)
		}
	}
	entries, _, err := st.ListAudit(ctx, berth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var drifts []string
	for _, e := range entries {
		if e.Action == "service.drift" || e.Action == "environment.drift" {
			if e.UserID != berth.System.UserID || e.Username != berth.System.Username {
				t.Errorf("audit entry %s by %s/%s, want system", e.Action, e.UserID, e.Username)
			}
			drifts = append(drifts, e.Action+" "+e.Resource)
		}
	}
	if len(drifts) != 2 {
		t.Errorf("drift audit entries %v, want one per repaired object", drifts)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collectors()...)
	if n := promtestutil.ToFloat64(collectorFor(t, c, "service")); n != 1 {
		t.Errorf("berth_drift_repairs_total{kind=service} = %v, want 1", n)
	}
	if n, err := promtestutil.GatherAndCount(reg, "berth_drift_repairs_total"); err != nil || n != 2 {
		t.Errorf("berth_drift_repairs_total series = %d (%v), want 2 (service, environment)", n, err)
	}

	rt.checkErr = berth.Errorf(berth.EUNAVAILABLE, "target k8s: connection refused")
	if err := c.Reconcile(ctx, web, ""); err == nil {
		t.Error("a failing drift check reconciled without error: it would not be retried")
	}
}

// collectorFor is the drift counter of one kind on target k8s.
func collectorFor(t *testing.T, c *core.Core, kind string) prometheus.Collector {
	t.Helper()
	vec, ok := c.Collectors()[0].(*prometheus.CounterVec)
	if !ok {
		t.Fatalf("core's first collector is %T, want the drift CounterVec", c.Collectors()[0])
	}
	return vec.WithLabelValues(kind, "k8s")
}

// TestReconcileBacksOffAnUnreachableTarget: a target that refuses applies
// is retried with exponential backoff (1s, 2s, 4s, 8s on the injected
// clock), not hammered, and left alone once the apply succeeds.
func TestReconcileBacksOffAnUnreachableTarget(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := newDriftRuntime(clock)
	rt.failures = 4
	startWithWeb(t, rt, core.Config{SyncInterval: time.Hour,
		Reconcile: core.ReconcileConfig{Clock: clock, RetryBase: time.Second, RetryMax: time.Minute, Resync: time.Hour}})

	start := clock.Now()
	// Time moves only when the test steps it: after each call, step the
	// clock 100ms at a time (a short real pause lets the queue see each
	// step) until the next call comes. A late step can only lengthen a gap.
	for call := 0; call < 5; call++ {
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case <-rt.applyCall:
				break wait
			case <-deadline:
				t.Fatalf("apply %d did not come (fake time %v after start)", call+1, clock.Since(start))
			case <-time.After(2 * time.Millisecond):
				if call > 0 {
					clock.Advance(100 * time.Millisecond)
				}
			}
		}
	}
	rt.mu.Lock()
	at := append([]time.Time(nil), rt.applyAt...)
	rt.mu.Unlock()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		gap := at[i+1].Sub(at[i])
		if gap < w || gap > w+time.Second {
			t.Errorf("retry %d came %v after the previous call, want %v (exponential backoff)", i+1, gap, w)
		}
	}
	// Succeeded: no further applies however long the target stays fine.
	for range 600 {
		clock.Advance(100 * time.Millisecond)
	}
	select {
	case <-rt.applyCall:
		t.Errorf("applied again after success: %d applies", len(rt.applied()))
	case <-time.After(50 * time.Millisecond):
	}
}

// TestReconcileRunsOnTheLeaderOnly: every replica restores at start (the
// first pass, as restore did: a local target is per host and its replica
// need not lead), but only the leader repairs drift; a replica that
// becomes leader enqueues everything at once and repairs.
func TestReconcileRunsOnTheLeaderOnly(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := newDriftRuntime(clock)
	var mu sync.Mutex
	leads, asked := false, 0
	leading := func() bool {
		mu.Lock()
		defer mu.Unlock()
		asked++
		return leads
	}
	asks := func() int {
		mu.Lock()
		defer mu.Unlock()
		return asked
	}
	awaitApply := func(what string) {
		t.Helper()
		select {
		case <-rt.applyCall:
		case <-time.After(10 * time.Second):
			t.Fatal(what)
		}
	}
	// The leadership check runs every SyncInterval (an hour) on the
	// injected clock, the resync every 10 hours.
	startWithWeb(t, rt, core.Config{SyncInterval: time.Hour, Leading: leading,
		Reconcile: core.ReconcileConfig{Clock: clock, Resync: 10 * time.Hour}})
	awaitApply("the follower did not restore the service at start")

	rt.setDrift("web", "Deployment ns/web: image changed")
	before := asks()
	clock.Advance(10 * time.Hour) // resync: the worker asks whether it leads
	testutil.Eventually(t, testutil.Short, "the worker to ask whether it leads", func() (bool, string) {
		n := asks() // the leadership check's ask and the worker's
		return n >= before+2, fmt.Sprintf("%d asks since the resync", n-before)
	})
	if got := rt.applied(); len(got) != 1 {
		t.Fatalf("a replica that does not lead repaired drift: %d applies", len(got))
	}

	mu.Lock()
	leads = true
	mu.Unlock()
	clock.Advance(time.Hour) // the leadership check sees the change
	awaitApply("the new leader did not repair the drift")
}

// startWithWeb starts a core on rt whose store holds one managed service,
// web, stopped when the test ends.
func startWithWeb(t *testing.T, rt berth.Runtime, cfg core.Config) {
	t.Helper()
	cfg.Store, cfg.Runtimes = storetest.Open(t, store.SQLite, nil), []berth.Runtime{rt}
	c, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	storeServices(t, cfg.Store.(*store.Store), &berth.Service{Name: "web", Target: "k8s", Namespace: "ns", Managed: true, Replicas: 1, Revision: 1,
		Spec: berth.ServiceSpec{Image: "nginx:1"}})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
}
