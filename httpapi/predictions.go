package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/predict"
)

// handleListPredictions answers GET /api/v1/predictions?service=&environment=&metric=&horizon=.
func (s *Server) handleListPredictions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pq := core.PredictionQuery{Environment: q.Get("environment"), Metric: q.Get("metric"), Horizon: predict.DefaultHorizon}
	pq.Service = query(r)
	pq.Service.Name = q.Get("service")
	if pq.Service.Name == "" && (pq.Service.Target != "" || pq.Service.Namespace != "") {
		writeError(w, r, berth.Invalid("service", "target and namespace select a service: give service too"))
		return
	}
	if ns, name, ok := strings.Cut(pq.Service.Name, "/"); ok && pq.Service.Namespace == "" {
		pq.Service.Namespace, pq.Service.Name = ns, name
	}
	if h := q.Get("horizon"); h != "" {
		d, err := metrics.ParseDuration(h)
		if err != nil {
			writeError(w, r, berth.Invalid("horizon", "%q is not a duration such as 24h or 7d", h))
			return
		}
		pq.Horizon = d
	}
	preds, err := s.Core.Predictions(r.Context(), pq)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.PredictionList{Predictions: preds, Horizon: predict.FormatHours(pq.Horizon), GeneratedAt: s.Now().UTC().Truncate(time.Second)})
}
