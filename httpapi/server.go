// Package httpapi serves berth's REST API: one route table, JSON in and out,
// every error in the shape {"error": CODE, "message": "..."}.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/chat"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/wshub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Deps are what the server needs.
type Deps struct {
	Core        *core.Core
	Accounts    *core.Accounts
	Audit       berth.AuditStore
	ActivityKey []byte // verifies workspaces' activity tokens
	Logger      *slog.Logger
	Version     string
	// Leading says whether this replica runs the background loops (nil: it does).
	Leading func() bool
	Started time.Time
	// Limiter bounds the request rate per credential (nil: unlimited).
	Limiter *auth.Limiter
	// AuthFailures counts failed authentications per client address (bad
	// key, token, ticket, login, metrics token); a client out of tokens
	// gets 429 until it has waited (nil: unlimited).
	AuthFailures *auth.Limiter
	// TrustedProxies may say who the client is with X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// BodyTimeout is how long a request body may take to arrive (0: no limit).
	BodyTimeout time.Duration
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken   string
	AllowedOrigins []string // CORS; "*" allows any
	MaxBodyBytes   int64    // default 1 MiB
	Registry       *prometheus.Registry
	Now            func() time.Time
	// MetricsHistory answers the metrics routes with the sampler's retention
	// (nil: the defaults over the store).
	MetricsHistory *metrics.History
	// Events receives an event per audit entry written here (nil: none).
	Events berth.Publisher
	// Hub serves /ws (nil: /ws and /api/v1/ws-ticket answer UNAVAILABLE).
	Hub *wshub.Hub
	// Usage ranks services by consumption for /api/v1/overview (nil: no ranking).
	Usage Usage
	// Sampler reports the metrics sampler's lag for /api/v1/status (nil: not shown).
	Sampler SamplerLag
	// UI serves the web dashboard: GET / for browsers (Accept includes
	// text/html) and GET /assets/… (nil: no dashboard; / answers JSON only).
	UI http.Handler
	// EnvProxy serves environments at /env/{id}/… and answers
	// POST /api/v1/environments/{id}/open (nil: both answer UNAVAILABLE).
	EnvProxy *core.EnvProxy
	// Chat answers POST /api/v1/chat (nil: it answers UNAVAILABLE).
	Chat *chat.Engine
	// Pprof serves /debug/pprof/ to admins (false: 404).
	Pprof bool
}

// Server is the HTTP API.
type Server struct {
	Deps
	mux     *http.ServeMux
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	routes_ []route
	// streams ends long-lived responses (log follow) when the server shuts
	// down, so that draining does not wait for them.
	streams     context.Context
	stopStreams context.CancelFunc
	// envTransport carries proxied requests to workspaces (proxy.go).
	envTransport *http.Transport
	// draining is set once berth is shutting down: /readyz says so while
	// requests are still served (Drain).
	draining atomic.Bool
}

// Drain makes /readyz answer 503 "shutting down" from now on, so that load
// balancers stop sending new requests while this server still serves them.
func (s *Server) Drain() { s.draining.Store(true) }

// CloseStreams ends every streaming response and WebSocket connection
// (http.Server.Shutdown does not track hijacked ones); register it with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.stopStreams()
	if s.Hub != nil {
		s.Hub.Close()
	}
}

// NewServer builds the handler of the whole API surface.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), envTransport: newEnvTransport()}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_http_requests_total", Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "berth_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})
	// Registration fails only when the same registry is reused; keep going then.
	_ = d.Registry.Register(s.reqs)
	_ = d.Registry.Register(s.latency)

	s.routes_ = s.routes()
	for _, rt := range s.routes_ {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	return s
}

// Routes lists "METHOD path" of every route (for the OpenAPI test).
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes_ {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id, ok := s.envHost(r); ok {
		// {id}.<envDomain>: the whole host is the environment (host mode).
		s.serveEnvHost(w, r, id)
		return
	}
	s.cors(w, r)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// Unknown route or method: answer in the API's error shape.
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.AllowedOrigins) == 0 {
		return
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			return
		}
	}
}

