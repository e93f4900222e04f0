package httpapi

import (
	"net/http"
	"time"

	"github.com/berthhq/berth"
)

// route is one entry of the API surface. The table below is the one place
// that says which role a route needs and what it audits.
type route struct {
	method  string
	path    string     // net/http pattern path
	role    berth.Role // minimum role; "" = no credential needed
	action  string     // audit action ("service.scale"); "" = not audited
	handler http.HandlerFunc
	// activity lets a workspace's activity token stand in for a credential.
	activity bool
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
		{method: "GET", path: "/{$}", role: none, handler: s.handleRoot},
		{method: "GET", path: "/assets/{path...}", role: none, handler: s.handleAssets},
		{method: "GET", path: "/health", role: none, handler: s.handleHealth},
		{method: "GET", path: "/live", role: none, handler: s.handleLive},
		{method: "GET", path: "/healthz", role: none, handler: s.handleLive},
		{method: "GET", path: "/ready", role: none, handler: s.handleReady},
		{method: "GET", path: "/readyz", role: none, handler: s.handleReady},
		{method: "GET", path: "/metrics", role: none, handler: s.handleMetrics},
		{method: "GET", path: "/api/v1/openapi.json", role: none, handler: s.handleOpenAPI},

		// Auth.
		{method: "POST", path: "/api/v1/auth/login", role: none, action: "auth.login", handler: s.handleLogin},
		{method: "POST", path: "/api/v1/auth/logout", role: viewer, action: "auth.logout", handler: s.handleLogout},
		{method: "GET", path: "/api/v1/auth/me", role: viewer, handler: s.handleMe},
		{method: "GET", path: "/api/v1/users", role: admin, handler: s.handleListUsers},
		{method: "POST", path: "/api/v1/users", role: admin, action: "user.create", handler: s.handleCreateUser},
		{method: "GET", path: "/api/v1/users/{id}", role: admin, handler: s.handleGetUser},
		{method: "PATCH", path: "/api/v1/users/{id}", role: admin, action: "user.update", handler: s.handleUpdateUser},
		{method: "DELETE", path: "/api/v1/users/{id}", role: admin, action: "user.delete", handler: s.handleDeleteUser},
		{method: "GET", path: "/api/v1/apikeys", role: admin, handler: s.handleListAPIKeys},
		{method: "POST", path: "/api/v1/apikeys", role: admin, action: "apikey.create", handler: s.handleCreateAPIKey},
		{method: "DELETE", path: "/api/v1/apikeys/{id}", role: admin, action: "apikey.delete", handler: s.handleDeleteAPIKey},

		// Environments (the Dev8 agent contract).
		{method: "POST", path: "/api/v1/environments", role: operator, action: "environment.create", handler: s.handleCreateEnvironment},
		{method: "GET", path: "/api/v1/environments", role: viewer, handler: s.handleListEnvironments},
		{method: "GET", path: "/api/v1/environments/{id}", role: viewer, handler: s.handleGetEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/start", role: operator, action: "environment.start", handler: s.handleStartEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/stop", role: operator, action: "environment.stop", handler: s.handleStopEnvironment},
		{method: "DELETE", path: "/api/v1/environments/{id}", role: operator, action: "environment.delete", handler: s.handleDeleteEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/restart", role: operator, action: "environment.restart", handler: s.handleRestartEnvironment},
		{method: "GET", path: "/api/v1/environments/{id}/logs", role: viewer, handler: s.handleEnvironmentLogs},
		{method: "POST", path: "/api/v1/environments/{id}/open", role: operator, action: "environment.open", handler: s.handleOpenEnvironment},
		{method: "POST", path: "/api/v1/environments/{id}/activity", role: operator, handler: s.handleActivity, activity: true},

		// Services (VTasker).
		{method: "GET", path: "/api/v1/services", role: viewer, handler: s.handleListServices},
		{method: "GET", path: "/api/v1/services/{name}", role: viewer, handler: s.handleGetService},
		{method: "PUT", path: "/api/v1/services/{name}", role: operator, action: "service.apply", handler: s.handleApplyService},
		{method: "DELETE", path: "/api/v1/services/{name}", role: operator, action: "service.delete", handler: s.handleDeleteService},
		{method: "POST", path: "/api/v1/services/{name}/start", role: operator, action: "service.start", handler: s.handleStartService},
		{method: "POST", path: "/api/v1/services/{name}/stop", role: operator, action: "service.stop", handler: s.handleStopService},
		{method: "POST", path: "/api/v1/services/{name}/restart", role: operator, action: "service.restart", handler: s.handleRestartService},
		{method: "POST", path: "/api/v1/services/{name}/scale", role: operator, action: "service.scale", handler: s.handleScaleService},
		{method: "POST", path: "/api/v1/services/{name}/rollback", role: operator, action: "service.rollback", handler: s.handleRollbackService},
		{method: "GET", path: "/api/v1/services/{name}/revisions", role: viewer, handler: s.handleRevisions},
		{method: "GET", path: "/api/v1/services/{name}/config", role: viewer, handler: s.handleGetConfig},
		{method: "PUT", path: "/api/v1/services/{name}/config", role: operator, action: "service.config", handler: s.handleUpdateConfig},
		{method: "GET", path: "/api/v1/services/{name}/logs", role: viewer, handler: s.handleServiceLogs},
		{method: "GET", path: "/api/v1/services/{name}/metrics", role: viewer, handler: s.handleServiceMetrics},

		// Orchestrator: infrastructure and the audit log.
		{method: "GET", path: "/api/v1/targets", role: viewer, handler: s.handleTargets},
		{method: "GET", path: "/api/v1/infrastructure", role: viewer, handler: s.handleInfrastructure},
		{method: "POST", path: "/api/v1/infrastructure/{type}/{id}/start", role: operator, action: "infrastructure.start", handler: s.handleInfraStart},
		{method: "POST", path: "/api/v1/infrastructure/{type}/{id}/stop", role: operator, action: "infrastructure.stop", handler: s.handleInfraStop},
		{method: "DELETE", path: "/api/v1/infrastructure/{type}/{id}", role: operator, action: "infrastructure.delete", handler: s.handleInfraDelete},
		{method: "GET", path: "/api/v1/logs", role: viewer, handler: s.handleAudit},
		{method: "GET", path: "/api/v1/overview", role: viewer, handler: s.handleOverview},
		{method: "GET", path: "/api/v1/status", role: viewer, handler: s.handleStatus},

		// Realtime: /ws authenticates itself (a ticket, since browsers cannot
		// set headers on a WebSocket, or a bearer credential).
		{method: "POST", path: "/api/v1/ws-ticket", role: viewer, handler: s.handleWSTicket},
		{method: "GET", path: "/ws", role: none, handler: s.handleWS},

		// Metrics history (the sampler writes it).
		{method: "GET", path: "/api/v1/metrics", role: viewer, handler: s.handleMetricsQuery(time.Hour)},
		{method: "GET", path: "/api/v1/metrics/history", role: viewer, handler: s.handleMetricsQuery(24 * time.Hour)},

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
