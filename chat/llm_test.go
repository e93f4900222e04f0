package chat_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/chat"
)

// fakeModel speaks the OpenAI chat-completions tool-call format (no model
// runs in berth's tests): it answers what reply returns and keeps every
// request it got.
type fakeModel struct {
	mu    sync.Mutex
	reqs  []string
	reply func(req map[string]any) (int, string)
}

func (f *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
	f.mu.Unlock()
	var req map[string]any
	_ = json.Unmarshal(b, &req)
	code, body := f.reply(req)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func toolCall(name, args string) string {
	b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]any{
		"role": "assistant", "content": "",
		"tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
			"function": map[string]any{"name": name, "arguments": args}}}}}}})
	return string(b)
}

// TestLLM: text the grammar cannot place goes to the model with berth's
// intents as tools; what it picks goes through the same checks, roles and
// confirm step; malformed and hostile calls, errors and timeouts fall back
// to the grammar's help; the model sees no secret, and with anonymize no
// real name.
func TestLLM(t *testing.T) {
	const msg = "the web frontend feels sluggish, give it more muscle; my password=hunter2-SECRET"
	tests := []struct {
		name       string
		anonymize  bool
		status     int
		body       string
		delay      time.Duration
		wantIntent string
		wantSum    string
	}{
		{name: "a good call", status: 200, body: toolCall("service_scale", `{"service":"web","n":4}`),
			wantIntent: "service.scale", wantSum: "scale web on local from 1 to 4 replicas"},
		{name: "anonymized names map back", anonymize: true, status: 200, body: toolCall("service_restart", `{"service":"service-1"}`),
			wantIntent: "service.restart", wantSum: "restart the 1 replicas of web on local, one at a time"},
		{name: "arguments not JSON", status: 200, body: toolCall("service_scale", `{"service":"web",`), wantIntent: "help"},
		{name: "no such intent", status: 200, body: toolCall("exec_shell", `{"cmd":"rm -rf /"}`), wantIntent: "help"},
		{name: "undeclared argument", status: 200, body: toolCall("service_scale", `{"service":"web","n":2,"role":"admin"}`), wantIntent: "help"},
		{name: "a name berth does not have", status: 200, body: toolCall("service_delete", `{"service":"web; DROP TABLE services"}`), wantIntent: "help"},
		{name: "a typo is no name", status: 200, body: toolCall("service_delete", `{"service":"wbe"}`), wantIntent: "help"},
		{name: "missing argument", status: 200, body: toolCall("service_scale", `{"service":"web"}`), wantIntent: "help"},
		{name: "a fraction", status: 200, body: toolCall("service_scale", `{"service":"web","n":2.5}`), wantIntent: "help"},
		{name: "an object for a name", status: 200, body: toolCall("service_stop", `{"service":{"$ne":""}}`), wantIntent: "help"},
		{name: "two calls", status: 200, body: strings.Replace(toolCall("service_stop", `{"service":"web"}`), `}]}}]`,
			`},{"id":"c2","type":"function","function":{"name":"service_delete","arguments":"{\"service\":\"web\"}"}}]}}]`, 1), wantIntent: "help"},
		{name: "no tool call", status: 200, body: `{"choices":[{"message":{"role":"assistant","content":"I scaled it for you!"}}]}`, wantIntent: "help"},
		{name: "not JSON", status: 200, body: `<html>`, wantIntent: "help"},
		{name: "server error", status: 500, body: `{"error":"boom"}`, wantIntent: "help"},
		{name: "timeout", status: 200, delay: 1500 * time.Millisecond, body: toolCall("service_stop", `{"service":"web"}`), wantIntent: "help"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fm := &fakeModel{reply: func(map[string]any) (int, string) {
				time.Sleep(tc.delay)
				return tc.status, tc.body
			}}
			srv := httptest.NewServer(fm)
			defer srv.Close()
			w := newWorld(t)
			w.service(t, "web", "local", 1)
			llm := &chat.LLM{URL: srv.URL, Model: "m", APIKey: "sk-test-key", Anonymize: tc.anonymize,
				Client: &http.Client{Timeout: time.Second}}
			e := chat.New(chat.Config{Backend: w.c, Confirms: w.st, Now: w.clk.Now, LLM: llm})
			out, err := e.Handle(berth.WithActor(context.Background(), operator), api.ChatRequest{Message: msg})
			if err != nil {
				t.Fatal(err)
			}
			r := out.Response
			if r.Intent != tc.wantIntent {
				t.Fatalf("intent %s (%s), want %s", r.Intent, r.Reply, tc.wantIntent)
			}
			if tc.wantSum != "" && (r.Confirm == nil || r.Confirm.Summary != tc.wantSum) {
				t.Fatalf("confirm %+v, want summary %q", r.Confirm, tc.wantSum)
			}
			if tc.wantSum == "" && r.Confirm != nil {
				t.Fatalf("a refused call proposed %+v", r.Confirm)
			}
			if got := w.replicas(t, "web"); got != 1 {
				t.Fatalf("the model's call changed replicas to %d", got)
			}
			fm.mu.Lock()
			defer fm.mu.Unlock()
			if len(fm.reqs) != 1 {
				t.Fatalf("%d requests to the model", len(fm.reqs))
			}
			req := fm.reqs[0]
			if !strings.HasPrefix(req, "/v1/chat/completions Bearer sk-test-key ") || !strings.Contains(req, `"tools"`) ||
				!strings.Contains(req, `"service_scale"`) {
				t.Errorf("request: %.300s", req)
			}
			if strings.Contains(req, "hunter2") {
				t.Errorf("the model saw a secret: %s", req)
			}
			var sent struct {
				Messages []struct{ Content string } `json:"messages"`
			}
			if err := json.Unmarshal([]byte(req[strings.Index(req, "{"):]), &sent); err != nil || len(sent.Messages) != 2 {
				t.Fatalf("request body: %v", err)
			}
			for _, m := range sent.Messages {
				if tc.anonymize && strings.Contains(m.Content, "web") {
					t.Errorf("anonymized request names web: %s", m.Content)
				}
				if !tc.anonymize && !strings.Contains(m.Content, "web") {
					t.Errorf("request without anonymize lost the name: %s", m.Content)
				}
			}
		})
	}
}

// TestLLMViewer: what the model picks is still refused to a viewer.
func TestLLMViewer(t *testing.T) {
	srv := httptest.NewServer(&fakeModel{reply: func(map[string]any) (int, string) {
		return 200, toolCall("service_delete", `{"service":"web"}`)
	}})
	defer srv.Close()
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	e := chat.New(chat.Config{Backend: w.c, Confirms: w.st, LLM: &chat.LLM{URL: srv.URL + "/v1"}})
	out, err := e.Handle(berth.WithActor(context.Background(), viewer), api.ChatRequest{Message: "get rid of the frontend thing"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Response.Intent != "service.delete" || out.Response.Confirm != nil || !strings.Contains(out.Response.Reply, "operator role") {
		t.Fatalf("viewer via model: %+v", out.Response)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"set password=hunter2 on web":                 "set password=[redacted] on web",
		"my token is abc.def":                         "my token is [redacted]",
		"use brt_k1_s3cr3tvalue please":               "use [redacted] please",
		"db postgres://app:pa55@db:5432/app":          "db postgres://app:[redacted]@db:5432/app",
		"API_KEY: 'x y'":                              "API_KEY: [redacted]",
		"scale web to 3":                              "scale web to 3",
		"key sk-abcdefghijklmnopqrstuvwxyz0123456789": "key [redacted]",
	} {
		if got := chat.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
