package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestLocalTargetsAcrossReplicas: two replicas share one store, each with
// its own local target (a local target is per host). The leader neither
// stores nor shows "no longer configured" for the other's services (it did:
// bench-chaos found every service of the follower's target stored ERROR),
// and the follower keeps its own target's services' observed state
// current, since no other replica can observe them.
func TestLocalTargetsAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{store.SQLite, store.Postgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, kind, nil)
			replica := func(target string, leading bool) *core.Core {
				rt, err := local.New(local.Config{Name: target, DataDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rt.Close(context.Background()) })
				c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, SharedStore: true,
					Leading: func() bool { return leading }, SyncInterval: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			follower, leader := replica("host-a", false), replica("host-b", true)
			ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
			one := 1
			if _, _, err := follower.ApplyService(ctx, "web", berth.ServiceSpec{Target: "host-a",
				Command: []string{"/bin/sh", "-c", "exec sleep 600"}, Replicas: &one}); err != nil {
				t.Fatal(err)
			}
			ref := berth.ServiceRef{Target: "host-a", Name: "web"}
			// What a write left: the rollout had not finished when it was stored.
			cur, err := st.GetService(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			cur.Status, cur.ReadyReplicas, cur.Message = berth.ServicePending, 0, ""
			if err := st.UpdateService(ctx, cur, nil); err != nil {
				t.Fatal(err)
			}

			leader.SyncOnce(berth.WithActor(ctx, berth.System))
			stored, err := st.GetService(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Status != berth.ServicePending || stored.Message != "" {
				t.Fatalf("after the leader's sync the store has %s %q, want PENDING as stored: the leader cannot observe host-a", stored.Status, stored.Message)
			}
			got, err := leader.GetService(ctx, core.ServiceQuery{Name: "web"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == berth.ServiceError {
				t.Fatalf("the leader shows %s %q for another replica's service, want its stored state", got.Status, got.Message)
			}

			// The follower's loop (it does not lead) stores what its own target runs.
			if err := follower.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(follower.Stop)
			testutil.Eventually(t, testutil.Process, "the follower stores RUNNING 1/1 for its own target's service", func() (bool, string) {
				s, err := st.GetService(ctx, ref)
				if err != nil {
					return false, err.Error()
				}
				return s.Status == berth.ServiceRunning && s.ReadyReplicas == 1, fmt.Sprintf("%s %d/1 %q", s.Status, s.ReadyReplicas, s.Message)
			})
		})
	}
}

// TestRecommendationsSkipTargetsNotHere: the leader's recommendation refresh
// over a store holding a service of a target this replica does not have
// (another replica's local target, or one removed from berth.yaml) neither
// crashes (it asked a nil runtime for the service's state: the leader of
// bench-chaos died of it a minute after taking over) nor fails.
func TestRecommendationsSkipTargetsNotHere(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, nil)
	rt, err := local.New(local.Config{Name: "host-b", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, SharedStore: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(context.Background(), berth.System)
	for _, status := range []berth.ServiceStatus{berth.ServiceRunning, berth.ServiceDegraded} {
		svc := &berth.Service{Name: "web-" + strings.ToLower(string(status)), Target: "host-a", Managed: true, Replicas: 1, Revision: 1, Status: status,
			Spec: berth.ServiceSpec{Command: []string{"/bin/true"}}}
		if err := st.CreateService(ctx, svc, &berth.Revision{Number: 1, Spec: svc.Spec}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RefreshRecommendations(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

// TestAutoStopSkipsTargetsNotHere: the leader's sync does not try to stop an
// idle environment of a target it does not have (it failed, and audited
// the failure, at every pass); that target's replica stops it.
func TestAutoStopSkipsTargetsNotHere(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite, nil)
	rt, err := local.New(local.Config{Name: "host-b", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, SharedStore: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(context.Background(), berth.System)
	idle := time.Now().Add(-time.Hour).UTC()
	env := &berth.Environment{Name: "ws", UserID: "usr-other", Target: "host-a", Status: berth.EnvRunning,
		AutoStopMinutes: 5, LastAccessedAt: idle, CreatedAt: idle, UpdatedAt: idle}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.SyncOnce(ctx)
	}
	entries, _, err := st.ListAudit(ctx, berth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("audit entry %s %s %s: %s", e.Action, e.Resource, e.Status, e.Error)
	}
	got, err := st.GetEnvironment(ctx, env.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != berth.EnvRunning {
		t.Errorf("environment %s on another replica's target: %s, want RUNNING as stored", env.ID, got.Status)
	}
}