// statusRecorder turns the mux's plain-text 404/405 into API errors.
type statusRecorder struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		w.wrote = true
		msg := "no such route"
		c := berth.ENOTFOUND
		if code == http.StatusMethodNotAllowed {
			msg = "method not allowed on this route"
			c = berth.EINVALID
		}
		writeJSON(w.ResponseWriter, code, api.Error{Error: c, Message: msg})
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.wrote {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// reqState travels with a request: its id, caller and what the audit entry
// should say.
type reqState struct {
	id     string
	actor  berth.Actor
	authed bool
	status int
	errMsg string
	audit  auditInfo
	bearer string
	body   *deadlineBody // the request body's deadline, when it has one
}

type auditInfo struct {
	resourceType, resource, target, username string
	details                                  map[string]any
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wrap applies the per-route chain: request id, logging and metrics,
// recovery, body limit, authentication, role check, rate limit, audit.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Now()
		r, span := startSpan(r, rt)
		st := &reqState{id: r.Header.Get("X-Request-ID")}
		if st.id == "" || len(st.id) > 64 {
			st.id = newRequestID()
		}
		w.Header().Set("X-Request-ID", st.id)
		rw := &responseWriter{ResponseWriter: w, st: st}
		if rt.action != "" && !rt.proxy {
			rw.held = &bytes.Buffer{}
		}
		r = r.WithContext(context.WithValue(context.WithValue(r.Context(), stateKey{}, st), serverKey{}, s))
		// A workspace bounds its own uploads in size; berth bounds how long
		// one may stall, which holds a connection here and one upstream.
		s.bodyDeadline(w, r, rt.proxy)
		if r.Body != nil && !rt.proxy {
			r.Body = http.MaxBytesReader(rw, r.Body, s.MaxBodyBytes)
		}

		var intent *berth.AuditIntent
		defer func() {
			if p := recover(); p != nil {
				s.Logger.Error("panic in handler", "route", rt.path, "panic", p, "request_id", st.id)
				if !rw.wroteHeader {
					writeError(rw, r, berth.Errorf(berth.EINTERNAL, "internal error"))
				}
			}
			code := rw.code()
			s.reqs.WithLabelValues(rt.path, rt.method, strconv.Itoa(code)).Inc()
			s.latency.WithLabelValues(rt.path, rt.method).Observe(s.Now().Sub(start).Seconds())
			if rt.action != "" {
				s.writeAudit(r, rt, st, code, s.Now().Sub(start), intent)
			}
			rw.release()
			lvl := slog.LevelDebug
			if code >= 500 {
				lvl = slog.LevelWarn
			}
			s.Logger.Log(r.Context(), lvl, "request", "method", r.Method, "path", r.URL.Path, "status", code,
				"duration_ms", s.Now().Sub(start).Milliseconds(), "request_id", st.id, "user", st.actor.Username)
			endSpan(span, code, st)
		}()

		if rt.role != "" {
			if !s.authenticate(rw, r, rt, st) {
				return
			}
		}
		key := "ip:" + s.clientIP(r)
		if st.authed {
			key = "user:" + st.actor.UserID + "/" + st.actor.KeyID
		}
		// An IDE loads many assets at once; the proxy authenticates each request itself.
		if s.Limiter != nil && !rt.proxy && !s.Limiter.Allow(key) {
			w.Header().Set("Retry-After", "1")
			writeError(rw, r, berth.Errorf(berth.ERATELIMITED, "too many requests: slow down"))
			return
		}
		if err := unevaluatedCondition(r, rt); err != nil {
			writeError(rw, r, err)
			return
		}
		if rt.action != "" && !rt.proxy {
			// The entry commits with the call's first change (see writeAudit).
			intent = berth.NewAuditIntent(*s.auditEntry(r, rt, st, http.StatusOK, 0))
			*r = *r.WithContext(berth.WithAuditIntent(r.Context(), intent))
		}
		rt.handler(rw, r)
	})
}

