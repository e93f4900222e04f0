package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

// Backend is the part of core the chat calls, always as the caller: the
// same methods (and so the same rules) as the REST routes. *core.Core
// satisfies it.
type Backend interface {
	Targets() []berth.TargetInfo
	ListServices(ctx context.Context, target string, offset, limit int) (*core.ServiceList, error)
	GetService(ctx context.Context, q core.ServiceQuery) (*berth.Service, error)
	ApplyServiceIf(ctx context.Context, name string, spec berth.ServiceSpec, cond core.ApplyCondition) (*berth.Service, bool, error)
	ScaleService(ctx context.Context, q core.ServiceQuery, replicas int) (*berth.Service, error)
	RestartService(ctx context.Context, q core.ServiceQuery) (*berth.Service, error)
	StopService(ctx context.Context, q core.ServiceQuery) (*berth.Service, error)
	StartService(ctx context.Context, q core.ServiceQuery) (*berth.Service, error)
	RollbackService(ctx context.Context, q core.ServiceQuery, revision int) (*berth.Service, error)
	DeleteService(ctx context.Context, q core.ServiceQuery) (*berth.Service, error)
	ListRevisions(ctx context.Context, q core.ServiceQuery) ([]*berth.Revision, error)
	ServiceLogs(ctx context.Context, q core.ServiceQuery, opts berth.LogOptions, fn func(berth.LogLine) error) (*berth.Service, error)
	ListEnvironments(ctx context.Context, userID string, offset, limit int) ([]*berth.Environment, int, error)
	CreateEnvironment(ctx context.Context, req berth.CreateEnvironmentRequest) (*berth.Environment, error)
	StartEnvironment(ctx context.Context, id string) (*berth.Environment, error)
	StopEnvironment(ctx context.Context, id string) (*berth.Environment, error)
	DeleteEnvironment(ctx context.Context, id string, keepVolume bool) (*berth.Environment, error)
	ListAudit(ctx context.Context, f berth.AuditFilter) ([]*berth.AuditEntry, int, error)
	ListRecommendations(ctx context.Context, f berth.RecommendationFilter) ([]*berth.Recommendation, int, error)
	GetRecommendation(ctx context.Context, id string) (*berth.Recommendation, error)
	ApplyRecommendation(ctx context.Context, id string, opts core.ApplyOptions) (*berth.Recommendation, error)
	RejectRecommendation(ctx context.Context, id, reason string) (*berth.Recommendation, error)
	Predictions(ctx context.Context, q core.PredictionQuery) ([]berth.Prediction, error)
}

var _ Backend = (*core.Core)(nil)

