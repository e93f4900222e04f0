package core_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// inventoryRuntime is a target whose inventory is a fixed list; it records
// the actions it is asked to do. Its service and environment calls are
// the read-only ones Infrastructure makes.
type inventoryRuntime struct {
	berth.Runtime
	name  string
	items []berth.Resource

	mu    sync.Mutex
	calls []string
}

func (r *inventoryRuntime) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: r.name, Provider: berth.ProviderKubernetes, DefaultNamespace: "ns"}
}
func (r *inventoryRuntime) Ping(context.Context) error { return nil }
func (r *inventoryRuntime) ServiceState(_ context.Context, ref berth.ServiceRef) (*berth.ServiceState, error) {
	return &berth.ServiceState{Status: berth.ServiceRunning, Replicas: 1, ReadyReplicas: 1}, nil
}
func (r *inventoryRuntime) EnvironmentState(context.Context, *berth.Environment) (*berth.EnvironmentState, error) {
	return &berth.EnvironmentState{Status: berth.EnvRunning}, nil
}
func (r *inventoryRuntime) Inventory(context.Context) ([]berth.Resource, error) {
	return slices.Clone(r.items), nil
}
func (r *inventoryRuntime) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}
func (r *inventoryRuntime) DeleteResource(_ context.Context, typ, id string) error {
	r.record("delete " + typ + " " + id)
	return nil
}
func (r *inventoryRuntime) took() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// actingRuntime also starts and stops items.
type actingRuntime struct{ *inventoryRuntime }

func (r actingRuntime) ResourceAction(_ context.Context, typ, id, action string) error {
	r.record(action + " " + typ + " " + id)
	return nil
}

// item is a managed inventory item of kind/id, or an unmanaged one when kind is "".
func item(typ, id, kind, berthID string) berth.Resource {
	ns, name, _ := strings.Cut(id, "/")
	return berth.Resource{Type: typ, ID: id, Name: name, Namespace: ns, Status: "ready 1/1",
		Managed: kind != "", BerthKind: kind, BerthID: berthID}
}

func inventoryItems(target string) []berth.Resource {
	items := []berth.Resource{
		item("deployment", "ns/web", "service", "web"),          // stored
		item("pod", "ns/web-7d9c5-x2x9k", "service", "web"),     // of a stored service
		item("k8s-service", "ns/web", "service", "web"),         // stored
		item("deployment", "ns/old", "service", "old"),          // no such service: orphaned
		item("deployment", "other/web", "service", "web"),       // web lives in ns, not other: orphaned
		item("deployment", "ns/plain", "service", "plain"),      // stored with no namespace: the default one
		item("statefulset", "ns/ws-live", "environment", ""),    // filled in below
		item("pvc", "ns/ws-gone", "environment", "env-gone000"), // no such environment: orphaned
		item("deployment", "ns/legacy", "", ""),                 // not berth's
	}
	for i := range items {
		items[i].Target = target
	}
	return items
}

func newInfraCore(t *testing.T, rts ...berth.Runtime) (*core.Core, *store.Store, context.Context) {
	return newInfraCoreWith(t, core.Config{}, rts...)
}

