package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// webSpec is a node web server answering with its replica name, its
// GREETING and the config file it was given.
func webSpec(replicas int, greeting string) map[string]any {
	return map[string]any{
		"command": []string{"node", "-e", `
const fs = require('fs'), http = require('http');
http.createServer((req, res) => {
  console.log(req.method + ' ' + req.url);
  let cfg = '';
  try { cfg = fs.readFileSync(process.env.BERTH_CONFIG_DIR + '/app.conf', 'utf8'); } catch (e) {}
  res.end(process.env.BERTH_REPLICA + ' ' + process.env.GREETING + ' ' + cfg + ' ' + (process.env.DB_PASSWORD ? 'has-secret' : 'no-secret'));
}).listen(process.env.PORT, '127.0.0.1', () => console.log('listening on ' + process.env.PORT));`},
		"replicas":    replicas,
		"env":         map[string]string{"GREETING": greeting},
		"secrets":     map[string]string{"DB_PASSWORD": "e2e-SECRET-db-password"},
		"ports":       []map[string]any{{"name": "http", "port": 8080}},
		"healthCheck": map[string]any{"http": "/", "port": "http"},
		"config":      map[string]any{"files": map[string]string{"app.conf": "mode=one"}},
	}
}

func waitRunning(t *testing.T, b *Berth, name string, ready int) *berth.Service {
	t.Helper()
	var svc *berth.Service
	Eventually(t, 45*time.Second, fmt.Sprintf("%s RUNNING %d/%d", name, ready, ready), func() (bool, string) {
		svc = getJSON[api.ServiceResult](b, "/api/v1/services/"+name).Service
		return svc.Status == berth.ServiceRunning && svc.ReadyReplicas == ready && svc.Replicas == ready,
			fmt.Sprintf("%s %d/%d %s", svc.Status, svc.ReadyReplicas, svc.Replicas, svc.Message)
	})
	return svc
}

// waitReplaced waits until service name runs as many processes as old,
// none of them one of old (a rolling restart replaced them all).
func waitReplaced(t *testing.T, name string, old []int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "all replicas of "+name+" replaced", func() (bool, string) {
		now := processesOf(name)
		if len(now) != len(old) {
			return false, fmt.Sprint(now)
		}
		for _, p := range now {
			if slices.Contains(old, p) {
				return false, fmt.Sprint(now)
			}
		}
		return true, ""
	})
}

func waitProcs(t *testing.T, name string, n int) []int {
	t.Helper()
	var pids []int
	Eventually(t, 30*time.Second, fmt.Sprintf("%d processes of %s", n, name), func() (bool, string) {
		pids = processesOf(name)
		return len(pids) == n, fmt.Sprint(pids)
	})
	sort.Ints(pids)
	return pids
}

// instanceAnswers asks every replica of the service over its own port.
func instanceAnswers(t *testing.T, svc *berth.Service) []string {
	t.Helper()
	var out []string
	for _, in := range svc.Instances {
		out = append(out, get(t, fmt.Sprintf("http://127.0.0.1:%d/", in.Port)))
	}
	sort.Strings(out)
	return out
}