// Config wires an Engine.
type Config struct {
	Backend  Backend
	Confirms berth.ChatConfirmStore
	// Usage ranks services by consumption ("which services use the most
	// memory"); nil: the chat says it has no measurements.
	Usage core.UsageSource
	// ConfirmTTL is how long a confirm token lives (default 5 minutes).
	ConfirmTTL time.Duration
	// LLM places text the grammar cannot (nil: off).
	LLM    *LLM
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfirmTTL is how long a confirm token lives.
const DefaultConfirmTTL = 5 * time.Minute

// Engine answers chat messages.
type Engine struct {
	cfg     Config
	grammar *Grammar

	// The list of services (shared by every caller) is kept for
	// ServiceCacheTTL: listing 1,000 services is most of an answer's cost.
	// A name the cached list lacks but berth has reloads it before the
	// answer, and an executed action drops it.
	mu        sync.Mutex
	services  []*berth.Service
	listedAt  time.Time
	reloading bool
}

// ServiceCacheTTL is how long the chat reuses its list of services.
const ServiceCacheTTL = 2 * time.Second

// serviceList answers the services: fresh when asked or when there is no
// list yet; else the cached list, reloaded in the background once it is
// older than ServiceCacheTTL (so no answer waits for the reload). cached
// reports whether the list came from the cache.
func (e *Engine) serviceList(ctx context.Context, fresh bool) (svcs []*berth.Service, cached bool, err error) {
	now := e.cfg.Now()
	e.mu.Lock()
	if !fresh && e.services != nil {
		svcs = e.services
		stale := now.Sub(e.listedAt) >= ServiceCacheTTL || now.Before(e.listedAt)
		if stale && !e.reloading {
			e.reloading = true
			go e.reload(context.WithoutCancel(ctx))
		}
		e.mu.Unlock()
		return svcs, true, nil
	}
	e.mu.Unlock()
	list, err := e.cfg.Backend.ListServices(ctx, "", 0, 0)
	if err != nil {
		return nil, false, fmt.Errorf("chat: list services: %w", err)
	}
	e.mu.Lock()
	e.services, e.listedAt = list.Services, now
	e.mu.Unlock()
	return list.Services, false, nil
}

// reload refreshes the cached list (as the caller whose answer found it stale).
func (e *Engine) reload(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := e.cfg.Backend.ListServices(ctx, "", 0, 0)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reloading = false
	if err != nil {
		e.cfg.Logger.Warn("chat: reload the list of services", "err", err)
		return
	}
	e.services, e.listedAt = list.Services, e.cfg.Now()
}

func (e *Engine) dropServices() {
	e.mu.Lock()
	e.services = nil
	e.mu.Unlock()
}

// New returns an Engine.
func New(cfg Config) *Engine {
	if cfg.ConfirmTTL <= 0 {
		cfg.ConfirmTTL = DefaultConfirmTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, grammar: NewGrammar()}
}

// Executed is an action the chat did, for the audit log: written as its
// own action ("service.scale") with via: chat.
type Executed struct {
	Action   api.ChatAction
	Resource string // "web", an environment's id
	Type     string // "service", "environment"
	Details  map[string]any
	Duration time.Duration
}

// Outcome is the answer to one request and what it did.
type Outcome struct {
	Response api.ChatResponse
	Executed []Executed
	// Message is the request's text with secrets redacted (for chat.message).
	Message string
}

// MaxMessage bounds a message (characters).
const MaxMessage = 2000

// Handle answers one request: a message, or the confirmation of an earlier answer.
func (e *Engine) Handle(ctx context.Context, req api.ChatRequest) (*Outcome, error) {
	a, ok := berth.ActorFrom(ctx)
	if !ok || a.UserID == "" {
		return nil, core.ErrNoActor
	}
	if req.Confirm != "" {
		if strings.TrimSpace(req.Message) != "" {
			return nil, berth.Invalid("confirm", "send either a message or a confirm token, not both")
		}
		return e.confirm(ctx, a, req.Confirm)
	}
	msg := strings.TrimSpace(req.Message)
	if len(msg) > MaxMessage {
		return nil, berth.Invalid("message", "is longer than %d characters", MaxMessage)
	}
	t, err := e.newTurn(ctx, a, msg, req.Context)
	if err != nil {
		return nil, err
	}
	if msg == "" {
		t.help("Ask me about your services and environments, or tell me what to do.")
		return t.outcome(), nil
	}
	p := e.grammar.Parse(msg, t.names)
	if t.cached && p != nil && t.newName(p) {
		// A service the cached list does not know yet: ask again, fresh.
		if err := t.loadServices(true); err != nil {
			return nil, err
		}
		p = e.grammar.Parse(msg, t.names)
	}
	if p == nil && e.cfg.LLM != nil {
		p = e.cfg.LLM.Place(ctx, msg, t.names, e.grammar)
	}
	if p == nil {
		t.help("I did not understand that.")
		t.suggestNames(msg)
		return t.outcome(), nil
	}
	if err := t.run(p); err != nil {
		return nil, err
	}
	return t.outcome(), nil
}

// turn is one message being answered.
type turn struct {
	e      *Engine
	ctx    context.Context
	actor  berth.Actor
	msg    string
	conv   convo
	names  Names
	svcs   []*berth.Service
	envs   []*berth.Environment
	resp   api.ChatResponse
	parsed *Parsed
	cached bool // the services came from the engine's cache
}

func (e *Engine) newTurn(ctx context.Context, a berth.Actor, msg, context string) (*turn, error) {
	t := &turn{e: e, ctx: ctx, actor: a, msg: msg, conv: decodeConvo(context)}
	if err := t.loadServices(false); err != nil {
		return nil, err
	}
	envs, _, err := e.cfg.Backend.ListEnvironments(ctx, "", 0, 0)
	if err != nil {
		return nil, fmt.Errorf("chat: list environments: %w", err)
	}
	t.envs = envs
	for _, en := range envs {
		t.names.Environments = append(t.names.Environments, strings.ToLower(en.Name), strings.ToLower(en.ID))
	}
	for _, ti := range e.cfg.Backend.Targets() {
		t.names.Targets = append(t.names.Targets, strings.ToLower(ti.Name))
	}
	t.names.Subject = t.conv.Name
	return t, nil
}

// newName says whether a service name p took for unknown or a typo is one
// berth has now (one lookup by name, not a list).
func (t *turn) newName(p *Parsed) bool {
	if !p.unsure() {
		return false
	}
	word := p.Args["service"]
	if w, ok := p.Typos["service"]; ok {
		word = w
	}
	if word == "" || pronouns[word] {
		return false
	}
	_, err := t.e.cfg.Backend.GetService(t.ctx, core.ServiceQuery{Name: word})
	return !berth.IsCode(err, berth.ENOTFOUND)
}

// loadServices fills the services and their names.
func (t *turn) loadServices(fresh bool) error {
	svcs, cached, err := t.e.serviceList(t.ctx, fresh)
	if err != nil {
		return err
	}
	t.svcs, t.cached, t.names.Services = svcs, cached, nil
	seen := map[string]bool{}
	for _, s := range svcs {
		if n := strings.ToLower(s.Name); !seen[n] {
			seen[n] = true
			t.names.Services = append(t.names.Services, n)
		}
	}
	return nil
}

func (t *turn) outcome() *Outcome {
	r := t.resp
	if r.Actions == nil {
		r.Actions = []api.ChatAction{}
	}
	if r.Suggestions == nil {
		r.Suggestions = []string{}
	}
	r.Context = t.conv.encode()
	return &Outcome{Response: r, Message: Redact(t.msg)}
}

func (t *turn) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if t.resp.Reply == "" {
		t.resp.Reply = line
		return
	}
	t.resp.Reply += "\n" + line
}

