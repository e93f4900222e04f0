package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	_ "modernc.org/sqlite"
)

// policyYAML is a local target whose operators run one template, web:
// sleep 6001 with GREETING as the only parameter they may set.
const policyYAML = `
targets:
  - name: local
    type: local
    serviceTemplates:
      web:
        command: ["sleep", "6001"]
        env: {GREETING: default-greeting}
        params:
          env: [GREETING]
`

// startWithConfig starts berth with yaml as its berth.yaml.
func startWithConfig(t *testing.T, yaml string) *Berth {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartBerth(t, dir, "")
}

// operators creates operator users and returns their session tokens.
func operators(t *testing.T, b *Berth, names ...string) []string {
	t.Helper()
	var toks []string
	for _, u := range names {
		b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": u, "password": "operator-password", "role": "operator"})
		toks = append(toks, b.Login(u, "operator-password"))
	}
	return toks
}

// rows counts the rows of berth's SQLite database that match the query,
// read directly from the file: the view from outside berth.
func rows(t *testing.T, b *Berth, query string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.DataDir, "berth.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// cmdline is a process's argv as the kernel has it.
func cmdline(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return strings.Join(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), " ")
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestPolicyOperatorTemplates: on a local target an operator runs no
// command of their own (403 naming the policy, no record, no process),
// instantiates the admin's template with the parameters it allows, and
// nothing else; the targets list offers the templates.
func TestPolicyOperatorTemplates(t *testing.T) {
	b := startWithConfig(t, policyYAML)
	olga := operators(t, b, "olga")[0]

	code, e := doAs[api.Error](b, olga, "PUT", "/api/v1/services/pol-evil", map[string]any{"command": []string{"sh", "-c", "sleep 6002"}})
	want := `target "local" lets only admin run commands (commandRoles); use a service template: web`
	if code != 403 || e.Error != berth.EFORBIDDEN || e.Message != want {
		t.Errorf("operator's own command: %d %+v, want 403 %q", code, e, want)
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM services WHERE name = 'pol-evil'"); n != 0 {
		t.Errorf("refused service has %d rows", n)
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM revisions"); n != 0 {
		t.Errorf("refused service left %d revisions", n)
	}
	if pids := processesOf("pol-evil"); len(pids) != 0 {
		t.Errorf("refused service runs as %v", pids)
	}

	// Parameters the template does not allow, or that change what runs.
	for _, tc := range []struct {
		spec  map[string]any
		code  int
		field string
		names string // what the message names besides the field
	}{
		{map[string]any{"template": "web", "env": map[string]string{"OTHER": "x"}}, 403, "env", "OTHER"},
		{map[string]any{"template": "web", "env": map[string]string{"LD_PRELOAD": "/tmp/evil.so"}}, 403, "env", "LD_PRELOAD"},
		{map[string]any{"template": "web", "env": map[string]string{"BASH_ENV": "/tmp/evil"}}, 403, "env", "BASH_ENV"},
		{map[string]any{"template": "web", "secrets": map[string]string{"ENV": "/tmp/evil"}}, 403, "secrets", "ENV"},
		{map[string]any{"template": "web", "replicas": 3}, 403, "replicas", "params.replicas"},
		{map[string]any{"template": "web", "ports": []map[string]any{{"name": "http", "port": 9}}}, 403, "ports", "params.ports"},
		{map[string]any{"template": "web", "config": map[string]any{"files": map[string]string{"a": "b"}}}, 403, "config", "params.config"},
		{map[string]any{"template": "web", "healthCheck": map[string]any{"tcp": true}, "ports": []map[string]any{{"name": "http", "port": 9}}}, 403, "healthCheck", "commandRoles"},
		{map[string]any{"template": "web", "command": []string{"sh"}}, 400, "command", "template"},
		{map[string]any{"template": "nosuch"}, 400, "template", "web"},
	} {
		code, e := doAs[api.Error](b, olga, "PUT", "/api/v1/services/pol-site2", tc.spec)
		if code != tc.code || e.Field != tc.field || !strings.HasPrefix(e.Message, tc.field+":") || !strings.Contains(e.Message, tc.names) {
			t.Errorf("%v: %d %+v, want %d naming %s and %s", tc.spec, code, e, tc.code, tc.field, tc.names)
		}
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM services"); n != 0 {
		t.Errorf("refused specs left %d service rows", n)
	}

	// The template, with the parameter it allows.
	code, m := doAs[api.ServiceResult](b, olga, "PUT", "/api/v1/services/pol-site", map[string]any{"template": "web", "env": map[string]string{"GREETING": "hello"}})
	if code != 201 || m.Service.Spec.Template != "web" || m.Service.Owner == "" {
		t.Fatalf("operator instantiates web: %d %s", code, mustJSON(m))
	}
	waitRunning(t, b, "pol-site", 1)
	pid := waitProcs(t, "pol-site", 1)[0]
	if got := cmdline(pid); got != "sleep 6001" {
		t.Errorf("site runs %q, want the template's command", got)
	}
	if got := procEnv(pid, "GREETING"); got != "hello" {
		t.Errorf("GREETING = %q, want the operator's value", got)
	}
	// The stored revision is the instantiation: template and parameters.
	if n := rows(t, b, "SELECT COUNT(*) FROM revisions WHERE spec LIKE '%\"template\":\"web\"%' AND spec NOT LIKE '%sleep%'"); n != 1 {
		t.Errorf("%d revisions hold the instantiation", n)
	}
	// An update keeps working: a new GREETING rolls out a new revision.
	code, m = doAs[api.ServiceResult](b, olga, "PUT", "/api/v1/services/pol-site", map[string]any{"template": "web", "env": map[string]string{"GREETING": "again"}})
	if code != 200 || m.Service.Revision != 2 {
		t.Fatalf("update: %d %s", code, mustJSON(m))
	}
	Eventually(t, 30*time.Second, "GREETING=again", func() (bool, string) {
		p := processesOf("pol-site")
		return len(p) == 1 && procEnv(p[0], "GREETING") == "again", fmt.Sprint(p)
	})
	// Rollback to revision 1 brings back hello.
	if code, m := doAs[api.ServiceResult](b, olga, "POST", "/api/v1/services/pol-site/rollback", api.RollbackRequest{Revision: 1}); code != 200 || m.Service.Revision != 3 {
		t.Fatalf("rollback: %d %s", code, mustJSON(m))
	}
	Eventually(t, 30*time.Second, "GREETING=hello after rollback", func() (bool, string) {
		p := processesOf("pol-site")
		return len(p) == 1 && procEnv(p[0], "GREETING") == "hello" && cmdline(p[0]) == "sleep 6001", fmt.Sprint(p)
	})

	// The targets list offers the templates and their parameters.
	tg := getJSON[api.TargetList](b, "/api/v1/targets")
	if len(tg.Targets) != 1 || len(tg.Targets[0].ServiceTemplates) != 1 || tg.Targets[0].ServiceTemplates[0].Name != "web" {
		t.Errorf("targets: %s", mustJSON(tg))
	}
	j := mustJSON(tg)
	if !strings.Contains(j, `"serviceTemplates":[{"name":"web","params":{"env":["GREETING"]}}]`) || !strings.Contains(j, `"commandRoles":["admin"]`) {
		t.Errorf("targets: %s", j)
	}
	if strings.Contains(j, "6001") {
		t.Errorf("targets show a template's command: %s", j)
	}
	// The admin still runs commands (the README quick start).
	b.MustDo(201, "PUT", "/api/v1/services/pol-adminjob", map[string]any{"command": []string{"sleep", "6003"}})
	waitProcs(t, "pol-adminjob", 1)
}

// TestPolicyCommandRoles: commandRoles [admin, operator] lets operators run
// commands of their own there.
func TestPolicyCommandRoles(t *testing.T) {
	b := startWithConfig(t, `
targets:
  - name: local
    type: local
    commandRoles: [admin, operator]
`)
	olga := operators(t, b, "olga")[0]
	code, m := b.Do(olga, "PUT", "/api/v1/services/pol-job", map[string]any{"command": []string{"sleep", "6004"}})
	if code != 201 {
		t.Fatalf("operator's command with commandRoles [admin, operator]: %d %v", code, m)
	}
	if got := cmdline(waitProcs(t, "pol-job", 1)[0]); got != "sleep 6004" {
		t.Errorf("job runs %q", got)
	}
}

// TestServiceOwnership: services are shared for operating, but only their
// owner or an admin changes what runs.
func TestServiceOwnership(t *testing.T) {
	b := startWithConfig(t, policyYAML)
	toks := operators(t, b, "olga", "otto")
	olga, otto := toks[0], toks[1]
	if code, m := b.Do(olga, "PUT", "/api/v1/services/pol-site", map[string]any{"template": "web"}); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	pid := waitProcs(t, "pol-site", 1)[0]

	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/services/pol-site", map[string]any{"template": "web", "env": map[string]string{"GREETING": "otto-was-here"}}},
		{"PUT", "/api/v1/services/pol-site/config", map[string]any{"env": map[string]string{"GREETING": "otto-was-here"}}},
		{"DELETE", "/api/v1/services/pol-site", nil},
		{"DELETE", "/api/v1/infrastructure/service/pol-site", nil},
	} {
		code, e := doAs[api.Error](b, otto, op.method, op.path, op.body)
		if code != 403 || e.Error != berth.EFORBIDDEN || !strings.Contains(e.Message, "only its owner (olga) or an admin") {
			t.Errorf("otto %s %s: %d %+v, want 403 naming the owner rule", op.method, op.path, code, e)
		}
	}
	if !alive(pid) || procEnv(pid, "GREETING") != "default-greeting" {
		t.Errorf("olga's replica after otto's refused changes: alive %v, GREETING %q", alive(pid), procEnv(pid, "GREETING"))
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM revisions"); n != 1 {
		t.Errorf("%d revisions after refused changes, want 1", n)
	}
	// Operating is shared: otto scales, restarts, reads the logs.
	two := 2
	if code, m := doAs[api.ServiceResult](b, otto, "POST", "/api/v1/services/pol-site/scale", api.ScaleRequest{Replicas: &two}); code != 200 || m.Service.Replicas != 2 {
		t.Errorf("otto scales: %d %s", code, mustJSON(m))
	}
	before := waitProcs(t, "pol-site", 2)
	// A replica's inventory row is operated like the service: deleting it
	// (a restart of that replica) is shared too.
	if code, m := b.Do(otto, "DELETE", "/api/v1/infrastructure/process/pol-site-0", nil); code != 200 {
		t.Errorf("otto deletes a replica process: %d %v", code, m)
	}
	Eventually(t, 30*time.Second, "replica replaced", func() (bool, string) {
		now := processesOf("pol-site")
		return len(now) == 2 && fmt.Sprint(now) != fmt.Sprint(before), fmt.Sprint(now)
	})
	if code, m := doAs[api.ServiceLogs](b, otto, "GET", "/api/v1/services/pol-site/logs", nil); code != 200 || m.Service != "pol-site" {
		t.Errorf("otto reads logs: %d %+v", code, m)
	}
	// The owner changes it; an admin deletes it.
	if code, m := b.Do(olga, "PUT", "/api/v1/services/pol-site/config", map[string]any{"env": map[string]string{"GREETING": "olgas"}}); code != 200 {
		t.Errorf("owner's config: %d %v", code, m)
	}
	mustDo[api.Ack](b, 200, "DELETE", "/api/v1/services/pol-site", nil)
	waitProcs(t, "pol-site", 0)
}

