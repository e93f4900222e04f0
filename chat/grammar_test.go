package chat

import (
	"maps"
	"strings"
	"testing"
)

var testNames = Names{
	Services:     []string{"web", "api", "crashy", "payments", "worker", "redis-cache", "api-5g"},
	Environments: []string{"demo", "env-abc123", "scratch", "env-def456"},
	Targets:      []string{"local", "kube"},
}

// TestPhrasings is the grammar's table: each phrasing → intent and
// arguments, with typos in names (corrected, and reported as typos), mixed
// case and extra words.
func TestPhrasings(t *testing.T) {
	type args = map[string]string
	tests := []struct {
		msg    string
		intent string
		args   args
		typo   string // the word written for a corrected name
	}{
		// status and lists
		{"what's running", "services.list", args{}, ""},
		{"What is running on kube?", "services.list", args{"target": "kube"}, ""},
		{"list services", "services.list", args{}, ""},
		{"show me all the services please", "services.list", args{}, ""},
		{"what's failing", "services.failing", args{}, ""},
		{"Is anything broken right now?", "services.failing", args{}, ""},
		{"which services use the most memory", "services.top", args{}, ""},
		{"top cpu", "services.top", args{}, ""},
		{"show environments", "environments.list", args{}, ""},
		{"list my envs", "environments.list", args{}, ""},
		{"list targets", "targets.list", args{}, ""},
		{"what changed recently?", "audit.list", args{}, ""},
		{"help", "help", args{}, ""},
		{"what can you do?", "help", args{}, ""},
		{"status of web", "service.status", args{"service": "web"}, ""},
		{"STATUS OF WEB", "service.status", args{"service": "web"}, ""},
		{"how is web doing?", "service.status", args{"service": "web"}, ""},
		{"how's the api service doing today", "service.status", args{"service": "api"}, ""},
		{"is payments up?", "service.status", args{"service": "payments"}, ""},
		{"status of wbe", "service.status", args{"service": "web"}, "wbe"},
		{"status of web on kube", "service.status", args{"service": "web", "target": "kube"}, ""},
		// diagnosis
		{"why is api failing", "service.diagnose", args{"service": "api"}, ""},
		{"Why is API slow?", "service.diagnose", args{"service": "api"}, ""},
		{"why is crashy failing?", "service.diagnose", args{"service": "crashy"}, ""},
		{"what's wrong with payments", "service.diagnose", args{"service": "payments"}, ""},
		{"why is crashyy failing", "service.diagnose", args{"service": "crashy"}, "crashyy"},
		{"please diagnose the worker service", "service.diagnose", args{"service": "worker"}, ""},
		// logs
		{"logs of web", "service.logs", args{"service": "web"}, ""},
		{"show logs for redis-cache", "service.logs", args{"service": "redis-cache"}, ""},
		{"tail worker", "service.logs", args{"service": "worker"}, ""},
		{"errors in web in the last hour", "service.errors", args{"service": "web"}, ""},
		{"Errors from api over the past 30 minutes", "service.errors", args{"service": "api"}, ""},
		{"revisions of web", "service.revisions", args{"service": "web"}, ""},
		// scale
		{"scale web to 3", "service.scale", args{"service": "web", "n": "3"}, ""},
		{"Scale WEB to 3", "service.scale", args{"service": "web", "n": "3"}, ""},
		{"please scale the web service to 5 replicas now", "service.scale", args{"service": "web", "n": "5"}, ""},
		{"scale web to three", "service.scale", args{"service": "web", "n": "3"}, ""},
		{"scale wbe to 3", "service.scale", args{"service": "web", "n": "3"}, "wbe"},
		{"set api replicas to 0", "service.scale", args{"service": "api", "n": "0"}, ""},
		{"scale web on kube to 2", "service.scale", args{"service": "web", "n": "2", "target": "kube"}, ""},
		{"add 2 replicas to web", "service.scale-up", args{"service": "web", "n": "2"}, ""},
		{"Add two more replicas to api", "service.scale-up", args{"service": "api", "n": "2"}, ""},
		{"scale up worker by 1", "service.scale-up", args{"service": "worker", "n": "1"}, ""},
		{"remove 1 replica from web", "service.scale-down", args{"service": "web", "n": "1"}, ""},
		{"scale payments down by 2", "service.scale-down", args{"service": "payments", "n": "2"}, ""},
		// lifecycle
		{"restart web", "service.restart", args{"service": "web"}, ""},
		{"Restart the API service please", "service.restart", args{"service": "api"}, ""},
		{"bounce worker", "service.restart", args{"service": "worker"}, ""},
		{"restart paymnets", "service.restart", args{"service": "payments"}, "paymnets"},
		{"stop web", "service.stop", args{"service": "web"}, ""},
		{"shut down the worker", "service.stop", args{"service": "worker"}, ""},
		{"start web", "service.start", args{"service": "web"}, ""},
		{"bring api back up", "service.start", args{"service": "api"}, ""},
		{"rollback web", "service.rollback", args{"service": "web"}, ""},
		{"roll back api to revision 4", "service.rollback", args{"service": "api", "revision": "4"}, ""},
		{"Revert WEB to revision 2 please", "service.rollback", args{"service": "web", "revision": "2"}, ""},
		{"undo web", "service.rollback", args{"service": "web"}, ""},
		{"delete web", "service.delete", args{"service": "web"}, ""},
		{"remove the payments service", "service.delete", args{"service": "payments"}, ""},
		// environments
		{"create an environment called demo2 with 2 cores", "environment.create", args{"name": "demo2", "cores": "2"}, ""},
		{"Create a new environment named lab with 4 cores and 8 GB of memory", "environment.create", args{"name": "lab", "cores": "4", "memory": "8Gi"}, ""},
		{"create env sandbox on kube", "environment.create", args{"name": "sandbox", "target": "kube"}, ""},
		{"start environment demo", "environment.start", args{"env": "demo"}, ""},
		{"start scratch", "environment.start", args{"env": "scratch"}, ""},
		{"stop env demo", "environment.stop", args{"env": "demo"}, ""},
		{"stop the demo environment", "environment.stop", args{"env": "demo"}, ""},
		{"stop environment dmeo", "environment.stop", args{"env": "demo"}, "dmeo"},
		{"delete environment env-abc123", "environment.delete", args{"env": "env-abc123"}, ""},
		{"status of environment demo", "environment.status", args{"env": "demo"}, ""},
		// generation
		{"create a redis service", "service.generate", args{"image": "redis"}, ""},
		{"Create a Redis cluster", "service.generate", args{"image": "redis"}, ""},
		{"a postgres 16 with 2Gi", "service.generate", args{"image": "postgres", "memory": "2Gi"}, ""},
		{"I need a postgresql database", "service.generate", args{"image": "postgres"}, ""},
		{"generate mysql on kube", "service.generate", args{"image": "mysql", "target": "kube"}, ""},
		{"give me a mongo", "service.generate", args{"image": "mongodb"}, ""},
		{"deploy rabbitmq with 1gb", "service.generate", args{"image": "rabbitmq", "memory": "1Gi"}, ""},
		{"nginx please", "service.generate", args{"image": "nginx"}, ""},
		{"create memcahced", "service.generate", args{"image": "memcached"}, "memcahced"},
		{"status of api-5g", "service.status", args{"service": "api-5g"}, ""},
		{"apply it", "service.apply", args{}, ""},
		{"OK, apply it!", "service.apply", args{}, ""},
		// recommendations
		{"apply recommendation rec-1a2b3c", "recommendation.apply", args{"rec": "rec-1a2b3c"}, ""},
		{"Apply REC-1A2B3C please", "recommendation.apply", args{"rec": "rec-1a2b3c"}, ""},
		{"apply the rightsize of web", "recommendation.apply", args{"kind": "rightsize", "service": "web"}, ""},
		{"apply the scale recommendation for api", "recommendation.apply", args{"kind": "scale", "service": "api"}, ""},
		{"accept the rightsizing of wbe", "recommendation.apply", args{"kind": "rightsize", "service": "web"}, "wbe"},
		{"apply the recommendation for payments", "recommendation.apply", args{"service": "payments"}, ""},
		{"reject recommendation rec-9f8e because too risky", "recommendation.reject", args{"rec": "rec-9f8e"}, ""},
		{"Reject the rollback of crashy because we fixed it", "recommendation.reject", args{"kind": "rollback", "service": "crashy"}, ""},
		{"dismiss rec-77 since it is wrong", "recommendation.reject", args{"rec": "rec-77"}, ""},
		{"reject the recommendation for worker", "recommendation.reject", args{"service": "worker"}, ""},
	}
	g := NewGrammar()
	if len(tests) < 60 {
		t.Fatalf("only %d phrasings: the table must hold at least 60", len(tests))
	}
	for _, tc := range tests {
		p := g.Parse(tc.msg, testNames)
		if p == nil {
			t.Errorf("%q: no intent, want %s", tc.msg, tc.intent)
			continue
		}
		if p.Intent.Name != tc.intent {
			t.Errorf("%q: intent %s %v, want %s", tc.msg, p.Intent.Name, p.Args, tc.intent)
			continue
		}
		if !maps.Equal(p.Args, tc.args) {
			t.Errorf("%q: args %v, want %v", tc.msg, p.Args, tc.args)
		}
		var typo string
		for _, w := range p.Typos {
			typo = w
		}
		if typo != tc.typo {
			t.Errorf("%q: typo %q, want %q", tc.msg, typo, tc.typo)
		}
	}
}