// help answers what berth understands, from the intent table.
func (t *turn) help(lead string) {
	t.resp.Intent = "help"
	t.say("%s Here is what I understand:", lead)
	for _, in := range Intents {
		if in.Name != "help" {
			t.say("  • %s", in.Help)
		}
	}
	t.resp.Suggestions = []string{"what's running", "what's failing", "show environments", "create a redis service"}
}

// suggestNames offers the services whose names are close to a word of msg.
func (t *turn) suggestNames(msg string) {
	toks, _, _ := tokens(msg)
	for _, w := range toks {
		if c := closest(w, t.names.Services); c != "" {
			t.resp.Suggestions = append([]string{"status of " + c}, t.resp.Suggestions...)
		}
	}
}

// run answers a parsed message.
func (t *turn) run(p *Parsed) error {
	t.parsed = p
	t.resp.Intent = p.Intent.Name
	h, ok := handlers[p.Intent.Name]
	if !ok {
		return fmt.Errorf("chat: intent %s has no handler", p.Intent.Name)
	}
	if p.Intent.Mutating && !t.actor.Role.AtLeast(p.Intent.Role) {
		t.say("You are %s: %s needs the %s role, as its REST route does. Nothing was changed.",
			article(string(t.actor.Role)), p.Intent.Action, p.Intent.Role)
		t.resp.Suggestions = []string{"what's running"}
		return nil
	}
	return h(t)
}

func article(role string) string {
	if role == "" {
		return "without a role"
	}
	if strings.ContainsAny(role[:1], "aeiou") {
		return "an " + role
	}
	return "a " + role
}

// convo is what the opaque context carries from one answer to the next:
// the subject ("restart it") and the last generated spec ("apply it"). It
// grants nothing (every action still goes through roles and the confirm
// step), so it is encoded, not signed.
type convo struct {
	Kind      string     `json:"k,omitempty"` // service | environment
	Name      string     `json:"n,omitempty"`
	Target    string     `json:"t,omitempty"`
	Namespace string     `json:"ns,omitempty"`
	Gen       *Generated `json:"g,omitempty"`
}

const convoPrefix = "c1."

func (c convo) encode() string {
	if c == (convo{}) {
		return ""
	}
	b, _ := json.Marshal(c)
	return convoPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeConvo reads a context; anything unreadable is no context.
func decodeConvo(s string) convo {
	var c convo
	if !strings.HasPrefix(s, convoPrefix) || len(s) > 64<<10 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(convoPrefix):])
	if err != nil || json.Unmarshal(b, &c) != nil {
		return convo{}
	}
	c.Name = strings.ToLower(c.Name)
	return c
}

