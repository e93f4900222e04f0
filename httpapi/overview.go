package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
)

// Usage reports what each service consumes now, for the overview's top
// consumers.
type Usage = core.UsageSource

// ServiceUsage is a service's current consumption, summed over its replicas.
type ServiceUsage = core.ServiceUsage

// Alert is something an operator should look at (core.Overview raises them).
type Alert = core.Alert

type statusCounts = core.StatusCounts

// SamplerLag reports how long ago the metrics sampler last measured
// (negative before its first round): *metrics.Sampler.
type SamplerLag interface {
	Lag() time.Duration
}

// SamplerUsage answers Usage from the sampler's last tick, so the overview
// costs no measurement of its own.
func SamplerUsage(s interface{ Latest() *metrics.Tick }) Usage { return samplerUsage{s} }

type samplerUsage struct {
	s interface{ Latest() *metrics.Tick }
}

func (u samplerUsage) ServiceUsage(context.Context) ([]ServiceUsage, error) {
	t := u.s.Latest()
	if t == nil {
		return nil, nil
	}
	out := make([]ServiceUsage, 0, len(t.Services))
	for _, s := range t.Services {
		out = append(out, ServiceUsage{Target: s.Target, Namespace: s.Namespace, Name: s.Name,
			CPUCores: s.Values[berth.MetricCPU], MemoryBytes: s.Values[berth.MetricMemory], Replicas: len(s.Replicas)})
	}
	return out, nil
}

// handleOverview: per target, services and environments by status; top
// consumers; recent audit entries (own unless admin); alerts.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	ov, err := s.Core.Overview(r.Context(), s.Usage)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ov)
}

type probe struct {
	Name      string  `json:"name"`
	Provider  string  `json:"provider,omitempty"`
	Region    string  `json:"region,omitempty"`
	Default   bool    `json:"default,omitempty"`
	Reachable bool    `json:"reachable"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

func toProbe(p core.Probe) probe {
	out := probe{Name: p.Name, Provider: p.Provider, Region: p.Region, Default: p.Default, Reachable: p.Err == nil,
		LatencyMs: float64(p.Latency.Microseconds()) / 1000}
	if p.Err != nil {
		out.Error = berth.ErrorMessage(p.Err)
	}
	return out
}

// handleStatus: version, uptime, the store and every target with latency,
// the sampler's lag and the live-event hub.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	sp, tps := s.Core.Probe(ctx)
	st := toProbe(sp)
	probes := make([]probe, len(tps))
	for i, p := range tps {
		probes[i] = toProbe(p)
	}

	out := map[string]any{
		"version": s.Version, "uptime": s.uptime(), "uptimeSeconds": int64(s.Now().Sub(s.Started).Seconds()),
		"startedAt": s.Started.UTC(),
		"store":     map[string]any{"kind": st.Name, "reachable": st.Reachable, "latencyMs": st.LatencyMs, "error": st.Error},
		"targets":   probes,
		// Which replica runs the background loops, when several share PostgreSQL.
		"leader": s.Leading == nil || s.Leading(),
	}
	if s.Sampler != nil {
		lag := s.Sampler.Lag()
		sm := map[string]any{"status": "ok", "lagSeconds": lag.Seconds()}
		if lag < 0 {
			sm = map[string]any{"status": "waiting for the first sample"}
		}
		out["sampler"] = sm
	}
	ev := map[string]any{"enabled": s.Hub != nil}
	if k, ok := s.Events.(interface{ Kind() string }); ok {
		ev["bus"] = k.Kind()
	}
	if s.Hub != nil {
		ev["clients"], ev["maxClients"], ev["droppedClients"] = s.Hub.Clients(), s.Hub.MaxClients(), s.Hub.Dropped()
	}
	out["events"] = ev
	if eng := s.Core.EngineStatus(); eng != nil {
		out["recommendationEngine"] = eng
	}
	writeJSON(w, http.StatusOK, out)
}
