package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/metrics"
)

// metricsHistory reads the history the sampler writes. The store of both
// kinds is a berth.MetricsStore; the retention is the sampler's default.
func (s *Server) metricsHistory() (*metrics.History, error) {
	if s.MetricsHistory != nil {
		return s.MetricsHistory, nil
	}
	ms, err := s.Core.MetricsStore()
	if err != nil {
		return nil, err
	}
	return metrics.NewHistory(ms, metrics.Retention{}, 0, s.Now), nil
}

// historyRequest reads range, step, metric (comma-separated or repeated),
// replicas, target and namespace from the query string.
func historyRequest(r *http.Request) (metrics.Request, error) {
	q := r.URL.Query()
	req := metrics.Request{Target: q.Get("target"), Namespace: q.Get("namespace"), Range: q.Get("range"), Step: q.Get("step")}
	for _, v := range q["metric"] {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				req.Metrics = append(req.Metrics, m)
			}
		}
	}
	var err error
	req.Replicas, err = queryBool(r, "replicas")
	return req, err
}

// handleMetricsQuery answers /api/v1/metrics (default range 1h) and
// /api/v1/metrics/history (default 24h): time series of the services, one
// service (?service=, with its replicas when ?replicas=true) or one
// environment the caller may read (?environment=).
func (s *Server) handleMetricsQuery(defaultRange time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := historyRequest(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		req.Service = r.URL.Query().Get("service")
		if err := s.Core.CheckNamespace(req.Target, req.Namespace); err != nil {
			writeError(w, r, err) // a local target has no namespaces
			return
		}
		if id := r.URL.Query().Get("environment"); id != "" {
			if req.Service != "" {
				writeError(w, r, berth.Invalid("environment", "give service or environment, not both"))
				return
			}
			// Another user's environment is NOT_FOUND, as everywhere.
			env, err := s.Core.GetEnvironment(r.Context(), id)
			if err != nil {
				writeError(w, r, err)
				return
			}
			req.Environment, req.Target, req.Namespace = env.ID, env.Target, ""
		}
		h, err := s.metricsHistory()
		if err != nil {
			writeError(w, r, err)
			return
		}
		res, err := h.Query(r.Context(), req, defaultRange)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// handleServiceMetrics answers the live usage of each replica (cpuSeconds
// cumulative, memoryBytes) and the service's history with its replicas.
func (s *Server) handleServiceMetrics(w http.ResponseWriter, r *http.Request) {
	req, err := historyRequest(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	svc, usage, err := s.Core.ServiceUsage(r.Context(), query(r))
	if err != nil && (svc == nil || !berth.IsCode(err, berth.ENOTSUPPORTED)) {
		writeError(w, r, err)
		return
	}
	var cpu float64
	var rss int64
	for _, u := range usage {
		cpu += u.CPUSeconds
		rss += u.RSSBytes
	}
	if usage == nil {
		usage = []berth.ReplicaUsage{}
	}
	out := api.ServiceMetrics{Service: svc.Name, Target: svc.Target, Time: s.Now().UTC(),
		Replicas: usage, CPUSeconds: cpu, MemoryBytes: rss}
	h, herr := s.metricsHistory()
	if herr == nil {
		req.Service, req.Target, req.Namespace = svc.Name, svc.Target, svc.Namespace
		if r.URL.Query().Get("replicas") == "" {
			req.Replicas = true
		}
		res, err := h.Query(r.Context(), req, time.Hour)
		if err != nil {
			writeError(w, r, err)
			return
		}
		out.History = res
	}
	writeJSON(w, http.StatusOK, out)
}