// authenticate resolves the bearer credential and checks the route's role.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rt route, st *reqState) bool {
	cred, ok := bearer(r)
	if !ok {
		writeError(w, r, berth.Errorf(berth.EUNAUTHORIZED, "missing credential: send Authorization: Bearer <token or API key>"))
		return false
	}
	if s.authBlocked(w, r) {
		return false
	}
	st.bearer = cred
	a, err := s.Accounts.Authenticate(r.Context(), cred)
	if err != nil {
		if rt.activity && auth.VerifyActivityToken(s.ActivityKey, r.PathValue("id"), cred) {
			st.authed = true
			st.actor = core.WorkspaceActor(r.PathValue("id"))
			*r = *r.WithContext(berth.WithActor(r.Context(), st.actor))
			return true
		}
		if berth.IsCode(err, berth.EUNAUTHORIZED) {
			s.authFailed(r)
		}
		writeError(w, r, err)
		return false
	}
	st.actor, st.authed = a, true
	*r = *r.WithContext(berth.WithActor(r.Context(), a))
	if !a.Role.AtLeast(rt.role) {
		writeError(w, r, berth.Errorf(berth.EFORBIDDEN, "%s role required; you are %s", rt.role, a.Role))
		return false
	}
	return true
}

// auditEntry is the audit entry of a mutating call that ended with code
// after d.
func (s *Server) auditEntry(r *http.Request, rt route, st *reqState, code int, d time.Duration) *berth.AuditEntry {
	verb := rt.action
	resType := rt.action
	if i := strings.LastIndexByte(rt.action, '.'); i >= 0 {
		resType, verb = rt.action[:i], rt.action[i+1:]
	}
	e := &berth.AuditEntry{
		Timestamp: s.Now().UTC(), UserID: st.actor.UserID, Username: st.actor.Username,
		Action: rt.action, Type: verb, ResourceType: resType, Target: st.audit.target,
		Status: berth.AuditCompleted, DurationMs: d.Milliseconds(), RequestID: st.id, Details: st.audit.details,
	}
	if st.audit.resourceType != "" {
		e.ResourceType = st.audit.resourceType
	}
	e.Resource = st.audit.resource
	if e.Resource == "" {
		e.Resource = firstNonEmpty(r.PathValue("name"), r.PathValue("id"))
	}
	if e.Username == "" {
		e.Username = st.audit.username
	}
	if code >= 400 {
		e.Status, e.Error = berth.AuditFailed, st.errMsg
	}
	return e
}

// writeAudit writes the audit entry of a mutating call. When the call
// changed the store, the entry committed with that change (intent) and is
// completed here; else it is appended. Either way the answer waits for it.
// Should completing fail (the store went away after the change), the entry
// stands as the change's transaction wrote it: completed, with what was
// known then.
func (s *Server) writeAudit(r *http.Request, rt route, st *reqState, code int, d time.Duration, intent *berth.AuditIntent) {
	e := s.auditEntry(r, rt, st, code, d)
	// The request may be cancelled (client gone): the entry must still land.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	id, written := intentWritten(intent)
	if written {
		e.ID = id
		if err := s.Audit.UpdateAudit(ctx, e); err != nil {
			// The entry stands (and is announced): only its final fields are not stored.
			s.Logger.Error("complete audit entry", "action", e.Action, "err", err, "request_id", st.id)
		}
	} else if err := s.Audit.AppendAudit(ctx, e); err != nil {
		s.Logger.Error("append audit entry", "action", e.Action, "err", err, "request_id", st.id)
		return
	}
	if s.Events != nil {
		s.Events.Publish(ctx, core.AuditEvent(e))
	}
}

// intentWritten closes intent (nil: a call that had none, such as one
// refused before its handler) and answers the id of the entry written with
// the call's change.
func intentWritten(intent *berth.AuditIntent) (int64, bool) {
	if intent == nil {
		return 0, false
	}
	return intent.Close()
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// responseWriter remembers the status for metrics and the audit log.
type responseWriter struct {
	http.ResponseWriter
	st          *reqState
	wroteHeader bool
	// held keeps an audited call's answer until its audit entry is
	// written, so that no client sees a change acknowledged whose entry a
	// crash in between lost (bench-chaos found one in 1,663).
	held *bytes.Buffer
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.st.status = code
	if w.held == nil {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.held != nil {
		return w.held.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// release sends what was held back.
func (w *responseWriter) release() {
	held := w.held
	if held == nil {
		return
	}
	w.held = nil
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(w.st.status)
	}
	_, _ = w.ResponseWriter.Write(held.Bytes())
}

func (w *responseWriter) code() int {
	if w.st.status == 0 {
		return http.StatusOK
	}
	return w.st.status
}

// Unwrap lets http.ResponseController reach Flush and SetWriteDeadline.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.metricsAuthorized(w, r) {
		return
	}
	promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
