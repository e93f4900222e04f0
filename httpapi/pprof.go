package httpapi

import (
	"net/http"
	"net/http/pprof"

	"github.com/berthhq/berth"
)

// handlePprof serves Go's runtime profiles to admins when Deps.Pprof is on
// (NOT_FOUND otherwise, as if the route did not exist).
func (s *Server) handlePprof(w http.ResponseWriter, r *http.Request) {
	if !s.Pprof {
		writeError(w, r, berth.Errorf(berth.ENOTFOUND, "pprof is not enabled (pprof: true in berth.yaml, or BERTH_PPROF=true)"))
		return
	}
	switch name := r.PathValue("name"); name {
	case "":
		pprof.Index(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Handler(name).ServeHTTP(w, r)
	}
}
