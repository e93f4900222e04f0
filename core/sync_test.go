package core_test

import (
	"context"
	"sync"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// eventLog records what core publishes.
type eventLog struct {
	mu     sync.Mutex
	events []berth.Event
}

func (l *eventLog) Publish(_ context.Context, e berth.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) count(typ string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestSyncPublishesChangesOnly: a pass that observes what the store
// already holds (ready replicas included) writes and publishes nothing;
// without the stored ready count every pass republished every service.
func TestSyncPublishesChangesOnly(t *testing.T) {
	t.Parallel()
	log := &eventLog{}
	c, st, ctx := newInfraCoreWith(t, core.Config{Events: log}, &inventoryRuntime{name: "k8s"}, &inventoryRuntime{name: "k8s-2"})
	c.SyncOnce(ctx)
	first := log.count("service.status")
	if first != 3 {
		t.Fatalf("first pass published %d service.status events, want 3 (each service became RUNNING 1/1)", first)
	}
	got, err := st.GetService(ctx, berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != berth.ServiceRunning || got.ReadyReplicas != 1 {
		t.Fatalf("stored %s %d ready, want RUNNING 1", got.Status, got.ReadyReplicas)
	}
	for range 3 {
		c.SyncOnce(ctx)
	}
	if n := log.count("service.status"); n != first {
		t.Errorf("passes without change published %d more service.status events", n-first)
	}
}
