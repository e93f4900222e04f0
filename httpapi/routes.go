package httpapi

import (
	"net/http"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// route is one entry of the API surface. The table below is the one place
// that says which role a route needs and what it audits.
type route struct {
	method  string
	path    string     // net/http pattern path
	role    berth.Role // minimum role; "" = no credential needed
	action  string     // audit action ("service.scale"); "" = not audited
	handler http.HandlerFunc
	// in and out are the JSON bodies of the request and of its 2xx answer
	// (zero values of types in package api, or domain types that are the
	// wire format); nil: none, or not JSON. The OpenAPI test compares them
	// with openapi.json field by field.
	in, out any
	// activity lets a workspace's activity token stand in for a credential.
	activity bool
	// conditional marks a change that evaluates If-Match/If-None-Match
	// (the service's routes); every other change refuses them rather than
	// ignore them.
	conditional bool
	// proxy marks the environment proxy: it authenticates each request
	// itself (ticket, cookie or bearer), forwards bodies unbounded (the
	// workspace bounds them) and is not rate-limited.
	proxy bool
}

// proxyMethods are the methods the environment proxy forwards (GET also
// answers HEAD); a WebSocket is a GET.
var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (s *Server) routes() []route {
	const (
		none     = berth.Role("")
		viewer   = berth.RoleViewer
		operator = berth.RoleOperator
		admin    = berth.RoleAdmin
	)
	rts := []route{
		// Health and metrics: no credential.
		{method: "GET", path: "/{$}", role: none, out: api.Index{}, handler: s.handleRoot},
		{method: "GET", path: "/assets/{path...}", role: none, handler: s.handleAssets},
		{method: "GET", path: "/health", role: none, out: api.Health{}, handler: s.handleHealth},
		{method: "GET", path: "/live", role: none, out: api.Live{}, handler: s.handleLive},
		{method: "GET", path: "/healthz", role: none, out: api.Live{}, handler: s.handleLive},
		{method: "GET", path: "/ready", role: none, out: api.Ready{}, handler: s.handleReady},
		{method: "GET", path: "/readyz", role: none, out: api.Ready{}, handler: s.handleReady},
		{method: "GET", path: "/metrics", role: none, handler: s.handleMetrics},
		{method: "GET", path: "/api/v1/openapi.json", role: none, handler: s.handleOpenAPI},

		// Auth.
		{method: "POST", path: "/api/v1/auth/login", role: none, action: "auth.login", in: api.LoginRequest{}, out: api.LoginResult{}, handler: s.handleLogin},
		{method: "POST", path: "/api/v1/auth/logout", role: viewer, action: "auth.logout", out: api.Ack{}, handler: s.handleLogout},
		{method: "GET", path: "/api/v1/auth/me", role: viewer, out: api.Me{}, handler: s.handleMe},
		{method: "GET", path: "/api/v1/users", role: admin, out: api.UserList{}, handler: s.handleListUsers},
		{method: "POST", path: "/api/v1/users", role: admin, action: "user.create", in: api.CreateUserRequest{}, out: api.UserEnvelope{}, handler: s.handleCreateUser},
		{method: "GET", path: "/api/v1/users/{id}", role: admin, out: api.UserEnvelope{}, handler: s.handleGetUser},
		{method: "PATCH", path: "/api/v1/users/{id}", role: admin, action: "user.update", in: api.UpdateUserRequest{}, out: api.UserEnvelope{}, handler: s.handleUpdateUser},
		{method: "DELETE", path: "/api/v1/users/{id}", role: admin, action: "user.delete", out: api.Ack{}, handler: s.handleDeleteUser},
		{method: "GET", path: "/api/v1/apikeys", role: admin, out: api.APIKeyList{}, handler: s.handleListAPIKeys},
		{method: "POST", path: "/api/v1/apikeys", role: admin, action: "apikey.create", in: api.CreateAPIKeyRequest{}, out: api.CreatedAPIKey{}, handler: s.handleCreateAPIKey},
		{method: "DELETE", path: "/api/v1/apikeys/{id}", role: admin, action: "apikey.delete", out: api.Ack{}, handler: s.handleDeleteAPIKey},

		// Environments (the Dev8 agent contract).
		{method: "POST", path: "/api/v1/environments", role: operator, action: "environment.create", in: berth.CreateEnvironmentRequest{}, out: api.EnvironmentEnvelope{}, handler: s.handleCreateEnvironment},
		{method: "GET", path: "/api/v1/environments", role: viewer, out: api.EnvironmentList{}, handler: s.handleListEnvironments},
		{method: "GET", path: "/api/v1/environments/{id}", role: viewer, out: api.EnvironmentEnvelope{}, handler: s.handleGetEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/start", role: operator, action: "environment.start", out: api.Ack{}, handler: s.handleStartEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/stop", role: operator, action: "environment.stop", out: api.Ack{}, handler: s.handleStopEnvironment},
		{method: "DELETE", path: "/api/v1/environments/{id}", role: operator, action: "environment.delete", out: api.Ack{}, handler: s.handleDeleteEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/restart", role: operator, action: "environment.restart", out: api.Ack{}, handler: s.handleRestartEnvironment},
		{method: "GET", path: "/api/v1/environments/{id}/logs", role: viewer, out: api.EnvironmentLogs{}, handler: s.handleEnvironmentLogs},
		{method: "POST", path: "/api/v1/environments/{id}/open", role: operator, action: "environment.open", out: api.EnvOpening{}, handler: s.handleOpenEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/activity", role: operator, in: berth.Activity{}, out: api.Ack{}, handler: s.handleActivity, activity: true},

		// Services (VTasker).
		{method: "GET", path: "/api/v1/services", role: viewer, out: api.ServiceList{}, handler: s.handleListServices},
		{method: "GET", path: "/api/v1/services/{name}", role: viewer, out: api.ServiceResult{}, handler: s.handleGetService},
		{method: "PUT", path: "/api/v1/services/{name}", role: operator, action: "service.apply", in: berth.ServiceSpec{}, out: api.ServiceResult{}, conditional: true, handler: s.handleApplyService},
		{method: "DELETE", path: "/api/v1/services/{name}", role: operator, action: "service.delete", out: api.Ack{}, conditional: true, handler: s.handleDeleteService},
		{method: "POST", path: "/api/v1/services/{name}/start", role: operator, action: "service.start", out: api.ServiceResult{}, conditional: true, handler: s.handleStartService},
		{method: "POST", path: "/api/v1/services/{name}/stop", role: operator, action: "service.stop", out: api.ServiceResult{}, conditional: true, handler: s.handleStopService},
		{method: "POST", path: "/api/v1/services/{name}/restart", role: operator, action: "service.restart", out: api.ServiceResult{}, conditional: true, handler: s.handleRestartService},
		{method: "POST", path: "/api/v1/services/{name}/scale", role: operator, action: "service.scale", in: api.ScaleRequest{}, out: api.ServiceResult{}, conditional: true, handler: s.handleScaleService},
		{method: "POST", path: "/api/v1/services/{name}/rollback", role: operator, action: "service.rollback", in: api.RollbackRequest{}, out: api.ServiceResult{}, conditional: true, handler: s.handleRollbackService},
		{method: "GET", path: "/api/v1/services/{name}/revisions", role: viewer, out: api.RevisionList{}, handler: s.handleRevisions},
		{method: "GET", path: "/api/v1/services/{name}/config", role: viewer, out: api.ServiceConfig{}, handler: s.handleGetConfig},
		{method: "PUT", path: "/api/v1/services/{name}/config", role: operator, action: "service.config", in: api.ConfigUpdate{}, out: api.ServiceResult{}, conditional: true, handler: s.handleUpdateConfig},
		{method: "GET", path: "/api/v1/services/{name}/logs", role: viewer, out: api.ServiceLogs{}, handler: s.handleServiceLogs},
		{method: "GET", path: "/api/v1/services/{name}/metrics", role: viewer, out: api.ServiceMetrics{}, handler: s.handleServiceMetrics},

		// Orchestrator: infrastructure and the audit log.
		{method: "GET", path: "/api/v1/targets", role: viewer, out: api.TargetList{}, handler: s.handleTargets},
		{method: "GET", path: "/api/v1/infrastructure", role: viewer, out: api.Inventory{}, handler: s.handleInfrastructure},
		{method: "POST", path: "/api/v1/infrastructure/{type}/{id}/start", role: operator, action: "infrastructure.start", out: api.InfraActionResult{}, handler: s.handleInfraStart},
		{method: "POST", path: "/api/v1/infrastructure/{type}/{id}/stop", role: operator, action: "infrastructure.stop", out: api.InfraActionResult{}, handler: s.handleInfraStop},
		{method: "DELETE", path: "/api/v1/infrastructure/{type}/{id}", role: operator, action: "infrastructure.delete", out: api.InfraActionResult{}, handler: s.handleInfraDelete},
		{method: "GET", path: "/api/v1/logs", role: viewer, out: api.AuditList{}, handler: s.handleAudit},
		{method: "GET", path: "/api/v1/overview", role: viewer, out: api.Overview{}, handler: s.handleOverview},
		{method: "GET", path: "/api/v1/status", role: viewer, out: api.Status{}, handler: s.handleStatus},

		// ChatOps: answers as the caller; mutations only on {"confirm": token}.
		{method: "POST", path: "/api/v1/chat", role: viewer, action: "chat.message", in: api.ChatRequest{}, out: api.ChatResponse{}, handler: s.handleChat},

		// Realtime: /ws authenticates itself (a ticket, since browsers cannot
		// set headers on a WebSocket, or a bearer credential).
		{method: "POST", path: "/api/v1/ws-ticket", role: viewer, out: api.WSTicket{}, handler: s.handleWSTicket},
		{method: "GET", path: "/ws", role: none, handler: s.handleWS},

		// Metrics history (the sampler writes it).
		{method: "GET", path: "/api/v1/metrics", role: viewer, out: api.MetricsHistory{}, handler: s.handleMetricsQuery(time.Hour)},
		{method: "GET", path: "/api/v1/metrics/history", role: viewer, out: api.MetricsHistory{}, handler: s.handleMetricsQuery(24 * time.Hour)},
		{method: "GET", path: "/api/v1/predictions", role: viewer, out: api.PredictionList{}, handler: s.handleListPredictions},

		// Recommendations (issue 11).
		{method: "GET", path: "/api/v1/recommendations", role: viewer, out: api.RecommendationList{}, handler: s.handleListRecommendations},
		{method: "POST", path: "/api/v1/recommendations/refresh", role: operator, action: "recommendation.refresh", out: api.RefreshResult{}, handler: s.handleRefreshRecommendations},
		{method: "GET", path: "/api/v1/recommendations/{id}", role: viewer, out: api.RecommendationBody{}, handler: s.handleGetRecommendation},
		{method: "POST", path: "/api/v1/recommendations/{id}/apply", role: operator, action: "recommendation.apply", in: api.ApplyRecommendationRequest{}, out: api.ApplyRecommendationResponse{}, handler: s.handleApplyRecommendation},
		{method: "POST", path: "/api/v1/recommendations/{id}/reject", role: operator, action: "recommendation.reject", in: api.RejectRecommendationRequest{}, out: api.RecommendationBody{}, handler: s.handleRejectRecommendation},

		// Quotas and usage (docs/quotas.md, docs/usage.md): admins write,
		// everyone reads their own.
		{method: "GET", path: "/api/v1/quotas", role: admin, out: api.QuotaSet{}, handler: s.handleGetQuotas},
		{method: "GET", path: "/api/v1/quotas/me", role: viewer, out: api.QuotaStatus{}, handler: s.handleMyQuota},
		{method: "PUT", path: "/api/v1/quotas/defaults", role: admin, action: "quota.set", in: api.QuotaLimits{}, out: api.QuotaLimits{}, handler: s.handlePutQuota(berth.QuotaDefaults)},
		{method: "PUT", path: "/api/v1/quotas/roles/{role}", role: admin, action: "quota.set", in: api.QuotaLimits{}, out: api.QuotaLimits{}, handler: s.handlePutQuota(berth.QuotaRole)},
		{method: "DELETE", path: "/api/v1/quotas/roles/{role}", role: admin, action: "quota.delete", out: api.Ack{}, handler: s.handleDeleteQuota(berth.QuotaRole)},
		{method: "GET", path: "/api/v1/quotas/users/{id}", role: admin, out: api.QuotaStatus{}, handler: s.handleUserQuota},
		{method: "PUT", path: "/api/v1/quotas/users/{id}", role: admin, action: "quota.set", in: api.QuotaLimits{}, out: api.QuotaLimits{}, handler: s.handlePutQuota(berth.QuotaUser)},
		{method: "DELETE", path: "/api/v1/quotas/users/{id}", role: admin, action: "quota.delete", out: api.Ack{}, handler: s.handleDeleteQuota(berth.QuotaUser)},
		{method: "GET", path: "/api/v1/usage", role: viewer, out: api.UsageReport{}, handler: s.handleUsage},
		{method: "POST", path: "/api/v1/environments/{id}/pin", role: operator, action: "environment.pin", in: api.PinRequest{}, out: api.Ack{}, handler: s.handlePinEnvironment},

		// The environment proxy, outside /api/v1: a browser navigates there.
		{method: "GET", path: "/env/{id}", role: none, handler: s.handleEnvRedirect},
	}
	// With envDomain set, {id}.<envDomain>/… is served the same way
	// (Server.ServeHTTP dispatches it by host, before this table).
	for _, m := range proxyMethods {
		rts = append(rts, route{method: m, path: "/env/{id}/{path...}", role: none, proxy: true, handler: s.handleEnvProxy})
	}
	// Go's runtime profiles, for admins, when Deps.Pprof is on (404 otherwise).
	rts = append(rts, route{method: "GET", path: "/debug/pprof/{name...}", role: admin, handler: s.handlePprof})
	return rts
}
