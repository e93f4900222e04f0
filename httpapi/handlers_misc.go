package httpapi

import (
	"context"
	_ "embed"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

func (s *Server) uptime() string { return s.Now().Sub(s.Started).Round(time.Second).String() }

// handleRoot answers browsers (Accept includes text/html) with the
// dashboard when there is one, and everyone else with the service's JSON
// information.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	if s.UI != nil && acceptsHTML(r) {
		s.UI.ServeHTTP(w, r)
		return
	}
	writeJSON(w, http.StatusOK, api.Index{
		Service: "berth", Version: s.Version, Uptime: s.uptime(),
		API: "/api/v1", OpenAPI: "/api/v1/openapi.json", Health: "/health", Ready: "/readyz",
	})
}

func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// handleAssets serves the dashboard's files.
func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request) {
	if s.UI == nil {
		writeError(w, r, berth.Errorf(berth.ENOTFOUND, "this server has no web dashboard"))
		return
	}
	s.UI.ServeHTTP(w, r)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Health{Status: "healthy", Uptime: s.uptime(), Service: "berth", Version: s.Version})
}

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Live{Status: "alive"})
}

// handleReady checks every dependency (the store, each target) in parallel.
// It answers without credentials, so a failed check says only a generic
// reason; what went wrong is in the log.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, api.Ready{Status: "shutting down", Checks: map[string]api.Check{}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	sp, tps := s.Core.Probe(ctx)
	checks := map[string]api.Check{"store": s.readyCheck(r, "store", sp)}
	for _, p := range tps {
		checks["target:"+p.Name] = s.readyCheck(r, "target:"+p.Name, p)
	}
	status, code := "ready", http.StatusOK
	for _, c := range checks {
		if c.Status != "ok" {
			status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, api.Ready{Status: status, Checks: checks})
}

// readyCheck is one probe as /readyz shows it: "timed out" or "unreachable",
// never the error's text, which names hosts, files and drivers' messages.
func (s *Server) readyCheck(r *http.Request, name string, p core.Probe) api.Check {
	c := api.Check{Status: "ok", LatencyMs: p.Latency.Milliseconds()}
	if p.Err == nil {
		return c
	}
	c.Status, c.Error = "down", "unreachable"
	if errors.Is(p.Err, context.DeadlineExceeded) {
		c.Error = "timed out"
	}
	s.Logger.Warn("readiness check failed", "check", name, "err", p.Err, "request_id", state(r).id)
	return c
}

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiDoc)
}

func (s *Server) handleTargets(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.TargetList{Targets: s.Core.Targets()})
}

// handleAudit: core says whose entries the caller reads.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := berth.AuditFilter{Type: q.Get("type"), Status: q.Get("status"), User: q.Get("user"), Offset: (page - 1) * size, Limit: size}
	if f.Since, err = querySince(r, "since", s.Now()); err != nil {
		writeError(w, r, err)
		return
	}
	entries, total, err := s.Core.ListAudit(r.Context(), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.AuditList{Logs: entries, Page: api.Page{Total: total, Page: page, PageSize: size}})
}
