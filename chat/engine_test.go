package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/chat"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

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

var (
	admin    = berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin}
	operator = berth.Actor{UserID: "usr-op", Username: "op", Role: berth.RoleOperator}
	other    = berth.Actor{UserID: "usr-op2", Username: "op2", Role: berth.RoleOperator}
	viewer   = berth.Actor{UserID: "usr-view", Username: "view", Role: berth.RoleViewer}
)

// world is a real core on a real store with local targets.
type world struct {
	c   *core.Core
	st  *store.Store
	e   *chat.Engine
	clk *clock
}

func newWorld(t testing.TB, targets ...string) *world {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{"local"}
	}
	st := storetest.Open(t, store.SQLite, nil)
	var rts []berth.Runtime
	for _, name := range targets {
		rt, err := local.New(local.Config{Name: name, DataDir: t.TempDir(), ProbeInterval: 50 * time.Millisecond,
			Templates: map[string]local.Template{"default": {Command: []string{"node", "-e",
				"require('net').createServer(s => s.end()).listen(process.env.PORT, '127.0.0.1')"}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		rts = append(rts, rt)
	}
	clk := &clock{now: time.Now().UTC()}
	c, err := core.New(core.Config{Store: st, Runtimes: rts, Now: clk.Now, DefaultTarget: targets[0]})
	if err != nil {
		t.Fatal(err)
	}
	return &world{c: c, st: st, clk: clk, e: chat.New(chat.Config{Backend: c, Confirms: st, Now: clk.Now})}
}

// sleeper is a service whose replicas just wait.
func (w *world) service(t *testing.T, name, target string, replicas int) {
	t.Helper()
	spec := berth.ServiceSpec{Target: target, Command: []string{"sleep", "600"}, Replicas: &replicas}
	if _, _, err := w.c.ApplyService(berth.WithActor(context.Background(), admin), name, spec); err != nil {
		t.Fatal(err)
	}
}

func (w *world) ask(t *testing.T, a berth.Actor, msg, ctx string) api.ChatResponse {
	t.Helper()
	out, err := w.e.Handle(berth.WithActor(context.Background(), a), api.ChatRequest{Message: msg, Context: ctx})
	if err != nil {
		t.Fatalf("%q: %v", msg, err)
	}
	return out.Response
}

func (w *world) confirm(a berth.Actor, token string) (*chat.Outcome, error) {
	return w.e.Handle(berth.WithActor(context.Background(), a), api.ChatRequest{Confirm: token})
}

func (w *world) replicas(t *testing.T, name string) int {
	t.Helper()
	s, err := w.st.GetService(context.Background(), berth.ServiceRef{Target: "local", Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return s.Replicas
}

// TestConfirmStep: a mutation is only proposed; its token does it once,
// for its own user, before it expires; a viewer gets no token.
func TestConfirmStep(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)

	r := w.ask(t, viewer, "restart web", "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "operator role") || r.Intent != "service.restart" {
		t.Fatalf("viewer's restart: %+v", r)
	}

	r = w.ask(t, operator, "Scale WEB to 3", "")
	if r.Confirm == nil || r.Confirm.Summary != "scale web on local from 1 to 3 replicas" {
		t.Fatalf("no confirm step: %+v", r)
	}
	if got := w.replicas(t, "web"); got != 1 {
		t.Fatalf("asking changed replicas to %d", got)
	}
	if d := r.Confirm.ExpiresAt.Sub(w.clk.Now()); d != chat.DefaultConfirmTTL {
		t.Errorf("token lives %s, want %s", d, chat.DefaultConfirmTTL)
	}
	if _, err := w.confirm(other, r.Confirm.Token); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("another user's confirm: %v, want INVALID_REQUEST", err)
	}
	out, err := w.confirm(operator, r.Confirm.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Executed) != 1 || out.Executed[0].Action.Action != "service.scale" || out.Executed[0].Action.Status != "completed" ||
		out.Executed[0].Details["via"] != "chat" || out.Executed[0].Details["replicas"] != 3 {
		t.Fatalf("executed: %+v", out.Executed)
	}
	if got := w.replicas(t, "web"); got != 3 {
		t.Fatalf("replicas after confirm = %d, want 3", got)
	}
	if _, err := w.confirm(operator, r.Confirm.Token); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("second use: %v, want INVALID_REQUEST", err)
	}

	// Expiry, on an injected clock.
	r = w.ask(t, operator, "add 2 replicas to web", "")
	if r.Confirm == nil || !strings.Contains(r.Confirm.Summary, "from 3 to 5") {
		t.Fatalf("relative scale: %+v", r)
	}
	w.clk.Add(chat.DefaultConfirmTTL + time.Second)
	if _, err := w.confirm(operator, r.Confirm.Token); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("expired token: %v, want INVALID_REQUEST", err)
	}
	if got := w.replicas(t, "web"); got != 3 {
		t.Fatalf("an expired token changed replicas to %d", got)
	}
}

// TestRulesAreCore's: the confirm step runs the action through core, so
// core's ownership rule refuses an operator deleting an admin's service
// (the action says failed, the service stays).
func TestRulesAreCores(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	r := w.ask(t, operator, "delete web", "")
	if r.Confirm == nil {
		t.Fatalf("no confirm: %+v", r)
	}
	out, err := w.confirm(operator, r.Confirm.Token)
	if err != nil {
		t.Fatal(err)
	}
	if out.Executed[0].Action.Status != "failed" || !strings.Contains(out.Executed[0].Action.Result, "only its owner") {
		t.Fatalf("operator deleting admin's service: %+v", out.Executed[0].Action)
	}
	if _, err := w.st.GetService(context.Background(), berth.ServiceRef{Target: "local", Name: "web"}); err != nil {
		t.Fatalf("service gone: %v", err)
	}
}

// TestConfirmIsPinned: a confirm does what its summary described, or
// nothing: a change someone made to the service between the question and
// the confirm (a new revision, or a service of that name created) makes
// the action fail, and the service stays as that change left it.
func TestConfirmIsPinned(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	ctx := berth.WithActor(context.Background(), admin)
	for _, ask := range []string{"scale web to 3", "delete web", "restart web"} {
		r := w.ask(t, admin, ask, "")
		if r.Confirm == nil {
			t.Fatalf("%s: no confirm: %+v", ask, r)
		}
		// Someone else's new revision of web, after the summary was made.
		svc, err := w.st.GetService(ctx, berth.ServiceRef{Target: "local", Name: "web"})
		if err != nil {
			t.Fatal(err)
		}
		one := 1
		next := berth.ServiceSpec{Command: []string{"sleep", fmt.Sprint(600 + svc.Revision)}, Replicas: &one}
		if _, _, err := w.c.ApplyService(ctx, "web", next); err != nil {
			t.Fatal(err)
		}
		out, err := w.confirm(admin, r.Confirm.Token)
		if err != nil {
			t.Fatal(err)
		}
		if a := out.Executed[0].Action; a.Status != "failed" || !strings.Contains(a.Result, fmt.Sprintf("is at revision %d", svc.Revision+1)) {
			t.Fatalf("%s confirmed after a new revision: %+v", ask, a)
		}
		if got, err := w.st.GetService(ctx, berth.ServiceRef{Target: "local", Name: "web"}); err != nil || got.Replicas != 1 || got.Revision != svc.Revision+1 {
			t.Fatalf("%s: web is %+v, %v; want revision %d at 1 replica", ask, got, err, svc.Revision+1)
		}
	}

	// Confirmed at the revision shown, it goes ahead.
	r := w.ask(t, admin, "scale web to 2", "")
	if out, err := w.confirm(admin, r.Confirm.Token); err != nil || out.Executed[0].Action.Status != "completed" || w.replicas(t, "web") != 2 {
		t.Fatalf("scale at the revision shown: %+v %v", out, err)
	}

	// "create" proposed, then someone created it: the confirm fails.
	r = w.ask(t, admin, "create a redis service", "")
	r = w.ask(t, admin, "apply it", r.Context)
	if r.Confirm == nil || !strings.HasPrefix(r.Confirm.Summary, "create service redis") {
		t.Fatalf("apply it: %+v", r)
	}
	w.service(t, "redis", "local", 0)
	out, err := w.confirm(admin, r.Confirm.Token)
	if err != nil {
		t.Fatal(err)
	}
	if a := out.Executed[0].Action; a.Status != "failed" || !strings.Contains(a.Result, "already exists") {
		t.Fatalf("create confirmed after someone created it: %+v", a)
	}
}

// TestContext: "restart it" after "how is web doing?" means web; a typo is
// offered on a read and corrected (said so) in a mutation's summary.
func TestContext(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	w.service(t, "api", "local", 1)
	r := w.ask(t, operator, "how is web doing?", "")
	if r.Intent != "service.status" || !strings.Contains(r.Reply, "web on local") || r.Context == "" {
		t.Fatalf("status: %+v", r)
	}
	r = w.ask(t, operator, "restart it", r.Context)
	if r.Confirm == nil || !strings.Contains(r.Confirm.Summary, "replicas of web on local") {
		t.Fatalf("restart it: %+v", r)
	}
	r = w.ask(t, operator, "restart it", "garbage")
	if r.Confirm != nil {
		t.Fatalf("restart it without context proposed %+v", r.Confirm)
	}
	r = w.ask(t, operator, "status of wbe", "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "Did you mean web?") || len(r.Suggestions) != 1 || r.Suggestions[0] != "status of web" {
		t.Fatalf("typo on a read: %+v", r)
	}
	r = w.ask(t, operator, "stop wbe", "")
	if r.Confirm == nil || r.Confirm.Summary != `stop web (you wrote "wbe") on local` {
		t.Fatalf("typo on a mutation: %+v", r)
	}
	r = w.ask(t, operator, "bake me a cake", "")
	if r.Intent != "help" || len(r.Suggestions) == 0 || !strings.Contains(r.Reply, "scale web to 3") {
		t.Fatalf("unknown text: %+v", r)
	}
}

// TestSeveralTargets: a name on two targets asks which; naming the target answers.
func TestSeveralTargets(t *testing.T) {
	w := newWorld(t, "local", "edge")
	w.service(t, "web", "local", 1)
	w.service(t, "web", "edge", 1)
	r := w.ask(t, operator, "scale web to 2", "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "several targets") ||
		strings.Join(r.Suggestions, "|") != "scale web to 2 on edge|scale web to 2 on local" {
		t.Fatalf("ambiguous: %+v", r)
	}
	r = w.ask(t, operator, "scale web to 2 on edge", "")
	if r.Confirm == nil || r.Confirm.Summary != "scale web on edge from 1 to 2 replicas" {
		t.Fatalf("with target: %+v", r)
	}
}

// TestGenerateAndApply: a generated spec is one PUT accepts as is (read as
// JSON, strictly), and "apply it" proposes its creation.
func TestGenerateAndApply(t *testing.T) {
	w := newWorld(t)
	r := w.ask(t, admin, "create a redis service", "")
	if r.Code == nil || r.Code.Language != "yaml" || !strings.Contains(r.Code.Content, "redis-server") {
		t.Fatalf("generate: %+v", r)
	}
	js, err := yaml.YAMLToJSON([]byte(r.Code.Content))
	if err != nil {
		t.Fatal(err)
	}
	var spec berth.ServiceSpec
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("generated YAML is no spec: %v\n%s", err, r.Code.Content)
	}
	if _, _, err := w.c.ApplyService(berth.WithActor(context.Background(), admin), "redis-put", spec); err != nil {
		t.Fatalf("core refused the generated spec: %v", err)
	}

	r2 := w.ask(t, admin, "apply it", r.Context)
	if r2.Confirm == nil || r2.Confirm.Summary != "create service redis on local from the generated spec" {
		t.Fatalf("apply it: %+v", r2)
	}
	out, err := w.confirm(admin, r2.Confirm.Token)
	if err != nil || out.Executed[0].Action.Status != "completed" {
		t.Fatalf("confirm apply: %+v %v", out, err)
	}
	if _, err := w.st.GetService(context.Background(), berth.ServiceRef{Target: "local", Name: "redis"}); err != nil {
		t.Fatalf("applied service missing: %v", err)
	}

	r = w.ask(t, admin, "a postgres 16 with 2Gi", "")
	if r.Code == nil || !strings.Contains(r.Code.Content, "memory: 2Gi") || !strings.Contains(r.Code.Content, "postgresql/16/bin") ||
		!strings.Contains(r.Code.Content, "POSTGRES_PASSWORD: "+chat.Placeholder) {
		t.Fatalf("postgres 16 with 2Gi: %+v", r.Code)
	}
	r = w.ask(t, viewer, "apply it", "")
	if r.Confirm != nil {
		t.Fatalf("viewer got a token: %+v", r)
	}
}

// TestEnvironments: create (with cores) and stop through the confirm step.
func TestEnvironments(t *testing.T) {
	w := newWorld(t)
	r := w.ask(t, operator, "create an environment called demo with 2 cores", "")
	if r.Confirm == nil || r.Confirm.Summary != "create environment demo on local with 2 cores and 4 GB memory" {
		t.Fatalf("create env: %+v", r)
	}
	r = w.ask(t, operator, "create an environment called demo with 9 cores", "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "cpuCores") {
		t.Fatalf("9 cores: %+v", r)
	}
}

// TestServiceCache: the chat's cached list of services never hides a
// service made a moment ago, and a mutation's summary uses the state of
// now, not the cache's.
func TestServiceCache(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	if r := w.ask(t, operator, "what's running", ""); !strings.Contains(r.Reply, "web on local") {
		t.Fatalf("list: %+v", r)
	}
	w.service(t, "fresh", "local", 0) // the cache does not know it yet
	if r := w.ask(t, operator, "status of fresh", ""); !strings.Contains(r.Reply, "fresh on local") {
		t.Fatalf("a new service: %+v", r)
	}
	if _, err := w.c.ScaleService(berth.WithActor(context.Background(), admin), core.ServiceQuery{Name: "web"}, 2); err != nil {
		t.Fatal(err)
	}
	if r := w.ask(t, operator, "add 1 replica to web", ""); r.Confirm == nil || !strings.Contains(r.Confirm.Summary, "from 2 to 3") {
		t.Fatalf("summary from the cache: %+v", r)
	}
}

// TestNoActor: the chat, like every core entry point, refuses a context
// that names no caller.
func TestNoActor(t *testing.T) {
	w := newWorld(t)
	if _, err := w.e.Handle(context.Background(), api.ChatRequest{Message: "what's running"}); err != core.ErrNoActor {
		t.Fatalf("no actor: %v, want core.ErrNoActor", err)
	}
	if _, err := w.e.Handle(berth.WithActor(context.Background(), operator), api.ChatRequest{Message: "x", Confirm: "chc_x"}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("message and confirm: %v", err)
	}
	if _, err := w.e.Handle(berth.WithActor(context.Background(), operator), api.ChatRequest{Message: strings.Repeat("a", chat.MaxMessage+1)}); !berth.IsCode(err, berth.EINVALID) {
		t.Fatalf("long message: %v", err)
	}
}

type usage []core.ServiceUsage

func (u usage) ServiceUsage(context.Context) ([]core.ServiceUsage, error) { return u, nil }

// TestTopAndLists: "which services use the most memory" ranks by the usage
// source; "what's failing" names only the unhealthy; logs answer lines.
func TestTopAndLists(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 0)
	e := chat.New(chat.Config{Backend: w.c, Confirms: w.st, Usage: usage{
		{Target: "local", Name: "small", MemoryBytes: 10 << 20, CPUCores: 0.5},
		{Target: "local", Name: "big", MemoryBytes: 300 << 20, CPUCores: 0.1},
	}})
	out, err := e.Handle(berth.WithActor(context.Background(), viewer), api.ChatRequest{Message: "which services use the most memory?"})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.Response.Reply; !strings.HasPrefix(r, "1. big on local: 300 MiB") || !strings.Contains(r, "2. small on local: 10 MiB") {
		t.Fatalf("top memory: %q", r)
	}
	out, _ = e.Handle(berth.WithActor(context.Background(), viewer), api.ChatRequest{Message: "top cpu"})
	if r := out.Response.Reply; !strings.HasPrefix(r, "1. small") {
		t.Fatalf("top cpu: %q", r)
	}
	if r := w.ask(t, viewer, "what's failing", ""); !strings.Contains(r.Reply, "Nothing is failing") {
		t.Fatalf("failing: %+v", r)
	}
	if r := w.ask(t, viewer, "what's running", ""); !strings.Contains(r.Reply, "web on local: ") || !strings.Contains(r.Reply, "0/0 ready") {
		t.Fatalf("running: %+v", r)
	}
}

