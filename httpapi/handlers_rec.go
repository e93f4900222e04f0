package httpapi

import (
	"net/http"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

func (s *Server) handleListRecommendations(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := berth.RecommendationFilter{Status: berth.RecStatus(q.Get("status")), Kind: berth.RecKind(q.Get("kind")),
		Target: q.Get("target"), Service: q.Get("service"), Offset: (page - 1) * size, Limit: size}
	recs, total, err := s.Core.ListRecommendations(r.Context(), f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RecommendationList{Recommendations: recs, Page: api.Page{Total: total, Page: page, PageSize: size}})
}

func (s *Server) handleGetRecommendation(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Core.GetRecommendation(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RecommendationBody{Recommendation: rec})
}

// recAudit fills the audit entry of an apply or reject from the recommendation.
func recAudit(r *http.Request, rec *berth.Recommendation) {
	st := state(r)
	st.audit.resourceType = "recommendation"
	if rec != nil {
		st.audit.target = rec.Target
		st.audit.details = map[string]any{"kind": string(rec.Kind), "source": rec.Source, "subject": rec.Subject.Name}
		if rec.Result != nil {
			st.audit.details["result"] = rec.Result
		}
	}
}

func (s *Server) handleApplyRecommendation(w http.ResponseWriter, r *http.Request) {
	var body api.ApplyRecommendationRequest
	// The body is optional.
	if err := decodeOptional(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	recAudit(r, nil)
	rec, err := s.Core.ApplyRecommendation(r.Context(), r.PathValue("id"), core.ApplyOptions{KeepVolume: body.KeepVolume})
	if err != nil {
		writeError(w, r, err)
		return
	}
	recAudit(r, rec)
	writeJSON(w, http.StatusOK, api.ApplyRecommendationResponse{Message: "Recommendation applied", Recommendation: rec})
}

func (s *Server) handleRejectRecommendation(w http.ResponseWriter, r *http.Request) {
	var body api.RejectRecommendationRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	recAudit(r, nil)
	rec, err := s.Core.RejectRecommendation(r.Context(), r.PathValue("id"), body.Reason)
	if err != nil {
		writeError(w, r, err)
		return
	}
	recAudit(r, rec)
	writeJSON(w, http.StatusOK, api.RecommendationBody{Recommendation: rec})
}

func (s *Server) handleRefreshRecommendations(w http.ResponseWriter, r *http.Request) {
	state(r).audit.resourceType = "recommendation"
	res, err := s.Core.RefreshRecommendations(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	state(r).audit.details = map[string]any{"raised": res.Raised, "expired": res.Expired, "suppressed": res.Suppressed}
	writeJSON(w, http.StatusOK, res)
}
