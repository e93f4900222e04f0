package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// TestQuotaRollbackAndConfig: a rollback to a revision that requests more
// than the owner's serviceCpuCores/serviceMemoryGB allow is QUOTA_EXCEEDED
// and changes nothing (stored service, revisions, runtime applies, metered
// intervals); one that fits is stored, rolled out and metered at its new
// requests from the moment it happened; a config update (files/env only,
// never requests) is not refused even with the quota already exceeded.
// Both stores.
func TestQuotaRollbackAndConfig(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name    string
		limits  berth.QuotaLimits
		op      string // rollback | config
		wantErr string // exact QUOTA_EXCEEDED message, "" for success
		wantCPU float64
	}{
		{"rollback beyond serviceCpuCores", berth.QuotaLimits{ServiceCPUCores: f(1.5)}, "rollback",
			"serviceCpuCores: 0.5 of 1.5 in use, service web needs 1.5", 0},
		{"rollback beyond serviceMemoryGB", berth.QuotaLimits{ServiceMemoryGB: f(1.5)}, "rollback",
			"serviceMemoryGB: 1 of 1.5 in use, service web needs 1", 0},
		{"rollback within quota", berth.QuotaLimits{ServiceCPUCores: f(2), ServiceMemoryGB: f(4)}, "rollback", "", 1},
		{"config under an exceeded quota", berth.QuotaLimits{ServiceCPUCores: f(0.1)}, "config", "", 0.25},
	}
	for _, kind := range storetest.Kinds() {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				t0 := at("2026-03-01 00:00:00")
				clk := &clock{now: t0}
				st := storetest.Open(t, kind, nil)
				st.SetClock(clk.Now)
				rt := newDriftRuntime(nil)
				c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				sys := berth.WithActor(context.Background(), berth.System)
				ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
				two := 2
				// Revision 1: 2 × (1 core, 1 GiB); revision 2: 2 × (250m, 512Mi).
				if _, _, err := c.ApplyService(ctx, "web", berth.ServiceSpec{Image: "nginx:1", Replicas: &two,
					Resources: berth.Resources{CPU: "1", Memory: "1Gi"}}); err != nil {
					t.Fatal(err)
				}
				c.SyncOnce(sys) // stores the ready replicas the runtime reports
				clk.Add(time.Hour)
				if _, _, err := c.ApplyService(ctx, "web", berth.ServiceSpec{Image: "nginx:1", Replicas: &two,
					Resources: berth.Resources{CPU: "250m", Memory: "512Mi"}}); err != nil {
					t.Fatal(err)
				}
				c.SyncOnce(sys)
				if err := c.SetQuota(ctx, berth.QuotaDefaults, "", tc.limits); err != nil {
					t.Fatal(err)
				}
				applies := len(rt.applied())
				clk.Add(time.Hour)
				q := core.ServiceQuery{Name: "web"}
				if tc.op == "rollback" {
					_, err = c.RollbackService(ctx, q, 1)
				} else {
					_, err = c.UpdateConfig(ctx, q, nil, map[string]string{"A": "b"})
				}
				c.SyncOnce(sys)
				ref := berth.ServiceRef{Target: "k8s", Namespace: "ns", Name: "web"}
				stored, gerr := st.GetService(ctx, ref)
				if gerr != nil {
					t.Fatal(gerr)
				}
				revs, rerr := st.ListRevisions(ctx, ref)
				if rerr != nil {
					t.Fatal(rerr)
				}
				if tc.wantErr != "" {
					if berth.ErrorCode(err) != berth.EQUOTA || berth.ErrorMessage(err) != tc.wantErr {
						t.Fatalf("err = %v (%s), want QUOTA_EXCEEDED %q", err, berth.ErrorCode(err), tc.wantErr)
					}
					if stored.Revision != 2 || stored.Spec.Resources.CPU != "250m" || len(revs) != 2 {
						t.Fatalf("refused rollback changed the store: revision %d cpu %q, %d revisions",
							stored.Revision, stored.Spec.Resources.CPU, len(revs))
					}
					if n := len(rt.applied()); n != applies {
						t.Fatalf("refused rollback reached the runtime: %d applies, had %d", n, applies)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if stored.Revision != 3 || len(revs) != 3 || stored.Replicas != 2 {
						t.Fatalf("stored revision %d, %d revisions, replicas %d", stored.Revision, len(revs), stored.Replicas)
					}
					got := rt.applied()
					if len(got) != applies+1 || got[len(got)-1].Revision != 3 {
						t.Fatalf("runtime applies %d (had %d), last %+v", len(got), applies, got[len(got)-1])
					}
					if tc.op == "rollback" && (got[len(got)-1].Spec.Resources.CPU != "1" || revs[0].Cause != "rollback to 1") {
						t.Fatalf("rolled out %+v, newest revision %q", got[len(got)-1].Spec.Resources, revs[0].Cause)
					}
				}
				// Metering: the runtime reports 1 ready replica, so the hours
				// are 1 core (rev 1), then 0.25 (rev 2), then what the last
				// hour holds.
				clk.Add(time.Hour)
				aggs, err := st.UsageAggregate(ctx, berth.UsageQuery{From: t0, To: t0.Add(3 * time.Hour), Now: clk.Now(),
					GroupBy: berth.GroupByService})
				if err != nil || len(aggs) != 1 {
					t.Fatalf("usage: %v %+v", err, aggs)
				}
				want := (1 + 0.25 + tc.wantCPU) * 3600
				if tc.wantErr != "" {
					want = (1 + 0.25 + 0.25) * 3600
				}
				if aggs[0].CPUCoreSec != want {
					t.Fatalf("metered %v core-seconds, want %v", aggs[0].CPUCoreSec, want)
				}
			})
		}
	}
}
