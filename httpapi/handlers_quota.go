package httpapi

import (
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

func (s *Server) handleGetQuotas(w http.ResponseWriter, r *http.Request) {
	qs, err := s.Core.GetQuotas(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.QuotaSet(*qs))
}

func (s *Server) handleMyQuota(w http.ResponseWriter, r *http.Request) {
	s.writeQuotaOf(w, r, "")
}

func (s *Server) handleUserQuota(w http.ResponseWriter, r *http.Request) {
	s.writeQuotaOf(w, r, r.PathValue("id"))
}

func (s *Server) writeQuotaOf(w http.ResponseWriter, r *http.Request, id string) {
	st, err := s.Core.QuotaOf(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.QuotaStatus(*st))
}

// handlePutQuota serves PUT of /quotas/defaults, /roles/{role} and /users/{id}.
func (s *Server) handlePutQuota(scope string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var l api.QuotaLimits
		if err := decode(r, &l, true); err != nil {
			writeError(w, r, err)
			return
		}
		key := quotaKey(r, scope)
		st := state(r)
		st.audit.resourceType, st.audit.resource = "quota", scope+"/"+key
		st.audit.details = map[string]any{"limits": l}
		if err := s.Core.SetQuota(r.Context(), scope, key, l); err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, api.QuotaLimits(l))
	}
}

// handleDeleteQuota serves DELETE of /quotas/roles/{role} and /users/{id}.
func (s *Server) handleDeleteQuota(scope string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := quotaKey(r, scope)
		st := state(r)
		st.audit.resourceType, st.audit.resource = "quota", scope+"/"+key
		if err := s.Core.DeleteQuota(r.Context(), scope, key); err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, api.Ack{Message: scope + " quota deleted", ID: key})
	}
}

func quotaKey(r *http.Request, scope string) string {
	switch scope {
	case berth.QuotaRole:
		return r.PathValue("role")
	case berth.QuotaUser:
		return r.PathValue("id")
	}
	return ""
}

// handleUsage serves GET /api/v1/usage as JSON or CSV.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.UsageRequest{GroupBy: q.Get("groupBy"), UserID: q.Get("userId")}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &req.From}, {"to", &req.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseUsageTime(v)
		if err != nil {
			writeError(w, r, berth.Invalid(p.name, "%q is not a date (2006-01-02) or an RFC 3339 time", v))
			return
		}
		*p.t = t
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, r, berth.Invalid("format", "%q is not json or csv", format))
		return
	}
	rep, err := s.Core.Usage(r.Context(), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, api.UsageReport(*rep))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.WriteAll(core.UsageCSV(rep))
}

func parseUsageTime(v string) (time.Time, error) {
	if !strings.Contains(v, "T") {
		return time.Parse("2006-01-02", v)
	}
	return time.Parse(time.RFC3339, v)
}

// handlePinEnvironment serves POST /api/v1/environments/{id}/pin with
// {"pinned": true|false}: a pinned environment is exempt from dormancy and
// its ttl.
func (s *Server) handlePinEnvironment(w http.ResponseWriter, r *http.Request) {
	var body api.PinRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Pinned == nil {
		writeError(w, r, berth.Invalid("pinned", "is required (true or false)"))
		return
	}
	id := r.PathValue("id")
	state(r).audit.details = map[string]any{"pinned": *body.Pinned}
	msg := "Environment pinned"
	if !*body.Pinned {
		msg = "Environment unpinned"
	}
	s.envAction(w, r, msg, func() (*berth.Environment, error) {
		return s.Core.PinEnvironment(r.Context(), id, *body.Pinned)
	})
}