// TestInventoryOwnership: another user's environment is neither listed in
// the inventory nor acted on through it (NOT_FOUND, as its own routes say).
func TestInventoryOwnership(t *testing.T) {
	b := StartBerth(t, "", "")
	toks := operators(t, b, "olga", "otto")
	olga, otto := toks[0], toks[1]
	code, m := doAs[api.EnvironmentEnvelope](b, olga, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "olgas"})
	if code != 201 {
		t.Fatalf("create: %d %+v", code, m)
	}
	id := m.Environment.ID
	var pid int
	Eventually(t, 30*time.Second, "olga's environment runs", func() (bool, string) {
		p := processesOfEnv(id)
		if len(p) == 1 {
			pid = p[0]
		}
		return len(p) == 1, fmt.Sprint(p)
	})
	Eventually(t, 30*time.Second, "olga's inventory shows her environment's process", func() (bool, string) {
		_, inv := doAs[api.Inventory](b, olga, "GET", "/api/v1/infrastructure", nil)
		for _, r := range inv.Resources {
			if r.ID == "env-"+id {
				return true, ""
			}
		}
		return false, mustJSON(inv)
	})
	_, inv := doAs[api.Inventory](b, otto, "GET", "/api/v1/infrastructure", nil)
	if j := mustJSON(inv); strings.Contains(j, id) || strings.Contains(j, fmt.Sprintf(`"pid":%d`, pid)) {
		t.Errorf("otto's inventory shows olga's environment: %s", j)
	}
	for _, p := range []string{"/api/v1/infrastructure/process/env-" + id, "/api/v1/infrastructure/environment/" + id} {
		if code, e := doAs[api.Error](b, otto, "DELETE", p, nil); code != 404 || e.Error != berth.ENOTFOUND {
			t.Errorf("otto DELETE %s: %d %+v, want 404", p, code, e)
		}
	}
	if code, m := b.Do(otto, "POST", "/api/v1/infrastructure/environment/"+id+"/stop", nil); code != 404 {
		t.Errorf("otto stops olga's environment through the inventory: %d %v", code, m)
	}
	if !alive(pid) {
		t.Errorf("olga's environment process %d is gone", pid)
	}
	if p := processesOfEnv(id); len(p) != 1 || p[0] != pid {
		t.Errorf("olga's environment runs as %v, want %d untouched", p, pid)
	}
}

