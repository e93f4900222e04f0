package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	"sigs.k8s.io/yaml"
)

// chat posts to /api/v1/chat and decodes the answer into the api type.
func chat(t *testing.T, b *Berth, token string, req api.ChatRequest) (int, api.ChatResponse, map[string]any) {
	t.Helper()
	code, raw := b.DoRaw(token, "POST", "/api/v1/chat", req)
	var r api.ChatResponse
	var m map[string]any
	if code == 200 {
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("chat answer: %v: %s", err, raw)
		}
	}
	_ = json.Unmarshal(raw, &m)
	return code, r, m
}

// TestChatOps: through the real binary, an operator's "scale web to 3" is
// only proposed, and its confirmation makes three processes (process
// table), audited as service.scale via chat; a viewer's "restart web"
// changes nothing; a token works once, and only for its user.
func TestChatOps(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	waitRunning(t, b, "web", 1)
	pids := waitProcs(t, "web", 1)
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "olga", "password": "operator-password-1", "role": "operator"})
	b.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "vera", "password": "viewer-password-1", "role": "viewer"})
	olga, vera := b.Login("olga", "operator-password-1"), b.Login("vera", "viewer-password-1")

	// The viewer may ask, not act.
	code, r, _ := chat(t, b, vera, api.ChatRequest{Message: "restart web"})
	if code != 200 || r.Confirm != nil || r.Intent != "service.restart" || !strings.Contains(r.Reply, "operator role") {
		t.Fatalf("viewer's restart: %d %+v", code, r)
	}
	code, r, _ = chat(t, b, vera, api.ChatRequest{Message: "how is web doing?"})
	if code != 200 || !strings.Contains(r.Reply, "web on local: RUNNING, 1/1 ready") {
		t.Fatalf("viewer's status: %d %+v", code, r)
	}

	code, r, _ = chat(t, b, olga, api.ChatRequest{Message: "please Scale the WEB service to 3 password=hunter2-chat", Context: r.Context})
	if code != 200 || r.Confirm == nil || r.Confirm.Summary != "scale web on local from 1 to 3 replicas" {
		t.Fatalf("operator's scale: %d %+v", code, r)
	}
	if d := time.Until(r.Confirm.ExpiresAt); d < 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Errorf("token expires in %s, want 5 minutes", d)
	}
	token := r.Confirm.Token
	// Nothing happened yet, and the viewer's restart did nothing either.
	if got := waitProcs(t, "web", 1); fmt.Sprint(got) != fmt.Sprint(pids) {
		t.Fatalf("processes changed before the confirmation: %v → %v", pids, got)
	}
	for who, tok := range map[string]string{"viewer": vera, "admin": b.Token()} {
		if code, _, m := chat(t, b, tok, api.ChatRequest{Confirm: token}); code != 400 || str(m, "field") != "confirm" {
			t.Fatalf("%s confirming olga's token: %d %v", who, code, m)
		}
	}
	code, r, _ = chat(t, b, olga, api.ChatRequest{Confirm: token})
	if code != 200 || len(r.Actions) != 1 || r.Actions[0].Action != "service.scale" || r.Actions[0].Status != "completed" ||
		r.Actions[0].Target != "local" || r.Actions[0].Subject != "web" {
		t.Fatalf("confirm: %d %+v", code, r)
	}
	waitProcs(t, "web", 3)
	waitRunning(t, b, "web", 3)
	if code, _, m := chat(t, b, olga, api.ChatRequest{Confirm: token}); code != 400 || str(m, "field") != "confirm" {
		t.Fatalf("second use of a token: %d %v", code, m)
	}

	// The audit log: the action as itself, via chat; the chat as chat.message, redacted.
	m := b.MustDo(200, "GET", "/api/v1/logs?type=scale", nil)
	entries := m["logs"].([]any)
	if len(entries) != 1 {
		t.Fatalf("scale entries: %v", m)
	}
	e := entries[0].(map[string]any)
	if str(e, "action") != "service.scale" || str(e, "user") != "olga" || str(e, "resource") != "web" || str(e, "target") != "local" ||
		str(e, "status") != "completed" || str(e, "details", "via") != "chat" || str(e, "details", "replicas") != "3" {
		t.Errorf("scale entry: %v", e)
	}
	if m := b.MustDo(200, "GET", "/api/v1/logs?type=restart", nil); num(m, "total") != 0 {
		t.Errorf("the viewer's restart was audited as done: %v", m)
	}
	_, raw := b.DoRaw(b.Token(), "GET", "/api/v1/logs?type=message&pageSize=50", nil)
	if strings.Contains(string(raw), "hunter2") || !strings.Contains(string(raw), `please Scale the WEB service to 3 password=[redacted]`) ||
		!strings.Contains(string(raw), `"action":"chat.message"`) {
		t.Errorf("chat.message entries: %s", raw)
	}

	// Unknown text is a 200 with help.
	if code, r, _ := chat(t, b, vera, api.ChatRequest{Message: "sing me a song"}); code != 200 || r.Intent != "help" || len(r.Suggestions) == 0 {
		t.Errorf("unknown text: %d %+v", code, r)
	}
}