// TestServiceLifecycle drives one service through every operation and checks
// each effect in the process table and over the replicas' own ports.
func TestServiceLifecycle(t *testing.T) {
	b := StartBerth(t, "", "")

	created := mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/web", webSpec(2, "hi"))
	if created.Service.Spec.Secrets["DB_PASSWORD"] != "[redacted]" {
		t.Errorf("secret not redacted in answer: %v", created.Service.Spec.Secrets)
	}
	svc := waitRunning(t, b, "web", 2)
	pids := waitProcs(t, "web", 2)
	answers := instanceAnswers(t, svc)
	if len(answers) != 2 || !strings.HasPrefix(answers[0], "web-0 hi mode=one has-secret") || !strings.HasPrefix(answers[1], "web-1 hi") {
		t.Fatalf("replica answers = %q", answers)
	}

	// Idempotent PUT: same spec, no new revision, no restart.
	same := mustDo[api.ServiceResult](b, 200, "PUT", "/api/v1/services/web", webSpec(2, "hi"))
	if same.Service.Revision != 1 {
		t.Errorf("re-applying the same spec made revision %d", same.Service.Revision)
	}
	if got := waitProcs(t, "web", 2); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Errorf("re-applying the same spec restarted replicas: %v → %v", pids, got)
	}

	// Scale up and down.
	three, two := 3, 2
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/scale", api.ScaleRequest{Replicas: &three})
	waitRunning(t, b, "web", 3)
	waitProcs(t, "web", 3)
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/scale", api.ScaleRequest{Replicas: &two})
	waitRunning(t, b, "web", 2)
	pids = waitProcs(t, "web", 2)

	// Crash a replica from outside: the supervisor brings it back.
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 30*time.Second, "crashed replica restarted", func() (bool, string) {
		svc := getJSON[api.ServiceResult](b, "/api/v1/services/web").Service
		restarts := 0
		for _, in := range svc.Instances {
			restarts += in.Restarts
		}
		return restarts >= 1 && svc.ReadyReplicas == 2, mustJSON(svc.Instances)
	})
	pids = waitProcs(t, "web", 2)

	// Rolling restart: new processes.
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/restart", nil)
	waitReplaced(t, "web", pids, 45*time.Second)
	waitRunning(t, b, "web", 2)

	// Config update → revision 2, replicas read the new file.
	cfg := mustDo[api.ServiceResult](b, 200, "PUT", "/api/v1/services/web/config", api.ConfigUpdate{Files: map[string]string{"app.conf": "mode=two"}})
	if cfg.Service.Revision != 2 {
		t.Fatalf("config update revision = %d", cfg.Service.Revision)
	}
	Eventually(t, 45*time.Second, "replicas on config two", func() (bool, string) {
		svc := waitRunning(t, b, "web", 2)
		a := instanceAnswers(t, svc)
		return len(a) == 2 && strings.Contains(a[0], "mode=two") && strings.Contains(a[1], "mode=two"), fmt.Sprint(a)
	})
	if got := getJSON[api.ServiceConfig](b, "/api/v1/services/web/config"); got.Config.Files["app.conf"] != "mode=two" || got.Revision != 2 {
		t.Errorf("config = %+v", got)
	}

	// Rollback to the previous revision → revision 3 with revision 1's spec.
	rb := mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/rollback", nil)
	if rb.Service.Revision != 3 {
		t.Fatalf("rollback revision = %d", rb.Service.Revision)
	}
	Eventually(t, 45*time.Second, "replicas back on config one", func() (bool, string) {
		svc := waitRunning(t, b, "web", 2)
		a := instanceAnswers(t, svc)
		return len(a) == 2 && strings.Contains(a[0], "mode=one") && strings.Contains(a[1], "mode=one"), fmt.Sprint(a)
	})
	revs := getJSON[api.RevisionList](b, "/api/v1/services/web/revisions")
	if revs.Total != 3 || len(revs.Revisions) != 3 || revs.Revisions[0].Cause != "rollback to 1" {
		t.Errorf("revisions = %s", mustJSON(revs))
	}
	if strings.Contains(mustJSON(revs), "e2e-SECRET-db-password") {
		t.Errorf("revisions show a secret value")
	}

	// Logs: every replica's output, with replica names.
	logs := getJSON[api.ServiceLogs](b, "/api/v1/services/web/logs?tail=50")
	if logs.Service != "web" || len(logs.Lines) == 0 || !strings.Contains(mustJSON(logs.Lines), "listening on") {
		t.Errorf("logs = %+v", logs)
	}

	// Usage from /proc.
	usage := getJSON[api.ServiceMetrics](b, "/api/v1/services/web/metrics")
	if usage.MemoryBytes <= 0 || len(usage.Replicas) != 2 {
		t.Errorf("metrics = %s", mustJSON(usage))
	}

	// Stop: no process left, spec kept; start: back.
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/stop", nil)
	waitProcs(t, "web", 0)
	Eventually(t, 10*time.Second, "STOPPED", func() (bool, string) {
		s := getJSON[api.ServiceResult](b, "/api/v1/services/web").Service.Status
		return s == berth.ServiceStopped, string(s)
	})
	mustDo[api.ServiceResult](b, 200, "POST", "/api/v1/services/web/start", nil)
	waitRunning(t, b, "web", 2)
	waitProcs(t, "web", 2)

	// Delete: processes gone, no zombies left behind by berth.
	del := mustDo[api.Ack](b, 200, "DELETE", "/api/v1/services/web", nil)
	if del.Name != "web" {
		t.Errorf("delete answer = %+v", del)
	}
	waitProcs(t, "web", 0)
	if z := zombies(b.cmd.Process.Pid); len(z) > 0 {
		t.Errorf("zombie children of berth: %v", z)
	}
	code, e := doAs[api.Error](b, b.Token(), "GET", "/api/v1/services/web", nil)
	if code != 404 || e.Error != berth.ENOTFOUND {
		t.Errorf("after delete: %d %+v", code, e)
	}
	assertNoSecret(t, b, "e2e-SECRET-db-password")
}

func assertNoSecret(t *testing.T, b *Berth, secret string) {
	t.Helper()
	if strings.Contains(b.stderr.String()+b.stdout.String(), secret) {
		t.Errorf("server output contains a secret value")
	}
	if strings.Contains(mustJSON(getJSON[api.AuditList](b, "/api/v1/logs?pageSize=200")), secret) {
		t.Errorf("audit log contains a secret value")
	}
}