// TestNoIntent: text that means nothing to berth finds no intent (the
// engine then answers its help).
func TestNoIntent(t *testing.T) {
	g := NewGrammar()
	for _, msg := range []string{"", "hello there", "the weather is nice", "42", "???", strings.Repeat("blah ", 500)} {
		if p := g.Parse(msg, testNames); p != nil {
			t.Errorf("%q: got intent %s %v, want none", msg, p.Intent.Name, p.Args)
		}
	}
}

// TestPronoun: "it" is the subject of the conversation.
func TestPronoun(t *testing.T) {
	names := testNames
	names.Subject = "web"
	p := NewGrammar().Parse("restart it", names)
	if p == nil || p.Intent.Name != "service.restart" || p.Args["service"] != "web" {
		t.Fatalf("restart it → %+v, want service.restart of web", p)
	}
}

// TestEveryIntentHasAHandler: the table and the handlers agree, and every
// intent has a help line and phrases; mutating intents name their audit
// action and need at least operator.
func TestEveryIntentHasAHandler(t *testing.T) {
	for _, in := range Intents {
		if handlers[in.Name] == nil {
			t.Errorf("intent %s has no handler", in.Name)
		}
		if in.Help == "" || len(in.Phrases) == 0 || in.Call == "" {
			t.Errorf("intent %s lacks help, phrases or call", in.Name)
		}
		if in.Mutating && (in.Action == "" || in.Role == "viewer") {
			t.Errorf("mutating intent %s: action %q, role %s", in.Name, in.Action, in.Role)
		}
	}
	for name := range handlers {
		if intentByName(name) == nil {
			t.Errorf("handler %s has no intent", name)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"web", "api", "payments", "worker", "webs"}
	for w, want := range map[string]string{"wbe": "web", "paymnets": "payments", "wroker": "worker", "xyz": "", "we": "", "apo": "api"} {
		if got := closest(w, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", w, got, want)
		}
	}
}