func newInfraCoreWith(t *testing.T, cfg core.Config, rts ...berth.Runtime) (*core.Core, *store.Store, context.Context) {
	t.Helper()
	st := storetest.Open(t, store.SQLite, nil)
	cfg.Store, cfg.Runtimes, cfg.DefaultTarget = st, rts, rts[0].Info().Name
	c, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
	for _, svc := range []*berth.Service{
		{Name: "web", Target: "k8s", Namespace: "ns", Managed: true, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx"}},
		{Name: "plain", Target: "k8s", Managed: true, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx"}},
		// The same name on another target does not keep k8s's items alive.
		{Name: "old", Target: "k8s-2", Namespace: "ns", Managed: true, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx"}},
	} {
		if err := st.CreateService(ctx, svc, &berth.Revision{Number: 1, Spec: svc.Spec}); err != nil {
			t.Fatalf("store service %s: %v", svc.Name, err)
		}
	}
	return c, st, ctx
}

// TestInfrastructureOrphans: items berth made for a service or environment
// the store does not have are orphaned; the others, and what berth did not
// make, are not.
func TestInfrastructureOrphans(t *testing.T) {
	t.Parallel()
	k8s := &inventoryRuntime{name: "k8s", items: inventoryItems("k8s")}
	c, st, ctx := newInfraCore(t, k8s, &inventoryRuntime{name: "k8s-2"})
	env := &berth.Environment{Name: "ws", UserID: "usr-other", Target: "k8s", Status: berth.EnvRunning}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	k8s.items[6].BerthID = env.ID

	// Whether something is orphaned does not depend on who asks; an
	// operator who owns nothing sees it all but the items of environments,
	// which are their owners' (and, orphaned, nobody's but the admins').
	operator := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-op", Username: "op", Role: berth.RoleOperator})
	for _, ctx := range []context.Context{ctx, operator} {
		a, _ := berth.ActorFrom(ctx)
		inv, err := c.Infrastructure(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		orphaned := map[string]bool{}
		for _, r := range inv.Resources {
			if r.Target == "k8s" && r.Type != "service" && r.Type != "environment" {
				orphaned[r.Type+" "+r.ID] = r.Orphaned
			}
		}
		want := map[string]bool{
			"deployment ns/web": false, "pod ns/web-7d9c5-x2x9k": false, "k8s-service ns/web": false,
			"deployment ns/old": true, "deployment other/web": true, "deployment ns/plain": false,
			"statefulset ns/ws-live": false, "pvc ns/ws-gone": true, "deployment ns/legacy": false,
		}
		if a.Role != berth.RoleAdmin {
			for _, k := range []string{"statefulset ns/ws-live", "pvc ns/ws-gone"} {
				if _, listed := orphaned[k]; listed {
					t.Errorf("%s is listed for an operator who does not own it", k)
				}
				delete(want, k)
			}
		}
		for k, w := range want {
			got, ok := orphaned[k]
			if !ok || got != w {
				t.Errorf("%s: listed %v, orphaned %v, want orphaned %v", k, ok, got, w)
			}
		}
	}
	if inv, err := c.Infrastructure(ctx, "pvc"); err != nil || inv.Total != 1 || !inv.Resources[0].Orphaned {
		t.Errorf("type filter pvc: %v %+v", err, inv)
	}
}

// TestInfraAction: start, stop and delete reach the runtime for orphans and
// objects berth did not make; an object of a stored service or environment
// is CONFLICT; a target without the capability is NOT_SUPPORTED.
func TestInfraAction(t *testing.T) {
	t.Parallel()
	k8s := &inventoryRuntime{name: "k8s", items: inventoryItems("k8s")}
	bare := &inventoryRuntime{name: "bare", items: inventoryItems("bare")}
	c, st, ctx := newInfraCore(t, actingRuntime{k8s}, bare)
	env := &berth.Environment{Name: "ws", UserID: "usr-admin", Target: "k8s", Status: berth.EnvRunning}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	k8s.items[6].BerthID = env.ID

	for _, tc := range []struct {
		typ, id, target, action string
		want                    string // the runtime call, or an error code
	}{
		{"deployment", "ns/old", "k8s", "delete", "delete deployment ns/old"},
		{"deployment", "ns/old", "", "stop", "stop deployment ns/old"}, // k8s is the default target
		{"deployment", "other/web", "k8s", "start", "start deployment other/web"},
		{"pvc", "ns/ws-gone", "k8s", "delete", "delete pvc ns/ws-gone"},
		{"deployment", "ns/legacy", "k8s", "stop", "stop deployment ns/legacy"},
		{"deployment", "ns/legacy", "k8s", "delete", "delete deployment ns/legacy"},
		{"pod", "ns/web-7d9c5-x2x9k", "k8s", "delete", "delete pod ns/web-7d9c5-x2x9k"}, // its controller replaces it
		{"deployment", "ns/missing", "k8s", "delete", "delete deployment ns/missing"},   // the runtime decides
		{"deployment", "ns/web", "k8s", "delete", string(berth.ECONFLICT)},
		{"k8s-service", "ns/web", "k8s", "delete", string(berth.ECONFLICT)},
		{"deployment", "ns/plain", "k8s", "delete", string(berth.ECONFLICT)},
		{"deployment", "ns/web", "k8s", "stop", string(berth.ECONFLICT)},
		{"statefulset", "ns/ws-live", "k8s", "delete", string(berth.ECONFLICT)},
		{"statefulset", "ns/ws-live", "k8s", "start", string(berth.ECONFLICT)},
		{"deployment", "ns/old", "bare", "stop", string(berth.ENOTSUPPORTED)},
		{"deployment", "ns/old", "bare", "delete", "delete deployment ns/old"},
		{"deployment", "ns/old", "mars", "delete", string(berth.EINVALID)},
	} {
		err := c.InfraAction(ctx, tc.typ, tc.id, tc.target, tc.action)
		calls := append(k8s.took(), bare.took()...)
		got := strings.Join(calls, "; ")
		if err != nil {
			got = string(berth.ErrorCode(err))
			if len(calls) > 0 {
				t.Errorf("%s %s %s: %v, yet the runtime was called: %v", tc.action, tc.typ, tc.id, err, calls)
			}
		}
		if got != tc.want {
			t.Errorf("%s %s %s on %q: %s (%v), want %s", tc.action, tc.typ, tc.id, tc.target, got, err, tc.want)
		}
		if got == string(berth.ECONFLICT) && !strings.Contains(berth.ErrorMessage(err), "instead") {
			t.Errorf("%s %s: conflict does not say what to do: %s", tc.action, tc.id, berth.ErrorMessage(err))
		}
	}
}

// stoppingRuntime also stops services, recording which.
type stoppingRuntime struct{ *inventoryRuntime }

func (r stoppingRuntime) StopService(_ context.Context, ref berth.ServiceRef) error {
	r.record("stop service " + ref.Namespace + "/" + ref.Name)
	return nil
}

// TestInfraServiceInNamespace: a stored service is listed as
// namespace/name, and an action on it reaches that namespace's service,
// not another of the same name.
func TestInfraServiceInNamespace(t *testing.T) {
	t.Parallel()
	k8s := &inventoryRuntime{name: "k8s"}
	c, st, ctx := newInfraCore(t, stoppingRuntime{k8s}, &inventoryRuntime{name: "k8s-2"})
	other := &berth.Service{Name: "web", Target: "k8s", Namespace: "other", Managed: true, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx"}}
	if err := st.CreateService(ctx, other, &berth.Revision{Number: 1, Spec: other.Spec}); err != nil {
		t.Fatal(err)
	}
	inv, err := c.Infrastructure(ctx, "service")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range inv.Resources {
		if r.Target == "k8s" {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	if want := []string{"ns/web", "other/web", "plain"}; !slices.Equal(ids, want) {
		t.Errorf("service ids %v, want %v", ids, want)
	}
	if err := c.InfraAction(ctx, "service", "other/web", "k8s", "stop"); err != nil {
		t.Fatal(err)
	}
	if got := k8s.took(); !slices.Equal(got, []string{"stop service other/web"}) {
		t.Errorf("runtime calls %v, want the service of namespace other stopped", got)
	}
}
