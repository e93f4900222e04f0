package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// clusterLike stands for a runtime that reports workloads berth did not
// create (the kube package tests the real one against a real API server);
// here it lets core's merge, paging and refusals be checked exactly.
type clusterLike struct {
	berth.Runtime
	mu       sync.Mutex
	found    []*berth.Service // what ListServices reports
	listErr  error
	calls    []string
	revision int
}

func (r *clusterLike) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: "k", Provider: berth.ProviderKubernetes, DefaultNamespace: "apps"}
}

func (r *clusterLike) ListServices(context.Context) ([]*berth.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	var out []*berth.Service
	for _, s := range r.found {
		cp := *s
		out = append(out, &cp)
	}
	return out, nil
}

func (r *clusterLike) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *clusterLike) ApplyService(_ context.Context, svc *berth.Service) error {
	for _, s := range r.found {
		if s.Name == svc.Name && s.Namespace == svc.Namespace && !s.Managed {
			return berth.Errorf(berth.ECONFLICT, "deployment %s/%s exists and is not managed by berth", s.Namespace, s.Name)
		}
	}
	r.record("apply " + svc.Ref().String())
	return nil
}

func (r *clusterLike) ServiceState(_ context.Context, ref berth.ServiceRef) (*berth.ServiceState, error) {
	return &berth.ServiceState{Status: berth.ServiceRunning, Replicas: 1, ReadyReplicas: 1}, nil
}

func (r *clusterLike) ScaleService(_ context.Context, ref berth.ServiceRef, n int) error {
	r.record(fmt.Sprintf("scale %s %d", ref, n))
	return nil
}

func (r *clusterLike) RollbackService(_ context.Context, ref berth.ServiceRef, revision int) error {
	r.record(fmt.Sprintf("rollback %s %d", ref, revision))
	return nil
}

func (r *clusterLike) ServiceRevisions(_ context.Context, ref berth.ServiceRef) ([]*berth.Revision, error) {
	return []*berth.Revision{{Service: ref, Number: 2, Cause: "rollout", Spec: berth.ServiceSpec{Image: "web:2",
		Secrets: map[string]string{"TOKEN": "from-the-cluster"}}}, {Service: ref, Number: 1, Cause: "rollout"}}, nil
}

func TestUnmanagedServices(t *testing.T) {
	t.Parallel()
	ctx := berth.WithActor(context.Background(), berth.System)
	st := storetest.Open(t, "sqlite", nil)
	rt := &clusterLike{}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}})
	if err != nil {
		t.Fatal(err)
	}
	// "b" is berth's, created without a namespace: it lands in the default one.
	if _, _, err := c.ApplyService(ctx, "b", berth.ServiceSpec{Target: "k", Image: "b:1"}); err != nil {
		t.Fatal(err)
	}
	rt.found = []*berth.Service{
		{Name: "a", Target: "k", Namespace: "apps", Status: berth.ServiceRunning, Replicas: 2},
		{Name: "b", Target: "k", Namespace: "apps", Managed: true, Status: berth.ServiceRunning, Replicas: 1},
		{Name: "c", Target: "k", Namespace: "zeta", Status: berth.ServiceStopped,
			Spec: berth.ServiceSpec{Secrets: map[string]string{"K": "v"}}},
	}

	l, err := c.ListServices(ctx, "", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	page, total := l.Services, l.Total
	if total != 3 || len(page) != 2 || page[0].Name != "a" || page[1].Name != "b" {
		t.Fatalf("page 1 = %v (total %d), want a, b of 3", names(page), total)
	}
	if page[0].Managed || !page[1].Managed || page[1].Revision != 1 || page[1].Namespace != "apps" {
		t.Errorf("a is unmanaged, b the stored record: %+v %+v", page[0], page[1])
	}
	l, _ = c.ListServices(ctx, "k", 2, 2)
	page = l.Services
	if len(page) != 1 || page[0].Name != "c" || page[0].Spec.Secrets["K"] != berth.Redacted {
		t.Errorf("page 2 = %v, want c with its secret redacted", page)
	}

	q := core.ServiceQuery{Name: "a", Target: "k"}
	if svc, err := c.GetService(ctx, q); err != nil || svc.Managed {
		t.Fatalf("get a = %+v, %v", svc, err)
	}
	if _, err := c.ScaleService(ctx, q, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RollbackService(ctx, q, 1); err != nil {
		t.Fatal(err)
	}
	revs, err := c.ListRevisions(ctx, q)
	if err != nil || len(revs) != 2 || revs[0].Spec.Secrets["TOKEN"] != berth.Redacted {
		t.Errorf("revisions = %+v, %v (from the runtime, secrets redacted)", revs, err)
	}
	want := []string{"apply k:apps/b", "scale k:apps/a 4", "rollback k:apps/a 1"}
	if fmt.Sprint(rt.calls) != fmt.Sprint(want) {
		t.Errorf("runtime calls = %v, want %v", rt.calls, want)
	}

	// What berth did not create, it does not change or delete; PUT of its
	// name is refused and leaves no record behind.
	refusals := map[string]func() error{
		"configure": func() error { _, err := c.UpdateConfig(ctx, q, map[string]string{"x": "y"}, nil); return err },
		"delete":    func() error { _, err := c.DeleteService(ctx, q); return err },
		"put": func() error {
			_, _, err := c.ApplyService(ctx, "a", berth.ServiceSpec{Target: "k", Image: "a:2"})
			return err
		},
	}
	for name, fn := range refusals {
		if err := fn(); !berth.IsCode(err, berth.ECONFLICT) {
			t.Errorf("%s of an unmanaged service: %v, want CONFLICT", name, err)
		}
	}
	if _, n, _ := st.ListServices(ctx, berth.ServiceFilter{Name: "a"}); n != 0 {
		t.Errorf("a refused PUT left %d records", n)
	}

	// One unreachable cluster: its target's own reads fail, the rest still answer.
	rt.listErr = berth.Errorf(berth.EUNAVAILABLE, "target %q: API server unreachable", "k")
	if _, err := c.ListServices(ctx, "k", 0, 10); !berth.IsCode(err, berth.EUNAVAILABLE) {
		t.Errorf("list of the down target: %v, want UNAVAILABLE", err)
	}
	l, err = c.ListServices(ctx, "", 0, 10)
	if err != nil || len(l.Services) != 1 || l.Services[0].Name != "b" || len(l.Unreachable) != 1 || l.Unreachable[0].Name != "k" {
		t.Errorf("list of all targets with k down = %+v, %v; want the stored b and k unreachable", l, err)
	}
	if _, err := c.GetService(ctx, q); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("get of an unmanaged service on a down target succeeded")
	}
}

