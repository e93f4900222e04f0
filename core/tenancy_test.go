package core_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// sharedUser is a real local runtime that reports what a local runtime of a
// berth that is not root reports: it cannot keep users apart.
type sharedUser struct{ *local.Runtime }

func (r sharedUser) Info() berth.TargetInfo {
	info := r.Runtime.Info()
	info.SingleTenant = true
	return info
}

// TestSingleTenantTarget: on a target that runs every workload as berth's
// own user, only admins create or change services and environments: an
// operator's attempt is FORBIDDEN saying why and changes nothing (store and
// runtime); stopping and deleting stay allowed. On an isolating target the
// same operator may.
func TestSingleTenantTarget(t *testing.T) {
	t.Parallel()
	for _, single := range []bool{true, false} {
		name := "isolating"
		if single {
			name = "single-tenant"
		}
		t.Run(name, func(t *testing.T) {
			st := storetest.Open(t, store.SQLite, nil)
			lrt, err := local.New(local.Config{DataDir: t.TempDir(), StopGrace: time.Second,
				Templates: map[string]local.Template{"default": {Command: []string{"sleep", "60"}}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lrt.Close(context.Background()) })
			var rt berth.Runtime = lrt
			if single {
				rt = sharedUser{lrt}
			}
			// Operators may run commands here, so that what refuses them on
			// the single-tenant target is the tenancy rule alone.
			c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt},
				Policies: map[string]berth.TargetPolicy{"local": {CommandRoles: []berth.Role{berth.RoleAdmin, berth.RoleOperator}}}})
			if err != nil {
				t.Fatal(err)
			}
			admin := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})
			op := berth.WithActor(context.Background(), berth.Actor{UserID: "usr-op", Username: "op", Role: berth.RoleOperator})
			refused := func(what string, err error) {
				t.Helper()
				if !single {
					if err != nil {
						t.Errorf("%s on an isolating target: %v", what, err)
					}
					return
				}
				if berth.ErrorCode(err) != berth.EFORBIDDEN || !strings.Contains(berth.ErrorMessage(err), "berth's own user") {
					t.Errorf("%s: %v, want FORBIDDEN saying why", what, err)
				}
			}
			spec := berth.ServiceSpec{Command: []string{"sleep", "60"}}

			_, _, err = c.ApplyService(op, "ops-svc", spec)
			refused("operator creates a service", err)
			if single {
				if _, err := st.GetService(admin, berth.ServiceRef{Target: "local", Name: "ops-svc"}); !berth.IsCode(err, berth.ENOTFOUND) {
					t.Errorf("refused service was stored: %v", err)
				}
				if _, err := lrt.ServiceState(admin, berth.ServiceRef{Target: "local", Name: "ops-svc"}); !berth.IsCode(err, berth.ENOTFOUND) {
					t.Errorf("refused service reached the runtime: %v", err)
				}
			}
			_, err = c.CreateEnvironment(op, berth.CreateEnvironmentRequest{Name: "ops-env"})
			refused("operator creates an environment", err)
			if single {
				if envs, total, err := c.ListEnvironments(admin, "", 0, 10); err != nil || total != 0 {
					t.Errorf("refused environment was stored: %v %v", envs, err)
				}
			}

			// An admin's service and an environment the admin made for op.
			if _, _, err := c.ApplyService(admin, "web", spec); err != nil {
				t.Fatalf("admin creates a service: %v", err)
			}
			env, err := c.CreateEnvironment(admin, berth.CreateEnvironmentRequest{Name: "for-op", UserID: "usr-op"})
			if err != nil {
				t.Fatalf("admin creates an environment for op: %v", err)
			}
			q := core.ServiceQuery{Name: "web"}
			// Changing what runs is the owner's: on the isolating target the
			// operator changes their own service (the admin's is refused by
			// the owner rule, tested in core/policy_test.go).
			own, ownQ := "web", q
			if !single {
				own, ownQ = "ops-svc", core.ServiceQuery{Name: "ops-svc"}
			}
			_, _, err = c.ApplyService(op, own, berth.ServiceSpec{Command: []string{"sleep", "61"}})
			refused("operator updates a service", err)
			_, err = c.ScaleService(op, q, 2)
			refused("operator scales a service", err)
			_, err = c.RestartService(op, q)
			refused("operator restarts a service", err)
			_, err = c.UpdateConfig(op, ownQ, map[string]string{"a": "b"}, nil)
			refused("operator configures a service", err)
			if single {
				if svc, err := c.GetService(admin, q); err != nil || svc.Revision != 1 || svc.Replicas != 1 {
					t.Errorf("refused changes changed the service: %+v %v", svc, err)
				}
			}
			if _, err := c.StopService(op, q); err != nil {
				t.Errorf("operator stops a service: %v", err)
			}
			if _, err := c.StopEnvironment(op, env.ID); err != nil {
				t.Errorf("operator stops their environment: %v", err)
			}
			_, err = c.StartEnvironment(op, env.ID)
			refused("operator starts their environment", err)
			if _, err := c.DeleteEnvironment(op, env.ID, false); err != nil {
				t.Errorf("operator deletes their environment: %v", err)
			}
			if _, err := c.StartService(admin, q); err != nil {
				t.Errorf("admin starts the service: %v", err)
			}
		})
	}
}
