package core_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store/storetest"
)

// untouchable is a runtime any call of which (but its name) panics: an entry
// point that reaches it without an actor has acted for nobody.
type untouchable struct{ berth.Runtime }

func (untouchable) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: "t", Provider: berth.ProviderLocal}
}

// noActorExceptions are the entry points that take a context yet need no
// actor, each with its reason.
var noActorExceptions = map[string]string{
	"Core.Start":            "starts the loops and gives them berth.System itself",
	"Core.Probe":            "pings the store and targets for the unauthenticated /readyz; reads no one's data",
	"Accounts.Bootstrap":    "creates the first admin, as berth.System, before anyone exists",
	"Accounts.Login":        "turns a password into an identity",
	"Accounts.Logout":       "ends the session its token names",
	"Accounts.Authenticate": "turns a credential into an identity",
	"Accounts.Check":        "checks the identity it is given",
	"EnvProxy.Redeem":       "authenticates the credential its ticket carries",
	"EnvProxy.Authorize":    "authenticates the credential or session it is given",
}

// TestEntryPointsRefuseNoActor calls every exported method of Core,
// Accounts and EnvProxy whose first parameter is a context with a context
// that names no caller (and zero arguments otherwise): each answers
// core.ErrNoActor (UNAUTHORIZED) and touches no runtime, whatever the store
// holds. Before, core acted as the admin berth.System.
func TestEntryPointsRefuseNoActor(t *testing.T) {
	t.Parallel()
	sys := berth.WithActor(context.Background(), berth.System)
	st := storetest.Open(t, "sqlite", nil)
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{untouchable{}}})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	u, err := acc.CreateUser(sys, "ada", "ada-password-1", berth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	// Something to act on: a managed service and an environment, so that a
	// method that went on would reach the runtime.
	spec := berth.ServiceSpec{Target: "t", Command: []string{"sleep", "1"}}
	now := time.Now().UTC()
	if err := st.CreateService(sys, &berth.Service{Name: "web", Target: "t", Status: berth.ServiceRunning, Replicas: 1, Revision: 1,
		Managed: true, Spec: spec, Owner: u.ID, CreatedAt: now, UpdatedAt: now},
		&berth.Revision{Number: 1, Spec: spec, Cause: "create", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEnvironment(sys, &berth.Environment{ID: "env-a", UserID: u.ID, Name: "a", Status: berth.EnvRunning,
		Target: "t", CloudProvider: berth.ProviderLocal, AutoStopMinutes: 1, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	checked := 0
	for _, recv := range []any{c, acc, core.NewEnvProxy(c, acc, st)} {
		v := reflect.ValueOf(recv)
		typ := v.Type()
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			name := typ.Elem().Name() + "." + m.Name
			ft := m.Type // receiver first
			if ft.NumIn() < 2 || ft.In(1) != ctxType {
				continue
			}
			if _, ok := noActorExceptions[name]; ok {
				continue
			}
			checked++
			t.Run(name, func(t *testing.T) {
				args := []reflect.Value{reflect.ValueOf(context.Background())}
				for j := 2; j < ft.NumIn(); j++ {
					args = append(args, reflect.Zero(ft.In(j)))
				}
				var out []reflect.Value
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("reached the runtime without an actor: %v", p)
						}
					}()
					out = v.Method(i).Call(args)
				}()
				if ft.NumOut() == 0 {
					return // SyncOnce: it logs and returns; not panicking above is the check
				}
				last := out[len(out)-1]
				if ft.Out(ft.NumOut()-1) != errType {
					t.Fatalf("%s returns no error", name)
				}
				err, _ := last.Interface().(error)
				if !errors.Is(err, core.ErrNoActor) || berth.ErrorCode(err) != berth.EUNAUTHORIZED {
					t.Fatalf("%s without an actor: %v, want ErrNoActor", name, err)
				}
			})
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d entry points: the reflection missed some", checked)
	}

	// Nothing changed: the environment still runs, the service is stored.
	env, err := st.GetEnvironment(sys, "env-a")
	if err != nil || env.Status != berth.EnvRunning {
		t.Fatalf("environment after the calls: %+v, %v", env, err)
	}
	if _, err := st.GetService(sys, berth.ServiceRef{Target: "t", Name: "web"}); err != nil {
		t.Fatalf("service after the calls: %v", err)
	}
}
