package core_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// listenTemplate is an environment that listens on $PORT (node is a
// documented requirement of berth's tests).
var listenTemplate = local.Template{Command: []string{"node", "-e",
	"require('net').createServer(s => s.end()).listen(process.env.PORT, '127.0.0.1')"}}

func newCore(t *testing.T, kind string, clk *clock) (*core.Core, berth.Store) {
	t.Helper()
	st := storetest.Open(t, kind, nil)
	rt, err := local.New(local.Config{DataDir: t.TempDir(), Templates: map[string]local.Template{"default": listenTemplate},
		ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func waitEnv(t *testing.T, c *core.Core, ctx context.Context, id string, want berth.EnvStatus) {
	t.Helper()
	testutil.Eventually(t, testutil.Process, fmt.Sprintf("environment %s %s", id, want), func() (bool, string) {
		c.SyncOnce(ctx)
		env, err := c.GetEnvironment(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return env.Status == want, fmt.Sprintf("%s %q", env.Status, env.Message)
	})
}

// TestAutoStop: an environment idle for longer than autoStopMinutes is
// stopped by berth and audited; activity within the window keeps it running.
func TestAutoStop(t *testing.T) {
	t.Parallel()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			clk := &clock{now: time.Now().UTC()}
			c, st := newCore(t, kind, clk)
			owner := berth.Actor{UserID: "usr-dev", Username: "dev", Role: berth.RoleOperator}
			ctx := berth.WithActor(context.Background(), owner)

			idle, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "idle", AutoStopMinutes: 5})
			if err != nil {
				t.Fatal(err)
			}
			busy, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "busy", AutoStopMinutes: 5})
			if err != nil {
				t.Fatal(err)
			}
			never, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "never"})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{idle.ID, busy.ID, never.ID} {
				waitEnv(t, c, ctx, id, berth.EnvRunning)
			}

			clk.Add(4 * time.Minute)
			at := clk.Now()
			if err := c.RecordActivity(ctx, busy.ID, berth.Activity{Snapshot: berth.ActivitySnapshot{LastIDEActivity: &at}}); err != nil {
				t.Fatal(err)
			}
			clk.Add(2 * time.Minute) // idle: 6 min without activity; busy: 2 min
			c.SyncOnce(ctx)

			got := map[string]berth.EnvStatus{}
			for _, id := range []string{idle.ID, busy.ID, never.ID} {
				e, err := st.GetEnvironment(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				got[e.Name] = e.Status
			}
			if got["idle"] != berth.EnvStopped || got["busy"] != berth.EnvRunning || got["never"] != berth.EnvRunning {
				t.Fatalf("after 6 idle minutes: %v", got)
			}
			entries, _, err := st.ListAudit(ctx, berth.AuditFilter{Type: "stop"})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Action != "environment.autostop" || entries[0].Resource != idle.ID ||
				entries[0].Username != "system" || entries[0].Status != berth.AuditCompleted {
				t.Fatalf("audit = %+v", entries)
			}
			// Reported activity from the future never moves lastAccessedAt past now.
			future := clk.Now().Add(time.Hour)
			if err := c.RecordActivity(ctx, busy.ID, berth.Activity{Snapshot: berth.ActivitySnapshot{LastIDEActivity: &future}}); err != nil {
				t.Fatal(err)
			}
			if e, _ := st.GetEnvironment(ctx, busy.ID); e.LastAccessedAt.After(clk.Now()) {
				t.Errorf("lastAccessedAt moved into the future: %v > %v", e.LastAccessedAt, clk.Now())
			}
		})
	}
	if os.Getenv("CI") == "true" && len(storetest.Kinds()) < 2 {
		t.Fatal("both stores must run under CI")
	}
}

// TestRollbackSemantics: rollback makes a new revision from a stored one,
// keeps the replica count, and refuses what does not exist.
func TestRollbackSemantics(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now().UTC()}
	c, _ := newCore(t, "sqlite", clk)
	// An admin: on a local target only admins run commands of their own.
	ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
	two := 2
	spec := func(v string) berth.ServiceSpec {
		return berth.ServiceSpec{Command: []string{"sleep", "600"}, Env: map[string]string{"V": v}}
	}
	s1 := spec("1")
	s1.Replicas = &two
	if _, created, err := c.ApplyService(ctx, "job", s1); err != nil || !created {
		t.Fatal(created, err)
	}
	for _, v := range []string{"2", "3"} {
		if _, _, err := c.ApplyService(ctx, "job", spec(v)); err != nil {
			t.Fatal(err)
		}
	}
	q := core.ServiceQuery{Name: "job"}
	cases := []struct {
		name      string
		revision  int
		wantRev   int
		wantEnv   string
		wantError berth.Code
	}{
		{"previous", 0, 4, "2", ""},
		{"explicit first", 1, 5, "1", ""},
		{"current", 5, 0, "", berth.EINVALID},
		{"missing", 42, 0, "", berth.ENOTFOUND},
		{"negative", -1, 0, "", berth.EINVALID},
	}
	for _, tc := range cases {
		svc, err := c.RollbackService(ctx, q, tc.revision)
		if tc.wantError != "" {
			if berth.ErrorCode(err) != tc.wantError {
				t.Errorf("%s: err = %v, want %s", tc.name, err, tc.wantError)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if svc.Revision != tc.wantRev || svc.Spec.Env["V"] != tc.wantEnv || svc.Replicas != 2 {
			t.Errorf("%s: revision %d env %v replicas %d", tc.name, svc.Revision, svc.Spec.Env, svc.Replicas)
		}
	}
	revs, err := c.ListRevisions(ctx, q)
	if err != nil || len(revs) != 5 || revs[0].Cause != "rollback to 1" {
		t.Fatalf("revisions: %v %+v", err, revs)
	}
}