// TestLocalNamespace: a local target has no namespaces; naming one is
// INVALID_REQUEST, and nothing runs twice or stops.
func TestLocalNamespace(t *testing.T) {
	b := StartBerth(t, "", "")
	spec := map[string]any{"command": []string{"sleep", "6005"}}
	b.MustDo(201, "PUT", "/api/v1/services/pol-dup", spec)
	pid := waitProcs(t, "pol-dup", 1)[0]
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/v1/services/pol-dup", map[string]any{"namespace": "shadow", "command": []string{"sleep", "6005"}}},
		{"DELETE", "/api/v1/services/pol-dup?namespace=shadow", nil},
		{"GET", "/api/v1/services/pol-dup?namespace=shadow", nil},
		{"POST", "/api/v1/services/pol-dup/stop?namespace=shadow", nil},
		{"GET", "/api/v1/metrics?service=pol-dup&namespace=shadow", nil},
	} {
		code, e := doAs[api.Error](b, b.Token(), op.method, op.path, op.body)
		if code != 400 || e.Error != berth.EINVALID || e.Field != "namespace" {
			t.Errorf("%s %s: %d %+v, want 400 naming namespace", op.method, op.path, code, e)
		}
	}
	if p := processesOf("pol-dup"); len(p) != 1 || p[0] != pid {
		t.Errorf("dup runs as %v, want %d alone", p, pid)
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM services"); n != 1 {
		t.Errorf("%d service rows, want 1", n)
	}
	waitRunning(t, b, "pol-dup", 1)
}

