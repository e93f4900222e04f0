package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// TestCleanupOrphans: orphans of a target with a grace go once they have
// been orphaned that long, workloads and ingresses before the Services and
// volumes they use; pods go
// with their workload, everything else stays, and a target without a grace
// is never touched.
func TestCleanupOrphans(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	k8s := &inventoryRuntime{name: "k8s", items: inventoryItems("k8s")}
	other := &inventoryRuntime{name: "k8s-2", items: inventoryItems("k8s-2")}
	c, st, ctx := newInfraCoreWith(t, core.Config{Now: clk.Now, OrphanGrace: map[string]time.Duration{"k8s": time.Hour}}, k8s, other)
	env := &berth.Environment{Name: "ws", UserID: "usr-other", Target: "k8s", Status: berth.EnvRunning}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	k8s.items[6].BerthID = env.ID
	// An orphaned pod: its workload's deletion takes it along.
	k8s.items = append(k8s.items, berth.Resource{Type: "pod", ID: "ns/old-5f7-abcde", Target: "k8s", Managed: true,
		Orphaned: false, BerthKind: "service", BerthID: "old"})
	// The gone environment's Service, listed before the Ingress routing to
	// it: the Ingress goes first, with the workloads.
	k8s.items = append(k8s.items, item("k8s-service", "ns/ws-gone", "environment", "env-gone000"),
		item("ingress", "ns/ws-gone", "environment", "env-gone000"))

	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{0, nil},                // first seen orphaned now
		{30 * time.Minute, nil}, // within the grace
		{31 * time.Minute, []string{"delete deployment ns/old", "delete deployment other/web", "delete ingress ns/ws-gone",
			"delete k8s-service ns/ws-gone", "delete pvc ns/ws-gone"}},
	}
	for i, s := range steps {
		clk.Add(s.advance)
		if err := c.CleanupOrphans(ctx); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := k8s.took(); fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("step %d (+%s): deleted %v, want %v", i, s.advance, got, s.want)
		}
	}
	if got := other.took(); len(got) != 0 {
		t.Errorf("a target without a grace was cleaned: %v", got)
	}

	// An object that stops being orphaned (its record came back) starts
	// afresh when it is orphaned again.
	k8s.items = []berth.Resource{item("deployment", "ns/web", "service", "gone")}
	k8s.items[0].Target = "k8s"
	_ = c.CleanupOrphans(ctx) // first seen
	k8s.items[0].BerthID = "web"
	clk.Add(2 * time.Hour)
	_ = c.CleanupOrphans(ctx) // not orphaned: forgotten
	k8s.items[0].BerthID = "gone"
	_ = c.CleanupOrphans(ctx) // orphaned again: counting from now
	if got := k8s.took(); len(got) != 0 {
		t.Errorf("an object orphaned again was deleted at once: %v", got)
	}
}
