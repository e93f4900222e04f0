package core_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store/storetest"
)

// hasEvent says whether l holds an event of typ for owner.
func hasEvent(l *eventLog, typ, owner string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Type == typ && e.Owner == owner {
			return true
		}
	}
	return false
}

// TestDormancy: with an injected clock, an environment stopped 30 days
// becomes dormant (field set, audited as berth, an event for its owner),
// not a second earlier; 10 days later it is deleted with its workspace
// kept on disk. A pinned one stopped as long is left alone; one created
// with ttl is deleted when it expires. Both stores.
func TestDormancy(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) { testDormancy(t, kind) })
	}
}

func testDormancy(t *testing.T, kind string) {
	clk := &clock{now: time.Now().UTC()}
	st := storetest.Open(t, kind, nil)
	st.SetClock(clk.Now)
	wdir := t.TempDir()
	rt, err := local.New(local.Config{DataDir: t.TempDir(), WorkloadDir: wdir, Templates: map[string]local.Template{"default": listenTemplate},
		ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	evs := &eventLog{}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: clk.Now, Events: evs,
		Dormancy: core.DormancyConfig{DeleteAfter: 10 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	owner := berth.Actor{UserID: "u-olga", Username: "olga", Role: berth.RoleOperator}
	ctx := berth.WithActor(context.Background(), owner)
	sys := berth.WithActor(context.Background(), berth.System)
	mk := func(name, ttl string) string {
		env, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: name, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		waitEnv(t, c, sys, env.ID, berth.EnvRunning)
		return env.ID
	}
	a, pinned, ttl := mk("a", ""), mk("p", ""), mk("t", "45d")
	for _, id := range []string{a, pinned} {
		if _, err := c.StopEnvironment(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PinEnvironment(ctx, pinned, true); err != nil {
		t.Fatal(err)
	}
	clk.Add(30*24*time.Hour - time.Second)
	c.SyncOnce(sys)
	if env, _ := st.GetEnvironment(sys, a); env.DormantSince != nil {
		t.Fatalf("dormant a second before 30 days: %v", env.DormantSince)
	}
	clk.Add(time.Second)
	c.SyncOnce(sys)
	env, err := st.GetEnvironment(sys, a)
	if err != nil || env.DormantSince == nil || !env.DormantSince.Equal(clk.Now().Truncate(time.Microsecond)) {
		t.Fatalf("after 30 days stopped: %+v, %v", env, err)
	}
	if !hasEvent(evs, "environment.dormant", "u-olga") {
		t.Fatalf("no environment.dormant event for the owner")
	}
	audit, _, err := st.ListAudit(sys, berth.AuditFilter{Type: "dormant"})
	if err != nil || len(audit) != 1 || audit[0].Action != "environment.dormant" || audit[0].Resource != a || audit[0].UserID != berth.System.UserID {
		t.Fatalf("dormant audit: %+v, %v", audit, err)
	}
	if env, _ := st.GetEnvironment(sys, pinned); env.DormantSince != nil {
		t.Fatalf("a pinned environment became dormant")
	}
	// 10 days dormant: deleted, the workspace kept.
	clk.Add(10 * 24 * time.Hour)
	c.SyncOnce(sys)
	if _, err := st.GetEnvironment(sys, a); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("dormant for 10 days, still stored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wdir, "environments", a)); err != nil {
		t.Fatalf("the workspace of a dormant-deleted environment is gone: %v", err)
	}
	if _, err := st.GetEnvironment(sys, pinned); err != nil {
		t.Fatalf("pinned environment: %v", err)
	}
	// The ttl environment (running, 45 days) goes at 45 days.
	if _, err := st.GetEnvironment(sys, ttl); err != nil {
		t.Fatalf("ttl environment before its time: %v", err)
	}
	clk.Add(5 * 24 * time.Hour)
	c.SyncOnce(sys)
	if _, err := st.GetEnvironment(sys, ttl); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("ttl environment after 45 days: %v", err)
	}
	if p := processesOfEnvDir(wdir, ttl); p {
		t.Fatalf("the expired environment's workspace still runs")
	}
	audit, _, _ = st.ListAudit(sys, berth.AuditFilter{Type: "delete"})
	actions := map[string]bool{}
	for _, e := range audit {
		actions[e.Action] = true
	}
	if !actions["environment.dormant-delete"] || !actions["environment.expire"] {
		t.Fatalf("delete audit actions: %v", actions)
	}
}

// processesOfEnvDir says whether a process runs with its working directory
// in the environment's workspace.
func processesOfEnvDir(wdir, id string) bool {
	dir := filepath.Join(wdir, "environments", id)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && (cwd == dir || len(cwd) > len(dir) && cwd[:len(dir)+1] == dir+"/") {
			return true
		}
	}
	return false
}
