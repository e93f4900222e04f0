package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"
)

// LLM places text the grammar cannot, through an OpenAI-compatible
// /v1/chat/completions endpoint with berth's intents as tools. The model
// only picks an intent and its arguments: they are checked like the
// grammar's (known intent, declared arguments, values of their kind) and
// then go through the same roles and confirm step. It never executes
// anything, never sees a secret (the message is redacted first; it is
// given names only, never specs, env or logs) and, with Anonymize, sees
// placeholders instead of berth's real names.
type LLM struct {
	URL       string // the base URL; /v1/chat/completions is added unless it is there
	Model     string
	APIKey    string
	Anonymize bool
	Client    *http.Client // default: 10 s timeout
	Logger    *slog.Logger
}

type llmFunction struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Arguments   string         `json:"arguments,omitempty"`
}

type llmTool struct {
	Type     string      `json:"type"`
	Function llmFunction `json:"function"`
}

type llmMessage struct {
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	ToolCalls []llmTool `json:"tool_calls,omitempty"`
}

type llmRequest struct {
	Model      string       `json:"model"`
	Messages   []llmMessage `json:"messages"`
	Tools      []llmTool    `json:"tools"`
	ToolChoice string       `json:"tool_choice"`
}

type llmResponse struct {
	Choices []struct {
		Message llmMessage `json:"message"`
	} `json:"choices"`
}

// toolName is an intent's name as a function name ([a-zA-Z0-9_-]).
func toolName(intent string) string { return strings.ReplaceAll(intent, ".", "_") }

// tools are the intents the model may pick, with their arguments.
func tools() []llmTool {
	var out []llmTool
	for _, in := range Intents {
		props := map[string]any{}
		var required []string
		for _, a := range in.Args {
			typ := "string"
			if a.Kind == KNumber || a.Kind == KRevision || a.Kind == KCores {
				typ = "integer"
			}
			props[a.Name] = map[string]any{"type": typ, "description": string(a.Kind)}
			if !a.Optional {
				required = append(required, a.Name)
			}
		}
		params := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			params["required"] = required
		}
		out = append(out, llmTool{Type: "function", Function: llmFunction{Name: toolName(in.Name), Description: in.Help, Parameters: params}})
	}
	return out
}

// anonymizer swaps berth's names for placeholders and back.
type anonymizer struct {
	to, from map[string]string
}

func newAnonymizer(names Names) *anonymizer {
	a := &anonymizer{to: map[string]string{}, from: map[string]string{}}
	add := func(prefix string, list []string) {
		for i, n := range list {
			if _, ok := a.to[n]; !ok {
				p := fmt.Sprintf("%s-%d", prefix, i+1)
				a.to[n], a.from[p] = p, n
			}
		}
	}
	add("service", names.Services)
	add("environment", names.Environments)
	add("target", names.Targets)
	return a
}

// hide replaces every known name in s (longest first, whole words).
func (a *anonymizer) hide(s string) string {
	names := make([]string, 0, len(a.to))
	for n := range a.to {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		s = replaceWord(s, n, a.to[n])
	}
	return s
}

func (a *anonymizer) reveal(v string) string {
	if n, ok := a.from[v]; ok {
		return n
	}
	return v
}

// Place asks the model which intent msg is; nil on any error, refusal or
// call that does not check out (the caller then answers the grammar's help).
func (l *LLM) Place(ctx context.Context, msg string, names Names, g *Grammar) *Parsed {
	p, err := l.place(ctx, msg, names, g)
	if err != nil {
		l.logger().Warn("chat: the language model could not place a message", "err", err)
		return nil
	}
	return p
}

func (l *LLM) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

func (l *LLM) place(ctx context.Context, msg string, names Names, g *Grammar) (*Parsed, error) {
	anon := newAnonymizer(names)
	text, shown := Redact(msg), names
	if l.Anonymize {
		text = anon.hide(text)
		shown = Names{}
		for _, n := range names.Services {
			shown.Services = append(shown.Services, anon.to[n])
		}
		for _, n := range names.Environments {
			shown.Environments = append(shown.Environments, anon.to[n])
		}
		for _, n := range names.Targets {
			shown.Targets = append(shown.Targets, anon.to[n])
		}
	}
	sys := "You map a request to exactly one tool call of berth, a control plane for services and development environments. " +
		"Call no tool if none fits. Services: " + list(shown.Services) + ". Environments: " + list(shown.Environments) +
		". Targets: " + list(shown.Targets) + "."
	body, err := json.Marshal(llmRequest{Model: l.Model, Tools: tools(), ToolChoice: "auto",
		Messages: []llmMessage{{Role: "system", Content: sys}, {Role: "user", Content: text}}})
	if err != nil {
		return nil, err
	}
	res, err := l.call(ctx, body)
	if err != nil {
		return nil, err
	}
	if len(res.Choices) == 0 || len(res.Choices[0].Message.ToolCalls) != 1 {
		return nil, fmt.Errorf("want exactly one tool call")
	}
	return l.check(res.Choices[0].Message.ToolCalls[0], names, anon, g)
}