// TestChatDiagnose: "why is crashy failing" names the exit status and an
// error line from its logs.
func TestChatDiagnose(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/crashy", map[string]any{"command": []string{"node", "-e",
		`console.log('starting'); console.error('ERROR: cannot connect to database at 10.9.8.7:5432'); process.exit(3)`}})
	Eventually(t, 30*time.Second, "crashy exited with status 3", func() (bool, string) {
		svc := b.MustDo(200, "GET", "/api/v1/services/crashy", nil)
		s := fmt.Sprint(svc)
		return strings.Contains(s, "exit status 3"), s
	})
	code, r, _ := chat(t, b, b.Token(), api.ChatRequest{Message: "why is crashy failing?"})
	if code != 200 || r.Intent != "service.diagnose" || !strings.Contains(r.Reply, "exit status 3") ||
		!strings.Contains(r.Reply, "ERROR: cannot connect to database at 10.9.8.7:5432") {
		t.Fatalf("diagnosis: %d %+v", code, r)
	}
	code, r, _ = chat(t, b, b.Token(), api.ChatRequest{Message: "errors in crashy in the last hour"})
	if code != 200 || r.Intent != "service.errors" || r.Code == nil || !strings.Contains(r.Code.Content, "ERROR: cannot connect") ||
		strings.Contains(r.Code.Content, "starting") {
		t.Fatalf("errors in the last hour: %d %+v", code, r)
	}
}

// TestChatGenerate: "create a redis service" returns YAML that
// PUT /api/v1/services/{name} accepts as is (read as JSON), on the local
// target whose policy lets the admin run commands.
func TestChatGenerate(t *testing.T) {
	b := StartBerth(t, "", "")
	code, r, _ := chat(t, b, b.Token(), api.ChatRequest{Message: "create a redis service"})
	if code != 200 || r.Code == nil || r.Code.Language != "yaml" {
		t.Fatalf("generate: %d %+v", code, r)
	}
	js, err := yaml.YAMLToJSON([]byte(r.Code.Content))
	if err != nil {
		t.Fatalf("YAML: %v\n%s", err, r.Code.Content)
	}
	if code, raw := b.DoRaw(b.Token(), "PUT", "/api/v1/services/redis", string(js)); code != 201 {
		t.Fatalf("PUT of the generated spec: %d %s\n%s", code, raw, r.Code.Content)
	}
	// "apply it" proposes an update of what now exists.
	code, r, _ = chat(t, b, b.Token(), api.ChatRequest{Message: "apply it", Context: r.Context})
	if code != 200 || r.Confirm == nil || r.Confirm.Summary != "update service redis on local from the generated spec" {
		t.Fatalf("apply it: %d %+v", code, r)
	}
}

// TestChatCLI: `berth chat "scale web to 2"` prints the summary and asks
// y/N (no: nothing changes; y: two processes); the REPL keeps the context,
// so "stop it" after "how is web doing?" stops web (--yes).
func TestChatCLI(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	waitRunning(t, b, "web", 1)
	run := func(stdin string, args ...string) string {
		t.Helper()
		cli := exec.Command(berthBin, append([]string{"chat"}, args...)...)
		cli.Env = []string{"HOME=" + t.TempDir(), "BERTH_URL=" + b.URL, "BERTH_TOKEN=" + b.Token()}
		cli.Stdin = strings.NewReader(stdin)
		out, err := cli.CombinedOutput()
		if err != nil {
			t.Fatalf("berth chat %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("n\n", "scale", "web", "to", "2")
	if !strings.Contains(out, "scale web on local from 1 to 2 replicas? [y/N]") || !strings.Contains(out, "Nothing was done.") {
		t.Fatalf("answering no:\n%s", out)
	}
	waitProcs(t, "web", 1)
	out = run("y\n", "scale web to 2")
	if !strings.Contains(out, "Done: web on local scaled to 2 replicas") {
		t.Fatalf("answering yes:\n%s", out)
	}
	waitProcs(t, "web", 2)

	out = run("how is web doing?\nstop it\nexit\n", "--yes")
	if !strings.Contains(out, "web on local:") || !strings.Contains(out, "Done: web on local stopped") {
		t.Fatalf("REPL:\n%s", out)
	}
	waitProcs(t, "web", 0)
}