// plan is a mutation waiting for its confirmation: exactly what will be
// done, stored (sealed) with the token.
type plan struct {
	Intent   string                          `json:"intent"`
	Ref      berth.ServiceRef                `json:"ref,omitzero"`
	Replicas int                             `json:"replicas,omitempty"`
	Revision int                             `json:"revision,omitempty"`
	EnvID    string                          `json:"envId,omitempty"`
	EnvName  string                          `json:"envName,omitempty"`
	EnvReq   *berth.CreateEnvironmentRequest `json:"envReq,omitempty"`
	Gen      *Generated                      `json:"gen,omitempty"`
	RecID    string                          `json:"recId,omitempty"`
	Reason   string                          `json:"reason,omitempty"`
	// At is the revision of the service the summary described (0: not
	// berth's, or not there yet), New that no such service existed: the
	// confirmed action applies only while that still holds, so a change
	// made between question and confirm is not overwritten unseen. Plans
	// saved before these fields existed carry neither and check nothing.
	At  int  `json:"at,omitempty"`
	New bool `json:"new,omitempty"`
}

// pinned is p bound to the revision of s the user was shown.
func (p plan) pinned(s *berth.Service) plan {
	if s.Managed {
		p.At = s.Revision
	}
	return p
}

// propose answers a mutation with its confirm step.
func (t *turn) propose(p plan, summary string) error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("chat: make confirm token: %w", err)
	}
	token := "chc_" + base64.RawURLEncoding.EncodeToString(raw)
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("chat: encode action: %w", err)
	}
	exp := t.e.cfg.Now().Add(t.e.cfg.ConfirmTTL).UTC()
	sum := sha256.Sum256([]byte(token))
	if err := t.e.cfg.Confirms.SaveChatConfirm(t.ctx, &berth.ChatConfirm{Hash: sum[:], UserID: t.actor.UserID,
		Action: body, Summary: summary, ExpiresAt: exp}); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	t.resp.Confirm = &api.ChatConfirm{Token: token, Summary: summary, ExpiresAt: exp}
	t.say("I will %s. Confirm to go ahead (the confirmation expires in %s).", summary, t.e.cfg.ConfirmTTL.Round(time.Second))
	return nil
}

// confirm does the action a token stands for, once, for its own user.
func (e *Engine) confirm(ctx context.Context, a berth.Actor, token string) (*Outcome, error) {
	sum := sha256.Sum256([]byte(token))
	c, ok, err := e.cfg.Confirms.RedeemChatConfirm(ctx, sum[:], a.UserID, e.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	if !ok {
		return nil, berth.Invalid("confirm", "the token is unknown, already used, expired or another user's: nothing was done")
	}
	var p plan
	if err := json.Unmarshal(c.Action, &p); err != nil {
		return nil, fmt.Errorf("chat: read confirmed action: %w", err)
	}
	out := &Outcome{Message: "confirm: " + c.Summary}
	ex := e.execute(ctx, p)
	e.dropServices()
	out.Executed = []Executed{ex}
	r := &out.Response
	r.Intent, r.Actions, r.Suggestions = p.Intent, []api.ChatAction{ex.Action}, []string{}
	if ex.Action.Status == berth.AuditCompleted {
		r.Reply = "Done: " + ex.Action.Result
	} else {
		r.Reply = "That did not work: " + ex.Action.Result
	}
	conv := convo{Kind: "service", Name: p.Ref.Name, Target: p.Ref.Target, Namespace: p.Ref.Namespace}
	if p.Gen != nil {
		conv = convo{Kind: "service", Name: p.Gen.Name, Target: p.Gen.Spec.Target}
	} else if p.EnvName != "" {
		conv = convo{Kind: "environment", Name: p.EnvName}
	}
	if p.Intent == "service.delete" || p.Intent == "environment.delete" {
		conv = convo{}
	}
	if ex.Action.Subject != "" && conv.Name != "" {
		r.Suggestions = []string{"status of " + conv.Name}
		if conv.Kind == "environment" {
			r.Suggestions = []string{"status of environment " + conv.Name}
		}
	}
	r.Context = conv.encode()
	return out, nil
}

// sortServices orders services by target, namespace, name.
func sortServices(s []*berth.Service) {
	sort.Slice(s, func(i, j int) bool { return s[i].Ref().String() < s[j].Ref().String() })
}
