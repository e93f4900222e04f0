package core_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
)

// ledgerSeg is one hand-written line of the expected ledger: what a
// resource held over [from, to).
type ledgerSeg struct {
	user, key     string
	from, to      string
	cpu, mem, sto float64
	replicas      float64
}

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// sum is the ledger's core-, GB-, storage- and replica-seconds inside
// [from, to) for segments that match.
func sum(l []ledgerSeg, from, to time.Time, match func(ledgerSeg) bool) (cpu, mem, sto, rep float64) {
	for _, s := range l {
		if !match(s) {
			continue
		}
		a, b := at(s.from), at(s.to)
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if !b.After(a) {
			continue
		}
		d := b.Sub(a).Seconds()
		cpu, mem, sto, rep = cpu+s.cpu*d, mem+s.mem*d, sto+s.sto*d, rep+s.replicas*d
	}
	return
}

// TestUsageLedger: an environment and a service driven through three
// simulated months of transitions with an injected clock (and one
// stretch with no leader, cut at the last heartbeat) report, by month, by
// user and by environment, exactly the hand-written ledger to the second,
// with cost from the target's price table. Both stores.
func TestUsageLedger(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) { testUsageLedger(t, kind) })
	}
}

func testUsageLedger(t *testing.T, kind string) {
	ctx := berth.WithActor(context.Background(), berth.System)
	clk := &clock{now: at("2026-01-01 00:00:00")}
	st := storetest.Open(t, kind, nil)
	st.SetClock(clk.Now)
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{untouchable{}}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	step := func(when string, fn func()) {
		t.Helper()
		clk.mu.Lock()
		clk.now = at(when)
		clk.mu.Unlock()
		fn()
	}
	env := &berth.Environment{ID: "env-a", UserID: "u1", Name: "alpha", Status: berth.EnvCreating, Target: "t",
		CPUCores: 2, MemoryGB: 4, StorageGB: 20}
	upd := func(status berth.EnvStatus, stopped bool) func() {
		return func() {
			env.Status, env.Stopped, env.UpdatedAt = status, stopped, clk.Now()
			if err := st.UpdateEnvironment(ctx, env); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc := &berth.Service{Name: "web", Target: "t", Owner: "u2", Managed: true, Revision: 1, Replicas: 2, ReadyReplicas: 2,
		Spec: berth.ServiceSpec{Resources: berth.Resources{CPU: "500m", Memory: "1Gi"}}}
	svcUpd := func(ready int, stopped bool) func() {
		return func() {
			svc.ReadyReplicas, svc.Stopped = ready, stopped
			if err := st.UpdateService(ctx, svc, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	heartbeat := func(stale time.Duration) func() {
		return func() {
			if _, err := st.UsageHeartbeat(ctx, clk.Now(), stale); err != nil {
				t.Fatal(err)
			}
		}
	}
	step("2026-01-01 00:00:00", func() {
		if err := st.CreateEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
	})
	step("2026-01-01 01:00:00", upd(berth.EnvRunning, false))
	step("2026-01-11 01:30:00", upd(berth.EnvStopped, true))
	step("2026-01-15 00:00:00", func() {
		if err := st.CreateService(ctx, svc, &berth.Revision{Number: 1, Spec: svc.Spec}); err != nil {
			t.Fatal(err)
		}
	})
	step("2026-02-01 00:00:00", svcUpd(3, false))
	step("2026-02-03 09:15:07", upd(berth.EnvRunning, false))
	step("2026-02-04 12:00:00", upd(berth.EnvRunning, false)) // no change of shape: no new interval
	step("2026-02-05 00:00:00", heartbeat(1000*time.Hour))    // the last heartbeat before the outage
	step("2026-02-05 06:00:00", heartbeat(time.Minute))       // the leader is back: the 6 h are cut
	step("2026-02-20 00:00:00", svcUpd(3, true))
	step("2026-03-10 12:00:00", func() {
		if err := st.DeleteEnvironment(ctx, env.ID); err != nil {
			t.Fatal(err)
		}
	})
	ledger := []ledgerSeg{
		{"u1", "env-a", "2026-01-01 00:00:00", "2026-01-01 01:00:00", 0, 0, 20, 0},
		{"u1", "env-a", "2026-01-01 01:00:00", "2026-01-11 01:30:00", 2, 4, 20, 1},
		{"u1", "env-a", "2026-01-11 01:30:00", "2026-02-03 09:15:07", 0, 0, 20, 0},
		{"u1", "env-a", "2026-02-03 09:15:07", "2026-02-05 00:00:00", 2, 4, 20, 1},
		{"u1", "env-a", "2026-02-05 06:00:00", "2026-03-10 12:00:00", 2, 4, 20, 1},
		{"u2", "t:web", "2026-01-15 00:00:00", "2026-02-01 00:00:00", 1, 2, 0, 2},
		{"u2", "t:web", "2026-02-01 00:00:00", "2026-02-05 00:00:00", 1.5, 3, 0, 3},
		{"u2", "t:web", "2026-02-05 06:00:00", "2026-02-20 00:00:00", 1.5, 3, 0, 3},
	}
	step("2026-04-01 00:00:00", func() {})
	p := c.Prices("t")
	check := func(what string, row berth.UsageRow, from, to time.Time, match func(ledgerSeg) bool) {
		t.Helper()
		cpu, mem, sto, rep := sum(ledger, from, to, match)
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"cpuCoreHours", row.CPUCoreHours * 3600, cpu}, {"memoryGBHours", row.MemoryGBHours * 3600, mem},
			{"storageGBHours", row.StorageGBHours * 3600, sto}, {"runningHours", row.RunningHours * 3600, rep}} {
			if math.Abs(f.got-f.want) > 1e-3 {
				t.Errorf("%s %s: %.3f s, ledger %.3f s (off by %.3f s)", what, f.name, f.got, f.want, f.got-f.want)
			}
		}
		cost := cpu/3600*p.CPUCoreHour + mem/3600*p.MemoryGBHour + sto/3600*p.StorageGBMonth/berth.HoursPerMonth
		if math.Abs(row.Cost-cost) > 1e-9 {
			t.Errorf("%s cost %.9f, want %.9f", what, row.Cost, cost)
		}
	}
	all := func(ledgerSeg) bool { return true }
	from, to := at("2026-01-01 00:00:00"), at("2026-04-01 00:00:00")
	rep, err := c.Usage(ctx, core.UsageRequest{From: from, To: to, GroupBy: berth.GroupByMonth})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Usage) != 3 || rep.Usage[0].Key != "2026-01" || rep.Usage[2].Key != "2026-03" {
		t.Fatalf("months: %+v", rep.Usage)
	}
	for i, m := range []string{"2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"}[:3] {
		mf := at(m + " 00:00:00")
		check("month "+rep.Usage[i].Key, rep.Usage[i], mf, mf.AddDate(0, 1, 0), all)
	}
	check("total", rep.Total, from, to, all)
	if rep.Currency != p.Currency {
		t.Errorf("currency %q, want %q", rep.Currency, p.Currency)
	}
	// A window that cuts intervals in the middle, by user and by environment.
	wf, wt := at("2026-01-10 12:34:56"), at("2026-02-05 03:00:00")
	rep, err = c.Usage(ctx, core.UsageRequest{From: wf, To: wt, GroupBy: berth.GroupByUser})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Usage) != 2 || rep.Usage[0].Key != "u1" || rep.Usage[1].Key != "u2" {
		t.Fatalf("users: %+v", rep.Usage)
	}
	for _, r := range rep.Usage {
		check("user "+r.Key, r, wf, wt, func(s ledgerSeg) bool { return s.user == r.Key })
	}
	rep, err = c.Usage(ctx, core.UsageRequest{From: wf, To: wt, GroupBy: berth.GroupByEnvironment})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Usage) != 1 || rep.Usage[0].Key != "env-a" || rep.Usage[0].Name != "alpha" {
		t.Fatalf("environments: %+v", rep.Usage)
	}
	check("environment env-a", rep.Usage[0], wf, wt, func(s ledgerSeg) bool { return s.key == "env-a" })
	// /metrics: per-user counters since metering began equal the ledger.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.UsageCollector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range fams {
		if f.GetName() != "berth_usage_cpu_core_hours_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			user := m.GetLabel()[0].GetValue()
			cpu, _, _, _ := sum(ledger, from, to, func(s ledgerSeg) bool { return s.user == user })
			if math.Abs(m.GetCounter().GetValue()*3600-cpu) > 1e-3 {
				t.Errorf("metric cpu core-seconds of %s: %.3f, ledger %.3f", user, m.GetCounter().GetValue()*3600, cpu)
			}
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("berth_usage_cpu_core_hours_total has %d users, want 2", seen)
	}
	// A non-admin gets their own usage only, and may not ask for another's.
	u1 := berth.WithActor(context.Background(), berth.Actor{UserID: "u1", Username: "u1", Role: berth.RoleOperator})
	rep, err = c.Usage(u1, core.UsageRequest{From: from, To: to, GroupBy: berth.GroupByUser})
	if err != nil || len(rep.Usage) != 1 || rep.Usage[0].Key != "u1" {
		t.Fatalf("u1's own usage: %+v, %v", rep, err)
	}
	if _, err := c.Usage(u1, core.UsageRequest{UserID: "u2"}); berth.ErrorCode(err) != berth.EFORBIDDEN {
		t.Fatalf("u1 asking for u2's usage: %v", err)
	}
}
