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
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestFailedRepairShowsError: a service and an environment whose repairs
// keep failing show ERROR in the store once the loop has failed
// RepairRetries passes, with the runtime's reason as their message; the
// status sync keeps it so; one error event and one failed audit entry by
// system say so per object however often it fails again. When the runtime
// accepts the apply again, the next pass clears it: the stored status is
// what the runtime reports and a completed audit entry says so.
func TestFailedRepairShowsError(t *testing.T) {
	t.Parallel()
	rt := newDriftRuntime(nil)
	rt.failures, rt.envFails = 1000, 1000
	events := &eventLog{}
	st := storetest.Open(t, store.SQLite, nil)
	ctx := berth.WithActor(context.Background(), berth.System)
	storeServices(t, st, &berth.Service{Name: "web", Target: "k8s", Namespace: "ns", Managed: true, Replicas: 1, Revision: 1,
		Status: berth.ServiceRunning, Spec: berth.ServiceSpec{Image: "nginx:1"}})
	env := &berth.Environment{Name: "ws", UserID: "usr-alice", Target: "k8s", Status: berth.EnvRunning}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	// Real time with millisecond backoff: the loop fails fast.
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Events: events, SyncInterval: time.Hour,
		Reconcile: core.ReconcileConfig{RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, RepairRetries: 3, Resync: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ref := berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "web"}

	stored := func() (*berth.Service, *berth.Environment) {
		t.Helper()
		svc, err := st.GetService(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		e, err := st.GetEnvironment(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		return svc, e
	}
	state := func(svc *berth.Service, e *berth.Environment) string {
		return fmt.Sprintf("service %s %q, environment %s %q", svc.Status, svc.Message, e.Status, e.Message)
	}
	testutil.Eventually(t, testutil.Short, "both stored as ERROR", func() (bool, string) {
		svc, e := stored()
		return svc.Status == berth.ServiceError && e.Status == berth.EnvError, state(svc, e)
	})
	// Let the loop fail a few more times: no more events or entries.
	fails := len(rt.applied())
	testutil.Eventually(t, testutil.Short, "more failed applies", func() (bool, string) {
		n := len(rt.applied())
		return n >= fails+3, fmt.Sprintf("%d applies", n)
	})
	c.SyncOnce(ctx) // the runtime reports RUNNING: the sync must not hide the failure
	svc, e := stored()
	for what, msg := range map[string]string{"service": svc.Message, "environment": e.Message} {
		if !strings.HasPrefix(msg, "repair failed ") || !strings.Contains(msg, "connection refused") {
			t.Errorf("%s message %q, want the failed repair and its reason", what, msg)
		}
	}
	if svc.Status != berth.ServiceError || e.Status != berth.EnvError {
		t.Fatalf("after a status sync: %s", state(svc, e))
	}
	if got, err := c.GetService(ctx, core.ServiceQuery{Name: "web", Target: "k8s", Namespace: "ns"}); err != nil || got.Status != berth.ServiceError {
		t.Fatalf("GET of the service while its repair fails: %+v, %v", got, err)
	}
	if n, m := events.count("service.error"), events.count("environment.error"); n != 1 || m != 1 {
		t.Errorf("%d service.error and %d environment.error events, want one each", n, m)
	}
	repairs := func(status string) []*berth.AuditEntry {
		t.Helper()
		entries, _, err := st.ListAudit(ctx, berth.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []*berth.AuditEntry
		for _, a := range entries {
			if strings.HasSuffix(a.Action, ".repair") && a.Status == status {
				out = append(out, a)
			}
		}
		return out
	}
	failed := repairs(berth.AuditFailed)
	if len(failed) != 2 {
		t.Fatalf("%d failed repair entries, want one per object", len(failed))
	}
	for _, a := range failed {
		if a.UserID != berth.System.UserID || !strings.Contains(a.Error, "connection refused") {
			t.Errorf("failed repair entry %+v, want by system with the reason", a)
		}
	}

	rt.mu.Lock()
	rt.failures, rt.envFails = 0, 0
	rt.mu.Unlock()
	testutil.Eventually(t, testutil.Short, "both back to RUNNING", func() (bool, string) {
		svc, e := stored()
		return svc.Status == berth.ServiceRunning && e.Status == berth.EnvRunning, state(svc, e)
	})
	if svc, e := stored(); svc.Message != "" || e.Message != "" {
		t.Errorf("messages kept after the repair: %s", state(svc, e))
	}
	testutil.Eventually(t, testutil.Short, "completed repair entries", func() (bool, string) {
		n := len(repairs(berth.AuditCompleted))
		return n == 2, fmt.Sprintf("%d completed repair entries", n)
	})
}