// TestBadSpecs: each bad spec is INVALID_REQUEST naming the field, and
// nothing is created.
func TestBadSpecs(t *testing.T) {
	b := StartBerth(t, "", "", "BERTH_MAX_REPLICAS=10")
	good := func() map[string]any { return map[string]any{"command": []string{"sleep", "60"}} }
	cases := []struct {
		name, svc, field string
		mutate           func(m map[string]any)
		query            string
	}{
		{"no command", "web", "command", func(m map[string]any) { delete(m, "command") }, ""},
		{"name not DNS-1123", "Web_1", "name", func(map[string]any) {}, ""},
		{"name too long", strings.Repeat("a", 64), "name", func(map[string]any) {}, ""},
		{"negative replicas", "web", "replicas", func(m map[string]any) { m["replicas"] = -1 }, ""},
		{"replicas above maximum", "web", "replicas", func(m map[string]any) { m["replicas"] = 11 }, ""},
		{"unknown target", "web", "target", func(m map[string]any) { m["target"] = "mars" }, ""},
		{"replicas not a number", "web", "replicas", func(m map[string]any) { m["replicas"] = "three" }, ""},
		{"unknown field", "web", "replicaz", func(m map[string]any) { m["replicaz"] = 3 }, ""},
		{"bad memory quantity", "web", "resources.memory", func(m map[string]any) { m["resources"] = map[string]string{"memory": "lots"} }, ""},
		{"health check without port", "web", "healthCheck", func(m map[string]any) { m["healthCheck"] = map[string]any{"http": "/"} }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := good()
			tc.mutate(spec)
			code, e := doAs[api.Error](b, b.Token(), "PUT", "/api/v1/services/"+tc.svc, spec)
			if code != 400 || e.Error != berth.EINVALID || !strings.Contains(e.Message, tc.field) {
				t.Fatalf("got %d %+v, want INVALID_REQUEST naming %s", code, e, tc.field)
			}
			if list := getJSON[api.ServiceList](b, "/api/v1/services"); list.Total != 0 || len(list.Services) != 0 {
				t.Fatalf("a rejected spec created something: %s", mustJSON(list))
			}
		})
	}
	if n := len(processesOf("web")); n != 0 {
		t.Errorf("rejected specs started %d processes", n)
	}
	// Scale out of bounds changes nothing.
	mustDo[api.ServiceResult](b, 201, "PUT", "/api/v1/services/web", good())
	eleven := 11
	code, e := doAs[api.Error](b, b.Token(), "POST", "/api/v1/services/web/scale", api.ScaleRequest{Replicas: &eleven})
	if code != 400 || e.Field != "replicas" || !strings.Contains(e.Message, "replicas") {
		t.Errorf("scale 11: %d %+v", code, e)
	}
	if got := getJSON[api.ServiceResult](b, "/api/v1/services/web").Service.Replicas; got != 1 {
		t.Errorf("replicas after rejected scale = %d", got)
	}
}

// TestRestartBerth: berth killed with SIGKILL and started again brings back
// what should run, and nothing runs twice.
func TestRestartBerth(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			b := StartBerth(t, "", storeKinds(t)[kind]())
			b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(2, "hi"))
			b.MustDo(201, "PUT", "/api/v1/services/idle", map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1})
			b.MustDo(200, "POST", "/api/v1/services/idle/stop", nil)
			env := mustDo[api.EnvironmentEnvelope](b, 201, "POST", "/api/v1/environments", berth.CreateEnvironmentRequest{Name: "dev"})
			envID := env.Environment.ID
			waitRunning(t, b, "web", 2)
			waitProcs(t, "web", 2)
			Eventually(t, 30*time.Second, "env process", func() (bool, string) { return len(processesOfEnv(envID)) == 1, "" })

			b.Kill()
			b.Restart()

			waitRunning(t, b, "web", 2)
			// Exactly two: the old ones did not survive next to the new ones.
			if pids := waitProcs(t, "web", 2); len(pids) != 2 {
				t.Fatalf("pids %v", pids)
			}
			time.Sleep(time.Second)
			if n := len(processesOf("web")); n != 2 {
				t.Errorf("%d web processes after restart, want 2", n)
			}
			if n := len(processesOf("idle")); n != 0 {
				t.Errorf("a stopped service runs after restart (%d processes)", n)
			}
			Eventually(t, 30*time.Second, "environment back", func() (bool, string) {
				env := getJSON[api.EnvironmentEnvelope](b, "/api/v1/environments/"+envID).Environment
				return env.Status == berth.EnvRunning && len(processesOfEnv(envID)) == 1, string(env.Status)
			})
		})
	}
}

// TestGracefulShutdown: SIGTERM stops berth and its processes.
func TestGracefulShutdown(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	waitProcs(t, "web", 1)
	b.Stop()
	waitProcs(t, "web", 0)
	if resp, err := http.Get(b.URL + "/health"); err == nil {
		resp.Body.Close()
		t.Errorf("berth still answers after SIGTERM")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	// Every background goroutine (leader election, sampler, cleanups) is
	// joined before the store closes: none uses it closed.
	logs := b.stderr.String()
	drain, joined, closed := strings.Index(logs, "shutting down"), strings.Index(logs, "background loops stopped"), strings.Index(logs, "store closed")
	if drain < 0 || joined < drain || closed < joined {
		t.Errorf("shutdown order: drain at %d, loops joined at %d, store closed at %d; want in that order:\n%s", drain, joined, closed, logs)
	}
	if strings.Contains(logs, "database is closed") {
		t.Errorf("a goroutine used the closed store:\n%s", logs)
	}
}