func list(names []string) string {
	if len(names) > 50 {
		names = names[:50]
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (l *LLM) call(ctx context.Context, body []byte) (*llmResponse, error) {
	url := strings.TrimRight(l.URL, "/")
	if !strings.HasSuffix(url, "/chat/completions") {
		url = strings.TrimSuffix(url, "/v1") + "/v1/chat/completions"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	hc := l.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req) // #nosec G704 -- the URL is the admin's BERTH_LLM_URL
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model answered %s", resp.Status)
	}
	var out llmResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("model answer is not JSON: %w", err)
	}
	return &out, nil
}

// check turns a tool call into a Parsed, or refuses it: an intent of the
// table, declared arguments only, each value of its kind.
func (l *LLM) check(tc llmTool, names Names, anon *anonymizer, g *Grammar) (*Parsed, error) {
	var in *Intent
	for i := range Intents {
		if toolName(Intents[i].Name) == tc.Function.Name {
			in = &Intents[i]
		}
	}
	if in == nil {
		return nil, fmt.Errorf("the model called %q, which is no intent", tc.Function.Name)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(tc.Function.Arguments), &raw); err != nil {
		return nil, fmt.Errorf("the model's arguments are not a JSON object: %w", err)
	}
	p := &Parsed{Intent: in, Args: map[string]string{}, Typos: map[string]string{}}
	r := resolver{names: names, images: g.images, memo: map[string]resolved{}}
	declared := map[string]Arg{}
	for _, a := range in.Args {
		declared[a.Name] = a
	}
	for k, v := range raw {
		a, ok := declared[k]
		if !ok {
			return nil, fmt.Errorf("the model gave %s an undeclared argument %q", in.Name, k)
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			if x != float64(int(x)) {
				return nil, fmt.Errorf("argument %s: %v is not a whole number", k, x)
			}
			s = fmt.Sprint(int(x))
		default:
			return nil, fmt.Errorf("argument %s: want a string or a number", k)
		}
		s = strings.ToLower(strings.TrimSpace(s))
		if l.Anonymize {
			s = anon.reveal(s)
		}
		val, err := checkArg(a, s, &r, names)
		if err != nil {
			return nil, err
		}
		p.Args[k] = val
	}
	for _, a := range in.Args {
		if !a.Optional && p.Args[a.Name] == "" {
			return nil, fmt.Errorf("the model left out %s of %s", a.Name, in.Name)
		}
	}
	return p, nil
}

// checkArg checks one value the model gave: of its kind, and for names,
// one berth has exactly (no typo offers for a model).
func checkArg(a Arg, s string, r *resolver, names Names) (string, error) {
	if len(s) > 63 {
		return "", fmt.Errorf("argument %s is too long", a.Name)
	}
	switch a.Kind {
	case KTarget:
		if !contains(names.Targets, s) {
			return "", fmt.Errorf("argument %s: %q is no target", a.Name, s)
		}
		return s, nil
	case KSince:
		return "", fmt.Errorf("argument %s is not taken from a model", a.Name)
	case KCores:
		if n, ok := number(s); ok {
			return fmt.Sprint(n), nil
		}
		return "", fmt.Errorf("argument %s: %q is not a number", a.Name, s)
	case KMemory:
		if m := memoryRE.FindStringSubmatch(s); m != nil && m[0] == s {
			return memoryQuantity(m[2], m[3]), nil
		}
		return "", fmt.Errorf("argument %s: %q is not a memory size", a.Name, s)
	case KVersion:
		if isLabel(strings.ReplaceAll(s, ".", "-")) {
			return s, nil
		}
		return "", fmt.Errorf("argument %s: %q is not a version", a.Name, s)
	}
	val, q, ok := r.resolve(a.Kind, s)
	if !ok || ((a.Kind == KService || a.Kind == KEnv) && q != qExact) || (a.Kind == KImage && q != qExact) {
		return "", fmt.Errorf("argument %s: %q is not a %s berth knows", a.Name, s, a.Kind)
	}
	return val, nil
}
