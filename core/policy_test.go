package core

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

func policyCore(t *testing.T, policies map[string]berth.TargetPolicy) *Core {
	t.Helper()
	c, err := New(Config{Store: nilStore{}, Policies: policies, Runtimes: []berth.Runtime{
		infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}},
		infoOnly{info: berth.TargetInfo{Name: "prod", Provider: berth.ProviderKubernetes, DefaultNamespace: "default"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func intp(n int) *int { return &n }

var webTemplate = berth.ServiceTemplate{
	Command: []string{"sleep", "600"}, Env: map[string]string{"GREETING": "hi", "MODE": "prod"},
	Ports: []berth.Port{{Name: "http"}}, Replicas: intp(2),
	Params: berth.TemplateParams{Env: []string{"GREETING"}},
}

// TestRunPolicy: who may run what on which target, and the field and rule
// each refusal names.
func TestRunPolicy(t *testing.T) {
	t.Parallel()
	c := policyCore(t, map[string]berth.TargetPolicy{"local": {ServiceTemplates: map[string]berth.ServiceTemplate{
		"web": webTemplate, "worker": {Command: []string{"sleep", "1"}, Params: berth.TemplateParams{Replicas: true, Ports: true, Config: true}}}}})
	admin := berth.Actor{UserID: "u-a", Role: berth.RoleAdmin}
	op := berth.Actor{UserID: "u-o", Role: berth.RoleOperator}
	cmd := berth.ServiceSpec{Command: []string{"sh", "-c", "id"}}
	tpl := func(mod func(*berth.ServiceSpec)) berth.ServiceSpec {
		s := berth.ServiceSpec{Template: "web"}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	cur := &berth.Service{Replicas: 5}
	for _, tc := range []struct {
		name   string
		a      berth.Actor
		target string
		spec   berth.ServiceSpec
		cur    *berth.Service
		code   berth.Code // "" = allowed
		field  string
	}{
		{"admin command on local", admin, "local", cmd, nil, "", ""},
		{"operator command on local", op, "local", cmd, nil, berth.EFORBIDDEN, ""},
		{"operator command on kubernetes", op, "prod", berth.ServiceSpec{Image: "nginx"}, nil, "", ""},
		{"operator template", op, "local", tpl(nil), nil, "", ""},
		{"operator allowed env", op, "local", tpl(func(s *berth.ServiceSpec) { s.Env = map[string]string{"GREETING": "x"} }), nil, "", ""},
		{"operator template default env", op, "local", tpl(func(s *berth.ServiceSpec) { s.Env = map[string]string{"MODE": "prod"} }), nil, "", ""},
		{"operator other env", op, "local", tpl(func(s *berth.ServiceSpec) { s.Env = map[string]string{"MODE": "dev"} }), nil, berth.EFORBIDDEN, "env"},
		{"operator LD_PRELOAD", op, "local", tpl(func(s *berth.ServiceSpec) { s.Env = map[string]string{"LD_PRELOAD": "/x.so"} }), nil, berth.EFORBIDDEN, "env"},
		{"operator secret not allowed", op, "local", tpl(func(s *berth.ServiceSpec) { s.Secrets = map[string]string{"TOKEN": "x"} }), nil, berth.EFORBIDDEN, "secrets"},
		{"operator secret of an allowed name", op, "local", tpl(func(s *berth.ServiceSpec) { s.Secrets = map[string]string{"GREETING": "x"} }), nil, "", ""},
		{"operator template's replicas", op, "local", tpl(func(s *berth.ServiceSpec) { s.Replicas = intp(2) }), nil, "", ""},
		{"operator other replicas", op, "local", tpl(func(s *berth.ServiceSpec) { s.Replicas = intp(4) }), nil, berth.EFORBIDDEN, "replicas"},
		{"operator current replicas on update", op, "local", tpl(func(s *berth.ServiceSpec) { s.Replicas = intp(5) }), cur, "", ""},
		{"operator ports", op, "local", tpl(func(s *berth.ServiceSpec) { s.Ports = []berth.Port{{Name: "x", Port: 1}} }), nil, berth.EFORBIDDEN, "ports"},
		{"operator template's ports", op, "local", tpl(func(s *berth.ServiceSpec) { s.Ports = []berth.Port{{Name: "http"}} }), nil, "", ""},
		{"operator config", op, "local", tpl(func(s *berth.ServiceSpec) { s.Config.Files = map[string]string{"a": "b"} }), nil, berth.EFORBIDDEN, "config"},
		{"operator resources", op, "local", tpl(func(s *berth.ServiceSpec) { s.Resources.CPU = "1" }), nil, berth.EFORBIDDEN, "resources"},
		{"operator health check", op, "local", tpl(func(s *berth.ServiceSpec) { s.HealthCheck = &berth.HealthCheck{TCP: true} }), nil, berth.EFORBIDDEN, "healthCheck"},
		{"worker allows replicas, ports, config", op, "local", berth.ServiceSpec{Template: "worker", Replicas: intp(9),
			Ports: []berth.Port{{Name: "x"}}, Config: berth.Config{Files: map[string]string{"a": "b"}}}, nil, "", ""},
		{"template and command", admin, "local", tpl(func(s *berth.ServiceSpec) { s.Command = []string{"sh"} }), nil, berth.EINVALID, "command"},
		{"template and image", op, "local", tpl(func(s *berth.ServiceSpec) { s.Image = "x" }), nil, berth.EINVALID, "image"},
		{"unknown template", op, "local", berth.ServiceSpec{Template: "nosuch"}, nil, berth.EINVALID, "template"},
		{"template of another target", op, "prod", tpl(nil), nil, berth.EINVALID, "template"},
	} {
		err := c.checkRunPolicy(tc.a, tc.target, tc.spec, tc.cur)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: %v, want allowed", tc.name, err)
			}
			continue
		}
		var be *berth.Error
		if !berth.IsCode(err, tc.code) || !errors.As(err, &be) || be.Field != tc.field {
			t.Errorf("%s: %v, want %s naming %q", tc.name, err, tc.code, tc.field)
			continue
		}
		if tc.code == berth.EFORBIDDEN && !strings.Contains(be.Message, `target "local" lets only admin run commands (commandRoles); use a service template: web, worker`) {
			t.Errorf("%s: message does not name the policy: %s", tc.name, be.Message)
		}
	}
}

// TestExpandTemplate: the runtime gets the template with the user's
// parameters laid over it; the instantiation itself is left as it was.
func TestExpandTemplate(t *testing.T) {
	t.Parallel()
	c := policyCore(t, map[string]berth.TargetPolicy{"local": {ServiceTemplates: map[string]berth.ServiceTemplate{"web": webTemplate}}})
	in := berth.ServiceSpec{Template: "web", Env: map[string]string{"GREETING": "hello"}}
	got, err := c.expand("local", in)
	if err != nil {
		t.Fatal(err)
	}
	want := berth.ServiceSpec{Template: "web", Command: []string{"sleep", "600"}, Env: map[string]string{"GREETING": "hello", "MODE": "prod"},
		Ports: []berth.Port{{Name: "http"}}, Replicas: intp(2)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expanded %+v, want %+v", got, want)
	}
	if len(in.Env) != 1 || in.Command != nil || webTemplate.Env["GREETING"] != "hi" {
		t.Errorf("expand changed its input or the template: %+v %+v", in, webTemplate)
	}
	if plain, err := c.expand("local", berth.ServiceSpec{Command: []string{"x"}}); err != nil || plain.Command[0] != "x" {
		t.Errorf("a spec without template: %+v %v", plain, err)
	}
}

// TestPolicyDefaults: a local target lets only admins run commands unless
// configured; other targets let every role; a bad policy stops New.
func TestPolicyDefaults(t *testing.T) {
	t.Parallel()
	c := policyCore(t, nil)
	if p := c.Policy("local"); !reflect.DeepEqual(p.CommandRoles, []berth.Role{berth.RoleAdmin}) || p.Allows(berth.RoleOperator) {
		t.Errorf("local default policy %+v", p)
	}
	if p := c.Policy("prod"); !p.Allows(berth.RoleOperator) {
		t.Errorf("kubernetes default policy %+v", p)
	}
	c = policyCore(t, map[string]berth.TargetPolicy{"local": {CommandRoles: []berth.Role{berth.RoleAdmin, berth.RoleOperator}}})
	if !c.Policy("local").Allows(berth.RoleOperator) || c.Policy("local").Allows(berth.RoleViewer) {
		t.Errorf("commandRoles [admin, operator]: %+v", c.Policy("local"))
	}
	for name, bad := range map[string]map[string]berth.TargetPolicy{
		"unknown target": {"mars": {}},
		"unknown role":   {"local": {CommandRoles: []berth.Role{"root"}}},
		"no command":     {"local": {ServiceTemplates: map[string]berth.ServiceTemplate{"web": {}}}},
		"dangerous param": {"local": {ServiceTemplates: map[string]berth.ServiceTemplate{"web": {Command: []string{"x"},
			Params: berth.TemplateParams{Env: []string{"LD_PRELOAD"}}}}}},
	} {
		if _, err := New(Config{Store: nilStore{}, Policies: bad, Runtimes: []berth.Runtime{
			infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}}}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestServiceAccess: the one table of who may do what to a service.
func TestServiceAccess(t *testing.T) {
	t.Parallel()
	c := policyCore(t, nil)
	c.store = usersOnly{}
	svc := &berth.Service{Name: "web", Owner: "u-olga"}
	legacy := &berth.Service{Name: "old"}
	actors := map[string]berth.Actor{
		"admin":  {UserID: "u-admin", Role: berth.RoleAdmin},
		"owner":  {UserID: "u-olga", Role: berth.RoleOperator},
		"other":  {UserID: "u-otto", Role: berth.RoleOperator},
		"viewer": {UserID: "u-vera", Role: berth.RoleViewer},
	}
	for _, tc := range []struct {
		who  string
		svc  *berth.Service
		acc  serviceAccess
		want bool
	}{
		{"viewer", svc, serviceRead, true}, {"viewer", svc, serviceOperate, false}, {"viewer", svc, serviceChange, false},
		{"other", svc, serviceRead, true}, {"other", svc, serviceOperate, true}, {"other", svc, serviceChange, false},
		{"owner", svc, serviceOperate, true}, {"owner", svc, serviceChange, true},
		{"admin", svc, serviceChange, true}, {"admin", legacy, serviceChange, true},
		{"other", legacy, serviceChange, false}, {"other", legacy, serviceOperate, true},
	} {
		err := c.mayService(context.Background(), actors[tc.who], tc.svc, tc.acc, "op")
		if (err == nil) != tc.want {
			t.Errorf("%s, %s, access %d: %v, want allowed %v", tc.who, tc.svc.Name, tc.acc, err, tc.want)
		}
		if err != nil && !berth.IsCode(err, berth.EFORBIDDEN) {
			t.Errorf("%s: %v, want FORBIDDEN", tc.who, err)
		}
		if err != nil && tc.acc == serviceChange && tc.svc == svc && !strings.Contains(berth.ErrorMessage(err), "only its owner (olga) or an admin") {
			t.Errorf("%s: message does not name the owner rule: %s", tc.who, berth.ErrorMessage(err))
		}
	}
	env := &berth.Environment{ID: "env-1", UserID: "u-olga"}
	for who, want := range map[string]bool{"admin": true, "owner": true, "other": false, "viewer": false} {
		if got := mayEnvironment(actors[who], env); got != want {
			t.Errorf("%s sees olga's environment: %v, want %v", who, got, want)
		}
		it := berth.Resource{Type: "process", BerthKind: "environment", BerthID: "env-1"}
		if got := mayInventoryItem(actors[who], it, map[string]string{"env-1": "u-olga"}); got != want {
			t.Errorf("%s sees olga's environment's process: %v, want %v", who, got, want)
		}
		orphan := berth.Resource{Type: "pvc", BerthKind: "environment", BerthID: "env-gone"}
		if got := mayInventoryItem(actors[who], orphan, nil); got != (who == "admin") {
			t.Errorf("%s sees an orphaned environment's volume: %v", who, got)
		}
		replica := berth.Resource{Type: "process", BerthKind: "service", BerthID: "web"}
		if !mayInventoryItem(actors[who], replica, nil) {
			t.Errorf("%s does not see a service's replica", who)
		}
	}
}

// usersOnly answers the owner's name.
type usersOnly struct{ berth.Store }

func (usersOnly) GetUser(_ context.Context, id string) (*berth.User, error) {
	return &berth.User{ID: id, Username: strings.TrimPrefix(id, "u-")}, nil
}

// TestCheckNamespace: a local target has no namespaces.
func TestCheckNamespace(t *testing.T) {
	t.Parallel()
	c := policyCore(t, nil)
	for _, tc := range []struct {
		target, ns string
		ok         bool
	}{
		{"local", "", true}, {"local", "shadow", false}, {"prod", "team", true}, {"", "team", true},
	} {
		err := c.CheckNamespace(tc.target, tc.ns)
		if (err == nil) != tc.ok {
			t.Errorf("%q/%q: %v", tc.target, tc.ns, err)
		}
	}
	only, err := New(Config{Store: nilStore{}, Runtimes: []berth.Runtime{infoOnly{info: berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := only.CheckNamespace("", "shadow"); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("a namespace where no target has namespaces: %v", err)
	}
}