// TestRollbackAndEnvironments: a rollback to the previous revision or to
// revision N, and an environment's create, stop and delete, each through
// the confirm step and core.
func TestRollbackAndEnvironments(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 0)
	two := 0
	if _, _, err := w.c.ApplyService(berth.WithActor(context.Background(), admin), "web",
		berth.ServiceSpec{Command: []string{"sleep", "601"}, Replicas: &two}); err != nil {
		t.Fatal(err)
	}
	do := func(a berth.Actor, msg string, wantSummary string) *chat.Outcome {
		t.Helper()
		r := w.ask(t, a, msg, "")
		if r.Confirm == nil || r.Confirm.Summary != wantSummary {
			t.Fatalf("%q: %+v, want summary %q", msg, r, wantSummary)
		}
		out, err := w.confirm(a, r.Confirm.Token)
		if err != nil || out.Executed[0].Action.Status != "completed" {
			t.Fatalf("%q confirmed: %+v %v", msg, out, err)
		}
		return out
	}
	do(operator, "roll back web", "roll web on local back from revision 2 to revision 1 (as a new revision)")
	s, _ := w.st.GetService(context.Background(), berth.ServiceRef{Target: "local", Name: "web"})
	if s.Revision != 3 || s.Spec.Command[1] != "600" {
		t.Fatalf("after rollback: revision %d command %v", s.Revision, s.Spec.Command)
	}
	do(operator, "rollback web to revision 2", "roll web on local back from revision 3 to revision 2 (as a new revision)")
	if r := w.ask(t, operator, "rollback web to revision 9", ""); r.Confirm != nil || !strings.Contains(r.Reply, "no revision 9") {
		t.Fatalf("revision 9: %+v", r)
	}

	out := do(operator, "create an environment called demo with 1 core", "create environment demo on local with 1 core and 4 GB memory")
	envID := out.Executed[0].Resource
	env, err := w.st.GetEnvironment(context.Background(), envID)
	if err != nil || env.Name != "demo" || env.CPUCores != 1 || env.UserID != operator.UserID {
		t.Fatalf("created environment: %+v %v", env, err)
	}
	if r := w.ask(t, other, "stop environment demo", ""); r.Confirm != nil {
		t.Fatalf("another operator sees demo: %+v", r)
	}
	do(operator, "stop env demo", "stop environment demo ("+envID+") on local")
	if env, _ := w.st.GetEnvironment(context.Background(), envID); !env.Stopped {
		t.Fatalf("not stopped: %+v", env)
	}
	do(operator, "delete environment demo", "delete environment demo ("+envID+") on local, with its storage")
	if _, err := w.st.GetEnvironment(context.Background(), envID); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Fatalf("environment after delete: %v", err)
	}
}

