package httpapi

import (
	"net/http"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func (s *Server) handleInfrastructure(w http.ResponseWriter, r *http.Request) {
	inv, err := s.Core.Infrastructure(r.Context(), r.URL.Query().Get("type"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (s *Server) infraAction(w http.ResponseWriter, r *http.Request, action string) {
	typ, id, target := r.PathValue("type"), r.PathValue("id"), r.URL.Query().Get("target")
	st := state(r)
	st.audit.resourceType, st.audit.resource, st.audit.target = typ, id, target
	if err := berth.ValidateDNSLabel("type", typ); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.Core.InfraAction(r.Context(), typ, id, target, action); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.InfraActionResult{Message: typ + " " + id + ": " + action + " done", Type: typ, ID: id})
}

func (s *Server) handleInfraStart(w http.ResponseWriter, r *http.Request) {
	s.infraAction(w, r, "start")
}
func (s *Server) handleInfraStop(w http.ResponseWriter, r *http.Request) { s.infraAction(w, r, "stop") }
func (s *Server) handleInfraDelete(w http.ResponseWriter, r *http.Request) {
	s.infraAction(w, r, "delete")
}
