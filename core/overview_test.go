package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// stateful reports the state set per service (the local and kube runtimes
// are tested against real processes and a real API server; here the
// overview's rules are checked exactly). Other runtime calls panic.
type stateful struct {
	berth.Runtime
	mu     sync.Mutex
	states map[string]*berth.ServiceState
	reads  map[string]int
}

func (r *stateful) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: "t", Provider: berth.ProviderLocal}
}

func (r *stateful) ServiceState(_ context.Context, ref berth.ServiceRef) (*berth.ServiceState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads[ref.Name]++
	st, ok := r.states[ref.Name]
	if !ok {
		return nil, berth.NotFound("service", ref.Name)
	}
	cp := *st
	return &cp, nil
}

func (r *stateful) set(name string, st *berth.ServiceState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states[name] = st
}

type fixedUsage []core.ServiceUsage

func (u fixedUsage) ServiceUsage(context.Context) ([]core.ServiceUsage, error) { return u, nil }

type tenants struct {
	st          *store.Store
	c           *core.Core
	rt          *stateful
	admin, a, b context.Context
	aID, bID    string
}

// newTenants: a core over a real store, an admin and two viewers, and
// audit entries by each of them.
func newTenants(t *testing.T, kind string) *tenants {
	st := storetest.Open(t, kind, nil)
	rt := &stateful{states: map[string]*berth.ServiceState{}, reads: map[string]int{}}
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	sys := berth.WithActor(context.Background(), berth.System)
	tn := &tenants{st: st, c: c, rt: rt}
	ctxs := map[string]*context.Context{"root": &tn.admin, "ann": &tn.a, "ben": &tn.b}
	for _, name := range []string{"root", "ann", "ben"} {
		role := berth.RoleViewer
		if name == "root" {
			role = berth.RoleAdmin
		}
		u, err := acc.CreateUser(sys, name, name+"-password-1", role)
		if err != nil {
			t.Fatal(err)
		}
		*ctxs[name] = berth.WithActor(context.Background(), berth.Actor{UserID: u.ID, Username: u.Username, Role: role})
		switch name {
		case "ann":
			tn.aID = u.ID
		case "ben":
			tn.bID = u.ID
		}
		for _, action := range []string{"service.scale", "environment.create"} {
			if err := st.AppendAudit(sys, &berth.AuditEntry{Timestamp: time.Now().UTC(), UserID: u.ID, Username: u.Username,
				Action: action, Type: strings.Split(action, ".")[1], ResourceType: "service", Resource: "web", Status: berth.AuditCompleted}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tn
}

func (tn *tenants) service(t *testing.T, name string, status berth.ServiceStatus) {
	t.Helper()
	now := time.Now().UTC()
	spec := berth.ServiceSpec{Target: "t", Command: []string{"sleep", "1"}}
	if err := tn.st.CreateService(context.Background(), &berth.Service{Name: name, Target: "t", Status: status, Replicas: 2, Revision: 1,
		Managed: true, Spec: spec, CreatedAt: now, UpdatedAt: now}, &berth.Revision{Number: 1, Spec: spec, Cause: "create", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func (tn *tenants) environment(t *testing.T, id, owner string, status berth.EnvStatus) {
	t.Helper()
	now := time.Now().UTC()
	if err := tn.st.CreateEnvironment(context.Background(), &berth.Environment{ID: id, UserID: owner, Name: id, Status: status,
		Message: "image pull failed", Target: "t", CloudProvider: berth.ProviderLocal, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func crashing(restarts int) *berth.ServiceState {
	return &berth.ServiceState{Status: berth.ServiceDegraded, Replicas: 2, ReadyReplicas: 1, Instances: []berth.ReplicaState{
		{Name: "r0", Ready: true, State: "running"},
		{Name: "r1", State: "backoff", Restarts: restarts, LastExit: "exit status 3"},
	}}
}

// TestOverview on both stores: counts per target and in total, alerts
// (a crash loop told from a degraded rollout, an environment in ERROR,
// critical first), the restart memory between two overviews, the top
// consumers, and what a viewer sees: own environments, own audit entries.
func TestOverview(t *testing.T) {
	t.Parallel()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			tn := newTenants(t, kind)
			tn.service(t, "ok", berth.ServiceRunning)
			tn.service(t, "crash", berth.ServiceDegraded)
			tn.service(t, "slow", berth.ServiceDegraded)
			tn.rt.set("ok", &berth.ServiceState{Status: berth.ServiceRunning, Replicas: 2, ReadyReplicas: 2})
			tn.rt.set("crash", crashing(4))
			tn.rt.set("slow", &berth.ServiceState{Status: berth.ServiceDegraded, Replicas: 2, ReadyReplicas: 1, Message: "rolling out",
				Instances: []berth.ReplicaState{{Name: "r0", Ready: true, State: "running"}, {Name: "r1", State: "starting"}}})
			tn.environment(t, "env-a", tn.aID, berth.EnvError)
			tn.environment(t, "env-b", tn.bID, berth.EnvRunning)
			usage := fixedUsage{}
			for i, n := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"} {
				usage = append(usage, core.ServiceUsage{Target: "t", Name: n, CPUCores: float64(i), MemoryBytes: 1})
			}

			ov, err := tn.c.Overview(tn.admin, usage)
			if err != nil {
				t.Fatal(err)
			}
			if len(ov.Targets) != 1 || ov.Targets[0].Services.Total != 3 || ov.Targets[0].Services.ByStatus["DEGRADED"] != 2 ||
				ov.Targets[0].Environments.Total != 2 || ov.Totals.Services.Total != 3 || ov.Totals.Environments.ByStatus["ERROR"] != 1 {
				t.Fatalf("counts: %+v / totals %+v", ov.Targets[0], ov.Totals)
			}
			var got []string
			for _, a := range ov.Alerts {
				got = append(got, a.Severity+"/"+a.Kind+"/"+a.Resource)
			}
			if strings.Join(got, " ") != "critical/crashloop/crash critical/error/env-a warning/degraded/slow" {
				t.Fatalf("alerts %v", got)
			}
			if m := ov.Alerts[0].Message; !strings.Contains(m, "1 of 2 replicas crash-looping (4 restarts)") || !strings.Contains(m, "last exit: exit status 3") {
				t.Fatalf("crash-loop message %q", m)
			}
			if len(ov.TopConsumers) != 5 || ov.TopConsumers[0].Name != "u7" || ov.TopConsumers[4].Name != "u3" {
				t.Fatalf("top consumers %+v", ov.TopConsumers)
			}
			if len(ov.RecentAudit) != 6 {
				t.Fatalf("admin reads %d audit entries, want 6", len(ov.RecentAudit))
			}
			// Only services that are not plainly running are looked at closer.
			if n := tn.rt.reads["ok"]; n != 1 {
				t.Fatalf("a running service read %d times, want once (the list)", n)
			}

			tn.rt.set("crash", crashing(6))
			if ov, err = tn.c.Overview(tn.admin, nil); err != nil {
				t.Fatal(err)
			}
			if m := ov.Alerts[0].Message; !strings.Contains(m, "(6 restarts, +2 since the last overview)") {
				t.Fatalf("second overview: %q", m)
			}
			if len(ov.TopConsumers) != 0 || ov.TopConsumers == nil {
				t.Fatalf("no usage source: top consumers %+v", ov.TopConsumers)
			}

			if ov, err = tn.c.Overview(tn.a, nil); err != nil {
				t.Fatal(err)
			}
			if ov.Targets[0].Environments.Total != 1 || ov.Targets[0].Services.Total != 3 || len(ov.Alerts) != 3 {
				t.Fatalf("ann: %+v, alerts %+v", ov.Targets[0], ov.Alerts)
			}
			for _, e := range ov.RecentAudit {
				if e.UserID != tn.aID {
					t.Fatalf("ann reads %s's audit entry", e.Username)
				}
			}
			if ov, err = tn.c.Overview(tn.b, nil); err != nil {
				t.Fatal(err)
			}
			for _, a := range ov.Alerts {
				if a.Resource == "env-a" {
					t.Fatalf("ben sees ann's environment alert %+v", a)
				}
			}
			if len(ov.RecentAudit) != 2 {
				t.Fatalf("ben reads %d audit entries, want his 2", len(ov.RecentAudit))
			}
		})
	}
}

// TestListAudit on both stores: the one visibility rule, as a table.
func TestListAudit(t *testing.T) {
	t.Parallel()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			tn := newTenants(t, kind)
			for _, tc := range []struct {
				name  string
				ctx   context.Context
				f     berth.AuditFilter
				users []string // whose entries come back, in any order
				code  berth.Code
			}{
				{"admin reads everyone's", tn.admin, berth.AuditFilter{}, []string{"root", "ann", "ben"}, ""},
				{"admin filters by user", tn.admin, berth.AuditFilter{User: "ann"}, []string{"ann"}, ""},
				{"viewer reads own", tn.a, berth.AuditFilter{}, []string{"ann"}, ""},
				{"viewer names self by username", tn.a, berth.AuditFilter{User: "ann"}, []string{"ann"}, ""},
				{"viewer names self by id", tn.a, berth.AuditFilter{User: tn.aID}, []string{"ann"}, ""},
				{"viewer filters own by type", tn.b, berth.AuditFilter{Type: "scale"}, []string{"ben"}, ""},
				{"viewer asks for another", tn.a, berth.AuditFilter{User: "ben"}, nil, berth.EFORBIDDEN},
				{"viewer asks for another by id", tn.b, berth.AuditFilter{User: tn.aID}, nil, berth.EFORBIDDEN},
				{"bad status", tn.admin, berth.AuditFilter{Status: "done"}, nil, berth.EINVALID},
				{"no actor", context.Background(), berth.AuditFilter{}, nil, berth.EUNAUTHORIZED},
			} {
				t.Run(tc.name, func(t *testing.T) {
					entries, total, err := tn.c.ListAudit(tc.ctx, tc.f)
					if tc.code != "" {
						if berth.ErrorCode(err) != tc.code {
							t.Fatalf("err %v, want %s", err, tc.code)
						}
						if tc.code == berth.EUNAUTHORIZED && !errors.Is(err, core.ErrNoActor) {
							t.Fatalf("err %v, want ErrNoActor", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					seen := map[string]int{}
					for _, e := range entries {
						seen[e.Username]++
					}
					if len(seen) != len(tc.users) || total != len(entries) {
						t.Fatalf("entries by %v (total %d), want by %v", seen, total, tc.users)
					}
					for _, u := range tc.users {
						if seen[u] == 0 {
							t.Fatalf("entries by %v, want by %v", seen, tc.users)
						}
					}
				})
			}
		})
	}
}

// TestRecordActivityRule: a workspace reports for its own environment
// only, users for the environments they may see; the rest is NOT_FOUND
// and changes nothing (checked in the store).
func TestRecordActivityRule(t *testing.T) {
	t.Parallel()
	tn := newTenants(t, store.SQLite)
	tn.environment(t, "env-a", tn.aID, berth.EnvRunning)
	tn.environment(t, "env-b", tn.bID, berth.EnvRunning)
	wsA := berth.WithActor(context.Background(), core.WorkspaceActor("env-a"))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		env  string
		code berth.Code
	}{
		{"workspace of its own environment", wsA, "env-a", ""},
		{"workspace of another environment", wsA, "env-b", berth.ENOTFOUND},
		{"owner", tn.a, "env-a", ""},
		{"another user", tn.b, "env-a", berth.ENOTFOUND},
		{"admin", tn.admin, "env-b", ""},
		{"no actor", context.Background(), "env-a", berth.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := tn.st.GetEnvironment(context.Background(), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			at := before.LastAccessedAt.Add(time.Second)
			err = tn.c.RecordActivity(tc.ctx, tc.env, berth.Activity{Snapshot: berth.ActivitySnapshot{LastIDEActivity: &at}})
			got := berth.Code("")
			if err != nil {
				got = berth.ErrorCode(err)
			}
			if got != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			after, _ := tn.st.GetEnvironment(context.Background(), tc.env)
			if moved := after.LastAccessedAt.After(before.LastAccessedAt); moved != (tc.code == "") {
				t.Fatalf("lastAccessedAt %v → %v (error %v)", before.LastAccessedAt, after.LastAccessedAt, err)
			}
		})
	}
}