// kubeTargets is core with one more target reported: a Kubernetes one, for
// what the chat writes for such a target (nothing runs there).
type kubeTargets struct{ *core.Core }

func (k kubeTargets) Targets() []berth.TargetInfo {
	return append(k.Core.Targets(), berth.TargetInfo{Name: "kube", Provider: berth.ProviderKubernetes, DefaultNamespace: "apps"})
}

// TestGenerateForKubernetes: for a Kubernetes target the answer holds the
// spec (an image, not a command) and after it the equivalent manifests.
func TestGenerateForKubernetes(t *testing.T) {
	w := newWorld(t)
	e := chat.New(chat.Config{Backend: kubeTargets{w.c}, Confirms: w.st})
	out, err := e.Handle(berth.WithActor(context.Background(), operator), api.ChatRequest{Message: "create a postgres 15 on kube with 1Gi"})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Response.Code
	if c == nil || !strings.Contains(c.Content, "image: postgres:15") || !strings.Contains(c.Content, "target: kube") ||
		!strings.Contains(c.Content, "kind: Deployment") || !strings.Contains(c.Content, "kind: Secret") ||
		!strings.Contains(c.Content, "namespace: apps") || strings.Contains(c.Content, "command:") {
		t.Fatalf("kube spec: %+v", out.Response)
	}
	spec, _, _ := strings.Cut(c.Content, "\n---\n")
	js, err := yaml.YAMLToJSON([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	var s berth.ServiceSpec
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || s.Resources.Memory != "1Gi" {
		t.Fatalf("the first document is no spec: %v %+v", err, s)
	}
}