func names(svcs []*berth.Service) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, s.Target+"/"+s.Namespace+"/"+s.Name)
	}
	return out
}

// TestSyncUnmanagedEvents: the sync loop publishes what changes of services
// berth did not create (they have no store record to compare with), never
// its own services twice, nothing on its first pass, and nothing when the
// target cannot be listed.
func TestSyncUnmanagedEvents(t *testing.T) {
	t.Parallel()
	ctx := berth.WithActor(context.Background(), berth.System)
	st := storetest.Open(t, "sqlite", nil)
	rt := &clusterLike{}
	log := &eventLog{}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ApplyService(ctx, "mine", berth.ServiceSpec{Target: "k", Image: "b:1"}); err != nil {
		t.Fatal(err)
	}
	set := func(found ...*berth.Service) {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		rt.found = found
	}
	web := func(ready int) *berth.Service {
		return &berth.Service{Name: "web", Target: "k", Namespace: "shop", Status: berth.ServiceRunning, Replicas: 2, ReadyReplicas: ready}
	}
	mine := &berth.Service{Name: "mine", Target: "k", Namespace: "apps", Managed: true, Status: berth.ServiceRunning, Replicas: 1, ReadyReplicas: 1}
	other := &berth.Service{Name: "web", Target: "k", Namespace: "other", Status: berth.ServiceRunning, Replicas: 1, ReadyReplicas: 1}

	// pass runs one sync and returns the events about services it published.
	pass := func() []string {
		log.mu.Lock()
		log.events = nil
		log.mu.Unlock()
		c.SyncOnce(ctx)
		log.mu.Lock()
		defer log.mu.Unlock()
		var out []string
		for _, e := range log.events {
			if e.Topic != core.TopicServices {
				continue
			}
			s := e.Data.(*berth.Service)
			out = append(out, fmt.Sprintf("%s %s/%s %d", e.Type, s.Namespace, s.Name, s.ReadyReplicas))
		}
		return out
	}
	// The first pass only records what is there (and berth's own service
	// settles: its first status change is syncService's to publish).
	set(mine, web(1), other)
	c.SyncOnce(ctx)
	tests := []struct {
		name  string
		found []*berth.Service
		err   error
		want  []string
	}{
		{"no change", []*berth.Service{mine, web(1), other}, nil, nil},
		{"a rollout progresses", []*berth.Service{mine, web(2), other}, nil, []string{"service.status shop/web 2"}},
		{"the cluster cannot be listed", nil, errors.New("connection refused"), nil},
		{"deleted with kubectl", []*berth.Service{mine, web(2)}, nil, []string{"service.deleted other/web 0"}},
		{"created with kubectl", []*berth.Service{mine, web(2), other}, nil, []string{"service.status other/web 1"}},
	}
	for _, tc := range tests {
		set(tc.found...)
		rt.mu.Lock()
		rt.listErr = tc.err
		rt.mu.Unlock()
		if got := pass(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: published %v, want %v", tc.name, got, tc.want)
		}
	}
}