// TestEnvironmentInput: environments follow the services' character rules,
// and a create that fails validation leaves no record.
func TestEnvironmentInput(t *testing.T) {
	t.Parallel() // its own berth, port, data dir and workloads; no look at the process table
	b := StartBerth(t, "", "")
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "nul", "env": map[string]string{"A": "x\x00y"}}, "env"},
		{map[string]any{"name": "bad-name", "env": map[string]string{"1A": "x"}}, "env"},
		{map[string]any{"name": "evil\u202Egnp.exe"}, "name"},
		{map[string]any{"name": "evil\u2066x"}, "name"},
		{map[string]any{"name": "ws", "template": "nosuch"}, "template"},
	} {
		code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/environments", tc.body)
		if code != 400 || e.Error != berth.EINVALID || e.Field != tc.field {
			t.Errorf("%q: %d %+v, want 400 naming %s", tc.body, code, e, tc.field)
		}
	}
	if n := rows(t, b, "SELECT COUNT(*) FROM environments"); n != 0 {
		t.Errorf("refused creates left %d environment rows", n)
	}
}

// TestBrowserOperatorTemplate: the New service form offers an operator the
// target's templates (and no command of their own); what it creates runs
// the template's command with the operator's parameter.
func TestBrowserOperatorTemplate(t *testing.T) {
	b := startWithConfig(t, policyYAML)
	operators(t, b, "olga")
	d := openDashboard(t, b)
	// The form asks whether the name is taken before PUT: a 404 the browser logs.
	d.ExpectConsoleError("^" + regexp.QuoteMeta(d.base+"/api/v1/services/pol-from-form") + `(\?|$)`)
	d.open("#/login")
	d.loginOK("olga", "operator-password", "operator")
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.Click("service-create-open")
	d.WaitVisible("service-create-template")
	d.Eventually("the template offered, no own command", func() (bool, string) {
		var opts []string
		d.Eval(`[...document.querySelector('[data-testid="service-create-template"]').options].map(o => o.value)`, &opts)
		return fmt.Sprint(opts) == "[web]", fmt.Sprint(opts)
	})
	d.WaitNotVisible(tid("service-create-command"))
	d.WaitText("service-create", "GREETING")
	d.SetValue("service-create-name", "pol-from-form")
	d.SetValue("service-create-env", "GREETING=from-the-form")
	d.Click("service-create-submit")
	d.WaitHash("#/services/pol-from-form")
	d.WaitText("service-status", "RUNNING")
	d.WaitText("service-spec", "web")
	svc := apiService(b, "pol-from-form")
	if str(svc, "spec", "template") != "web" || str(svc, "spec", "command") != "" {
		t.Errorf("the form's service: %s", mustJSON(svc))
	}
	pid := waitProcsEnv(t, "pol-from-form", 1, "GREETING", "from-the-form")[0]
	if got := cmdline(pid); got != "sleep 6001" {
		t.Errorf("from-form runs %q, want the template's command", got)
	}
	d.check()
}
