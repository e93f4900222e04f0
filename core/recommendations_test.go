package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/recommend"
	"github.com/berthhq/berth/store/storetest"
)

var (
	recAdmin    = berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin}
	recOperator = berth.Actor{UserID: "usr-op", Username: "op", Role: berth.RoleOperator}
	recViewer   = berth.Actor{UserID: "usr-view", Username: "view", Role: berth.RoleViewer}
)

func recCore(t *testing.T, kind string, clk *clock, ext *core.ExternalEngine) (*core.Core, berth.Store) {
	t.Helper()
	st := storetest.Open(t, kind, nil)
	rt, err := local.New(local.Config{DataDir: t.TempDir(), Templates: map[string]local.Template{"default": listenTemplate},
		ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: clk.Now,
		Recommend: core.RecommendConfig{Interval: -1, External: ext,
			Engine: recommend.Config{Window: 2 * time.Hour, MinSamples: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// putUsage writes n raw per-replica points ending at now: cpu cores and memory bytes.
func putUsage(t *testing.T, st berth.Store, name string, now time.Time, n int, cpu, mem float64) {
	t.Helper()
	ms := st.(berth.MetricsStore)
	var cs, mm []berth.MetricPoint
	for i := range n {
		at := now.Add(-time.Duration(n-i) * 30 * time.Second)
		cs = append(cs, berth.MetricPoint{Time: at, Value: cpu, Min: cpu, Max: cpu, P95: cpu, Count: 1})
		mm = append(mm, berth.MetricPoint{Time: at, Value: mem, Min: mem, Max: mem, P95: mem, Count: 1})
	}
	key := berth.MetricKey{Target: "local", Kind: berth.SubjectReplica, Name: name, Replica: name + "-0"}
	cpuKey, memKey := key, key
	cpuKey.Metric, memKey.Metric = berth.MetricCPU, berth.MetricMemory
	if err := ms.PutMetrics(context.Background(), berth.ResRaw, []berth.MetricSeries{{MetricKey: cpuKey, Points: cs}, {MetricKey: memKey, Points: mm}}); err != nil {
		t.Fatal(err)
	}
}

func findRec(t *testing.T, c *core.Core, ctx context.Context, f berth.RecommendationFilter) *berth.Recommendation {
	t.Helper()
	recs, _, err := c.ListRecommendations(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("want one recommendation for %+v, got %d", f, len(recs))
	}
	return recs[0]
}

func wantCode(t *testing.T, what string, err error, code berth.Code) {
	t.Helper()
	if !berth.IsCode(err, code) {
		t.Fatalf("%s: want %s, got %v", what, code, err)
	}
}

// TestRecommendationsEndToEndInCore: a service requesting far more than its
// history shows gets a rightsize at the known answer; apply makes a new
// revision with it (checked in the store's revisions), audited twice; a
// second apply and a viewer's are refused and change nothing; a rejected
// one is not raised again on refresh; a new revision expires what was
// computed for the old one.
func TestRecommendationsEndToEndInCore(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
			c, st := recCore(t, kind, clk, nil)
			admin := berth.WithActor(context.Background(), recAdmin)
			two, one := 1, 1
			for _, name := range []string{"big", "other"} {
				if _, _, err := c.ApplyService(admin, name, berth.ServiceSpec{Command: []string{"sleep", "600"}, Replicas: &two,
					Resources: berth.Resources{CPU: "2", Memory: "2Gi"}}); err != nil {
					t.Fatal(err)
				}
			}
			_ = one
			putUsage(t, st, "big", clk.Now(), 200, 0.1, 150<<20)
			putUsage(t, st, "other", clk.Now(), 200, 0.3, 300<<20)
			res, err := c.RefreshRecommendations(admin)
			if err != nil {
				t.Fatal(err)
			}
			if res.Raised < 2 {
				t.Fatalf("refresh raised %d, want 2: %s", res.Raised, res.Message)
			}
			big := findRec(t, c, admin, berth.RecommendationFilter{Service: "big", Kind: berth.RecRightsize})
			// p95 0.1 core → 100m; 150Mi × 1.15 = 172.5Mi → 176Mi.
			if p := big.Proposed.Resources; p.CPU != "100m" || p.Memory != "176Mi" || big.Status != berth.RecOpen || big.MonthlySaving.Amount <= 0 {
				t.Fatalf("rightsize of big: %+v saving %+v", p, big.MonthlySaving)
			}

			// A viewer reads it but may not apply; an operator who does not own
			// the service may not change what it runs.
			viewer := berth.WithActor(context.Background(), recViewer)
			if _, err := c.GetRecommendation(viewer, big.ID); err != nil {
				t.Fatal(err)
			}
			_, err = c.ApplyRecommendation(viewer, big.ID, core.ApplyOptions{})
			wantCode(t, "viewer apply", err, berth.EFORBIDDEN)
			_, err = c.ApplyRecommendation(berth.WithActor(context.Background(), recOperator), big.ID, core.ApplyOptions{})
			wantCode(t, "non-owner operator apply", err, berth.EFORBIDDEN)
			if svc, _ := st.GetService(admin, berth.ServiceRef{Target: "local", Name: "big"}); svc.Revision != 1 {
				t.Fatalf("refused applies changed the service: revision %d", svc.Revision)
			}

			applied, err := c.ApplyRecommendation(admin, big.ID, core.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if applied.Status != berth.RecApplied || applied.AppliedBy != "admin" || applied.Result["revision"] != 2 {
				t.Fatalf("applied: %+v", applied)
			}
			revs, err := st.ListRevisions(admin, berth.ServiceRef{Target: "local", Name: "big"})
			if err != nil {
				t.Fatal(err)
			}
			if revs[0].Number != 2 || revs[0].Spec.Resources != (berth.Resources{CPU: "100m", Memory: "176Mi"}) || revs[0].Author != "admin" {
				t.Fatalf("newest revision: %+v", revs[0])
			}
			entries, _, err := st.ListAudit(admin, berth.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 || entries[0].Action != "service.apply" || entries[0].Details["recommendation"] != big.ID {
				t.Fatalf("the action's own audit entry: %+v", entries)
			}
			_, err = c.ApplyRecommendation(admin, big.ID, core.ApplyOptions{})
			wantCode(t, "stale apply", err, berth.ECONFLICT)

			// Reject the other; a refresh does not raise it again.
			other := findRec(t, c, admin, berth.RecommendationFilter{Service: "other", Kind: berth.RecRightsize})
			_, err = c.RejectRecommendation(viewer, other.ID, "no")
			wantCode(t, "viewer reject", err, berth.EFORBIDDEN)
			if _, err := c.RejectRecommendation(admin, other.ID, "peaks at month end"); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			putUsage(t, st, "other", clk.Now(), 200, 0.3, 300<<20)
			res, err = c.RefreshRecommendations(admin)
			if err != nil {
				t.Fatal(err)
			}
			if res.Suppressed < 1 {
				t.Fatalf("want the rejected proposal suppressed: %s", res.Message)
			}
			if recs, _, _ := c.ListRecommendations(admin, berth.RecommendationFilter{Service: "other", Status: berth.RecOpen}); len(recs) != 0 {
				t.Fatalf("rejected recommendation raised again: %+v", recs[0])
			}

			// big after apply: usage unchanged, requests now match → nothing open.
			if recs, _, _ := c.ListRecommendations(admin, berth.RecommendationFilter{Service: "big", Status: berth.RecOpen}); len(recs) != 0 {
				t.Fatalf("right-sized service still has an open recommendation: %+v", recs[0])
			}
			// A new revision of big (usage grew) makes a new proposal; a further
			// revision expires it when the next refresh sees it.
			putUsage(t, st, "big", clk.Now(), 200, 0.5, 400<<20)
			if _, err := c.RefreshRecommendations(admin); err != nil {
				t.Fatal(err)
			}
			grown := findRec(t, c, admin, berth.RecommendationFilter{Service: "big", Status: berth.RecOpen, Kind: berth.RecRightsize})
			if grown.MonthlySaving.Amount >= 0 {
				t.Fatalf("an under-provisioned service's saving must be negative: %+v", grown.MonthlySaving)
			}
			if _, _, err := c.ApplyService(admin, "big", berth.ServiceSpec{Command: []string{"sleep", "601"}, Resources: berth.Resources{CPU: "100m", Memory: "176Mi"}}); err != nil {
				t.Fatal(err)
			}
			// Expired at once by the change, before any refresh.
			if now, err := c.GetRecommendation(admin, grown.ID); err != nil || now.Status != berth.RecExpired {
				t.Fatalf("want EXPIRED right after a new revision, got %+v %v", now, err)
			}
			_, err = c.ApplyRecommendation(admin, grown.ID, core.ApplyOptions{})
			wantCode(t, "apply after the subject changed", err, berth.ECONFLICT)
			got, err := c.GetRecommendation(admin, grown.ID)
			if err != nil || got.Status != berth.RecExpired {
				t.Fatalf("want EXPIRED after a new revision, got %+v %v", got, err)
			}
			sum, err := c.RecommendationSummary(admin)
			if err != nil {
				t.Fatal(err)
			}
			if sum.ByStatus["APPLIED"] != 1 || sum.ByStatus["REJECTED"] != 1 || sum.ByStatus["EXPIRED"] < 1 {
				t.Fatalf("summary: %+v", sum)
			}
		})
	}
}

// TestEnvironmentRecommendationsVisibility: an environment's
// recommendations are its owner's and admins'; others get NOT_FOUND.
func TestEnvironmentRecommendationsVisibility(t *testing.T) {
	clk := &clock{now: time.Now().UTC()}
	c, st := recCore(t, "sqlite", clk, nil)
	sys := berth.WithActor(context.Background(), berth.System)
	now := clk.Now()
	if err := st.CreateEnvironment(sys, &berth.Environment{ID: "env-op", UserID: recOperator.UserID, Name: "dev", Status: berth.EnvStopped,
		Stopped: true, Target: "local", CloudProvider: berth.ProviderLocal, StorageGB: 20,
		CreatedAt: now.Add(-60 * 24 * time.Hour), UpdatedAt: now.Add(-45 * 24 * time.Hour), LastAccessedAt: now.Add(-45 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RefreshRecommendations(sys); err != nil {
		t.Fatal(err)
	}
	owner := berth.WithActor(context.Background(), recOperator)
	rec := findRec(t, c, owner, berth.RecommendationFilter{Kind: berth.RecDeleteDormant})
	other := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-x", Username: "x", Role: berth.RoleOperator})
	if recs, total, _ := c.ListRecommendations(other, berth.RecommendationFilter{}); total != 0 || len(recs) != 0 {
		t.Fatalf("another user lists %d", total)
	}
	_, err := c.GetRecommendation(other, rec.ID)
	wantCode(t, "another user's get", err, berth.ENOTFOUND)
	_, err = c.ApplyRecommendation(other, rec.ID, core.ApplyOptions{})
	wantCode(t, "another user's apply", err, berth.ENOTFOUND)
	findRec(t, c, berth.WithActor(context.Background(), recAdmin), berth.RecommendationFilter{Kind: berth.RecDeleteDormant})
	keep := true
	applied, err := c.ApplyRecommendation(owner, rec.ID, core.ApplyOptions{KeepVolume: &keep})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result["keepVolume"] != true {
		t.Fatalf("result %+v", applied.Result)
	}
	if _, err := st.GetEnvironment(sys, "env-op"); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("environment still stored after delete-dormant: %v", err)
	}
}

// engine plays an external AI engine: it records what it was sent and
// answers what the test sets.
type engine struct {
	mu     sync.Mutex
	got    []byte
	answer func(w http.ResponseWriter)
}

func (e *engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.got = b
	fn := e.answer
	e.mu.Unlock()
	fn(w)
}

func answerRecs(recs ...map[string]any) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		_ = json.NewEncoder(w).Encode(map[string]any{"recommendations": recs})
	}
}

func engineRec(kind, subjType, name, id string, proposed map[string]any) map[string]any {
	return map[string]any{"kind": kind, "target": "local", "subject": map[string]any{"type": subjType, "name": name, "id": id},
		"title": "engine says " + kind, "reason": "pattern", "confidence": "medium", "proposed": proposed,
		"monthlySaving": map[string]any{"amount": 12.5, "currency": "EUR"}, "source": "berth", "status": "APPLIED", "id": "rec-forged"}
}

// TestExternalEngine: the snapshot carries no secret; valid answers are
// stored as ai-engine and go through the same apply rules; invalid and
// hostile ones (unknown kinds, other subjects, absurd values, huge or slow
// answers, an unreachable engine) are refused, reported in the engine's
// status, and never block the built-in engine.
func TestExternalEngine(t *testing.T) {
	eng := &engine{}
	srv := httptest.NewServer(eng)
	defer srv.Close()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	c, st := recCore(t, "sqlite", clk, &core.ExternalEngine{URL: srv.URL + "/advise", Timeout: 500 * time.Millisecond, MaxBody: 64 << 10})
	admin := berth.WithActor(context.Background(), recAdmin)
	r := 1
	if _, _, err := c.ApplyService(admin, "web", berth.ServiceSpec{Command: []string{"sleep", "600"}, Replicas: &r,
		Env: map[string]string{"MODE": "prod"}, Secrets: map[string]string{"DB_PASSWORD": "hunter2-secret"},
		Config:    berth.Config{Files: map[string]string{"app.conf": "token=cfg-secret-7"}},
		Resources: berth.Resources{CPU: "1", Memory: "1Gi"}}); err != nil {
		t.Fatal(err)
	}
	putUsage(t, st, "web", clk.Now(), 200, 0.2, 200<<20)
	sys := berth.WithActor(context.Background(), berth.System)
	if err := st.CreateEnvironment(sys, &berth.Environment{ID: "env-x", UserID: "usr-x", Name: "xdev", Status: berth.EnvRunning,
		Target: "local", CloudProvider: berth.ProviderLocal, Env: map[string]string{"API_TOKEN": "env-secret-9"},
		CreatedAt: clk.Now(), UpdatedAt: clk.Now(), LastAccessedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		answer       func(w http.ResponseWriter)
		wantStatus   string
		wantAccepted int
		wantRefused  int
	}{
		{"hostile and invalid", answerRecs(
			engineRec("delete-everything", "service", "web", "", nil),
			engineRec("scale", "service", "not-berths", "", map[string]any{"replicas": 2}),
			engineRec("scale", "service", "web", "", map[string]any{"replicas": 100000}),
			engineRec("rightsize", "service", "web", "", map[string]any{"resources": map[string]any{"cpu": "9000", "memory": "1Ei"}}),
			engineRec("rightsize", "service", "web", "", map[string]any{"resources": map[string]any{"cpu": "-1"}}),
			engineRec("stop-idle", "environment", "", "env-other-user-does-not-exist", nil),
			engineRec("rollback", "service", "web", "", map[string]any{"revision": 7}),
			engineRec("scale", "service", "web\u202e", "", map[string]any{"replicas": 2})), "ok", 0, 8},
		{"not JSON", func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>")) }, "invalid", 0, 0},
		{"huge body", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"recommendations":[` + strings.Repeat(" ", 100<<10) + `]}`))
		}, "invalid", 0, 0},
		{"HTTP 500", func(w http.ResponseWriter) { w.WriteHeader(500) }, "invalid", 0, 0},
		{"slow", func(w http.ResponseWriter) { time.Sleep(2 * time.Second) }, "unreachable", 0, 0},
		{"valid scale and stop-idle", answerRecs(
			engineRec("scale", "service", "web", "", map[string]any{"replicas": 2}),
			engineRec("stop-idle", "environment", "", "env-x", map[string]any{"status": "STOPPED"})), "ok", 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng.mu.Lock()
			eng.answer = tc.answer
			eng.mu.Unlock()
			res, err := c.RefreshRecommendations(sys)
			if err != nil {
				t.Fatal(err)
			}
			es := c.EngineStatus()
			if es.Status != tc.wantStatus || es.Accepted != tc.wantAccepted || es.Refused != tc.wantRefused {
				t.Fatalf("engine status %+v, want %s accepted %d refused %d", es, tc.wantStatus, tc.wantAccepted, tc.wantRefused)
			}
			// The built-in engine ran whatever the external one did.
			if findRec(t, c, admin, berth.RecommendationFilter{Service: "web", Kind: berth.RecRightsize}).Source != berth.RecSourceBerth {
				t.Fatal("built-in rightsize missing")
			}
			_ = res
		})
	}
	eng.mu.Lock()
	sent := string(eng.got)
	eng.mu.Unlock()
	for _, secret := range []string{"hunter2-secret", "DB_PASSWORD", "cfg-secret-7", "env-secret-9", "API_TOKEN", "usr-x", "sleep"} {
		if strings.Contains(sent, secret) {
			t.Fatalf("the snapshot carries %q", secret)
		}
	}
	var snap core.EngineSnapshot
	if err := json.Unmarshal([]byte(sent), &snap); err != nil || len(snap.Services) != 1 || snap.Services[0].Usage.Samples != 200 || len(snap.Environments) != 1 {
		t.Fatalf("snapshot %s: %v", sent, err)
	}

	// The valid ones from the first answer: marked ai-engine, forged fields
	// replaced by berth's; they go through the same rules.
	scale := findRec(t, c, admin, berth.RecommendationFilter{Service: "web", Kind: berth.RecScale})
	if scale.Source != berth.RecSourceAIEngine || scale.Status != berth.RecOpen || scale.ID == "rec-forged" || scale.MonthlySaving.Currency != "USD" {
		t.Fatalf("engine recommendation: %+v", scale)
	}
	_, err := c.ApplyRecommendation(berth.WithActor(context.Background(), recViewer), scale.ID, core.ApplyOptions{})
	wantCode(t, "viewer applies the engine's", err, berth.EFORBIDDEN)
	if _, err := c.GetRecommendation(berth.WithActor(context.Background(), recOperator), findRec(t, c, admin,
		berth.RecommendationFilter{Kind: berth.RecStopIdle}).ID); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("an engine's environment recommendation must be its owner's: %v", err)
	}
	applied, err := c.ApplyRecommendation(berth.WithActor(context.Background(), recOperator), scale.ID, core.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc, _ := st.GetService(admin, berth.ServiceRef{Target: "local", Name: "web"}); svc.Replicas != 2 || applied.Result["replicas"] != 2 {
		t.Fatalf("scale applied: stored %d replicas, result %+v", svc.Replicas, applied.Result)
	}

	// Unreachable: reported, built-in still runs.
	srv.Close()
	if _, err := c.RefreshRecommendations(sys); err != nil {
		t.Fatal(err)
	}
	if es := c.EngineStatus(); es.Status != "unreachable" || es.Error == "" {
		t.Fatalf("engine status after close: %+v", es)
	}
}

// TestRollbackRecommendation: a revision that rolled out and then
// crash-loops (a real child exiting after 2s, restarted with backoff) after
// one that ran healthy (ready in the history, no restarts) gets a rollback
// to it; apply rolls back through core (a new revision with the old spec).
// (A revision that never gets ready does not roll out on the local
// runtime: the old replica keeps running, nothing crash-loops.)
func TestRollbackRecommendation(t *testing.T) {
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	c, st := recCore(t, "sqlite", clk, nil)
	admin := berth.WithActor(context.Background(), recAdmin)
	if _, _, err := c.ApplyService(admin, "api", berth.ServiceSpec{Command: []string{"sleep", "600"}}); err != nil {
		t.Fatal(err)
	}
	// History of revision 1: one ready replica, no restarts, for an hour.
	var ready, restarts []berth.MetricPoint
	for i := range 120 {
		at := clk.Now().Add(-time.Hour + time.Duration(i)*30*time.Second)
		ready = append(ready, berth.MetricPoint{Time: at, Value: 1, Min: 1, Max: 1, P95: 1, Count: 1})
		restarts = append(restarts, berth.MetricPoint{Time: at, Count: 1})
	}
	key := berth.MetricKey{Target: "local", Kind: berth.SubjectService, Name: "api"}
	rk, sk := key, key
	rk.Metric, sk.Metric = berth.MetricReady, berth.MetricRestarts
	if err := st.(berth.MetricsStore).PutMetrics(admin, berth.ResRaw, []berth.MetricSeries{{MetricKey: rk, Points: ready}, {MetricKey: sk, Points: restarts}}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if _, _, err := c.ApplyService(admin, "api", berth.ServiceSpec{Command: []string{"sh", "-c", "sleep 2; exit 3"}}); err != nil {
		t.Fatal(err)
	}
	var rec *berth.Recommendation
	testutil.Eventually(t, 60*time.Second, "a rollback recommendation", func() (bool, string) {
		c.SyncOnce(admin)
		if _, err := c.RefreshRecommendations(admin); err != nil {
			return false, err.Error()
		}
		recs, _, err := c.ListRecommendations(admin, berth.RecommendationFilter{Kind: berth.RecRollback, Status: berth.RecOpen})
		if err != nil || len(recs) == 0 {
			svc, _ := c.GetService(admin, core.ServiceQuery{Name: "api"})
			return false, fmt.Sprintf("%v %+v", err, svc.Instances)
		}
		rec = recs[0]
		return true, ""
	})
	if rec.Proposed.Revision != 1 || rec.Current.Revision != 2 || rec.Evidence.HealthyRevision != 1 {
		t.Fatalf("rollback: %+v", rec)
	}
	applied, err := c.ApplyRecommendation(admin, rec.ID, core.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := st.ListRevisions(admin, berth.ServiceRef{Target: "local", Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result["revision"] != 3 || revs[0].Cause != "rollback to 1" || revs[0].Spec.Command[0] != "sleep" {
		t.Fatalf("after apply: result %+v, newest revision %+v", applied.Result, revs[0])
	}
}
