package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
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

func toProbe(p core.Probe) api.TargetProbe {
	out := api.TargetProbe{Name: p.Name, Provider: p.Provider, Region: p.Region, Default: p.Default, Reachable: p.Err == nil,
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
	out := api.Status{
		Version: s.Version, Uptime: s.uptime(), UptimeSeconds: int64(s.Now().Sub(s.Started).Seconds()),
		StartedAt: s.Started.UTC(),
		Store:     api.StoreStatus{Kind: st.Name, Reachable: st.Reachable, LatencyMs: st.LatencyMs, Error: st.Error},
		Targets:   make([]api.TargetProbe, len(tps)),
		Leader:    s.Leading == nil || s.Leading(),
		Sampler:   s.samplerStatus(),
		Events:    s.eventsStatus(),
	}
	for i, p := range tps {
		out.Targets[i] = toProbe(p)
	}
	if eng := s.Core.EngineStatus(); eng != nil {
		out.RecommendationEngine = eng
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) samplerStatus() *api.SamplerStatus {
	if s.Sampler == nil {
		return nil
	}
	lag := s.Sampler.Lag()
	if lag < 0 {
		return &api.SamplerStatus{Status: "waiting for the first sample"}
	}
	secs := lag.Seconds()
	return &api.SamplerStatus{Status: "ok", LagSeconds: &secs}
}

func (s *Server) eventsStatus() api.EventsStatus {
	ev := api.EventsStatus{Enabled: s.Hub != nil}
	if k, ok := s.Events.(interface{ Kind() string }); ok {
		ev.Bus = k.Kind()
	}
	if s.Hub != nil {
		clients, maxClients, dropped := s.Hub.Clients(), s.Hub.MaxClients(), s.Hub.Dropped()
		ev.Clients, ev.MaxClients, ev.DroppedClients = &clients, &maxClients, &dropped
	}
	return ev
}
