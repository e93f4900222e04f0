package core_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// An apply's condition is checked before anything changes: one that fails
// is CONFLICT, and the stored service and its revisions stay as they were.
func TestApplyServiceIf(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			c, st := newCore(t, kind, &clock{now: time.Now()})
			ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
			zero := 0
			spec := func(arg string) berth.ServiceSpec {
				return berth.ServiceSpec{Command: []string{"sleep", arg}, Replicas: &zero}
			}
			for _, step := range []struct {
				name    string
				cond    core.ApplyCondition
				arg     string
				wantErr string // CONFLICT message part; "" applies
				wantRev int    // the stored revision afterwards (0: none stored)
			}{
				{"must exist, missing", core.ApplyCondition{Exists: true}, "1", "does not exist, and the request required an existing one", 0},
				{"revision, missing", core.ApplyCondition{Revision: 1}, "1", "does not exist, and the request required revision 1", 0},
				{"new", core.ApplyCondition{Absent: true}, "1", "", 1},
				{"new again", core.ApplyCondition{Absent: true}, "2", "already exists (revision 1), and the request required a new one", 1},
				{"at revision 1", core.ApplyCondition{Revision: 1}, "2", "", 2},
				{"at revision 1 again (lost update)", core.ApplyCondition{Revision: 1}, "3", "is at revision 2, and the request required revision 1", 2},
				{"must exist", core.ApplyCondition{Exists: true}, "3", "", 3},
				{"at revision 3, same spec", core.ApplyCondition{Revision: 3}, "3", "", 3},
				{"no condition", core.ApplyCondition{}, "4", "", 4},
			} {
				_, _, err := c.ApplyServiceIf(ctx, "job", spec(step.arg), step.cond)
				switch {
				case step.wantErr == "" && err != nil:
					t.Fatalf("%s: %v", step.name, err)
				case step.wantErr != "" && (!berth.IsCode(err, berth.ECONFLICT) || !strings.Contains(berth.ErrorMessage(err), step.wantErr)):
					t.Fatalf("%s: %v, want CONFLICT saying %q", step.name, err, step.wantErr)
				}
				svc, err := st.GetService(ctx, berth.ServiceRef{Target: "local", Name: "job"})
				if step.wantRev == 0 {
					if !berth.IsCode(err, berth.ENOTFOUND) {
						t.Fatalf("%s: stored %v, %v; want none", step.name, svc, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				revs, err := st.ListRevisions(ctx, svc.Ref())
				if err != nil {
					t.Fatal(err)
				}
				want := strconv.Itoa(step.wantRev) // each step's spec is "sleep <the revision it makes>"
				if svc.Revision != step.wantRev || len(revs) != step.wantRev || svc.Spec.Command[1] != want {
					t.Fatalf("%s: stored revision %d (%d revisions) running %v; want revision %d running sleep %s",
						step.name, svc.Revision, len(revs), svc.Spec.Command, step.wantRev, want)
				}
			}
		})
	}
}

// The other changes of a service take the same revision precondition
// (ServiceQuery.Revision): scale, config and delete go ahead only at it.
func TestChangeServiceIf(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			c, st := newCore(t, kind, &clock{now: time.Now()})
			ctx := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
			zero := 0
			for _, arg := range []string{"1", "2"} {
				if _, _, err := c.ApplyService(ctx, "job", berth.ServiceSpec{Command: []string{"sleep", arg}, Replicas: &zero}); err != nil {
					t.Fatal(err)
				}
			}
			at := func(rev int) core.ServiceQuery { return core.ServiceQuery{Name: "job", Revision: rev} }
			stored := func() *berth.Service {
				svc, err := st.GetService(ctx, berth.ServiceRef{Target: "local", Name: "job"})
				if err != nil {
					t.Fatal(err)
				}
				return svc
			}
			conflict := func(what string, err error) {
				t.Helper()
				if !berth.IsCode(err, berth.ECONFLICT) || !strings.Contains(berth.ErrorMessage(err), "is at revision") {
					t.Fatalf("%s at a stale revision: %v, want CONFLICT", what, err)
				}
			}
			_, err := c.ScaleService(ctx, at(1), 1)
			conflict("scale", err)
			_, err = c.UpdateConfig(ctx, at(1), nil, map[string]string{"A": "1"})
			conflict("config", err)
			_, err = c.DeleteService(ctx, at(1))
			conflict("delete", err)
			if svc := stored(); svc.Revision != 2 || svc.Replicas != 0 || len(svc.Spec.Env) != 0 {
				t.Fatalf("after refused changes: revision %d, %d replicas, env %v", svc.Revision, svc.Replicas, svc.Spec.Env)
			}
			if _, err := c.ScaleService(ctx, at(2), 1); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ScaleService(ctx, at(2), 0); err != nil { // a scale is no new revision
				t.Fatal(err)
			}
			if _, err := c.UpdateConfig(ctx, at(2), nil, map[string]string{"A": "1"}); err != nil {
				t.Fatal(err)
			}
			_, err = c.DeleteService(ctx, at(2))
			conflict("delete after the config change", err)
			if _, err := c.DeleteService(ctx, at(3)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.GetService(ctx, berth.ServiceRef{Target: "local", Name: "job"}); !berth.IsCode(err, berth.ENOTFOUND) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}
