package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
)

// Usage reports what each service consumes now, for the overview's top
// consumers.
type Usage interface {
	ServiceUsage(ctx context.Context) ([]ServiceUsage, error)
}

// ServiceUsage is a service's current consumption, summed over its replicas.
type ServiceUsage struct {
	Target      string  `json:"target"`
	Namespace   string  `json:"namespace,omitempty"`
	Name        string  `json:"name"`
	CPUCores    float64 `json:"cpuCores"`
	MemoryBytes float64 `json:"memoryBytes"`
	Replicas    int     `json:"replicas"`
}

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

// topConsumers is how many services the overview ranks; recentAudit how
// many audit entries it shows.
const (
	topConsumers = 5
	recentAudit  = 10
	// crashLoopRestarts is the restart count from which a backing-off
	// replica counts as crash-looping.
	crashLoopRestarts = 3
)

type statusCounts struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"`
}

func (c *statusCounts) add(status string) {
	if c.ByStatus == nil {
		c.ByStatus = map[string]int{}
	}
	c.Total++
	c.ByStatus[status]++
}

type targetOverview struct {
	Name         string       `json:"name"`
	Provider     string       `json:"provider"`
	Region       string       `json:"region,omitempty"`
	Default      bool         `json:"default"`
	Services     statusCounts `json:"services"`
	Environments statusCounts `json:"environments"`
}

// Alert is something an operator should look at.
type Alert struct {
	Severity     string `json:"severity"` // warning | critical
	Kind         string `json:"kind"`     // crashloop | degraded | error
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Target       string `json:"target"`
	Namespace    string `json:"namespace,omitempty"` // of a service on Kubernetes
	Message      string `json:"message"`
}

// restartMemory remembers each service's restart total between overviews,
// so an alert can say the restarts are still rising.
type restartMemory struct {
	sync.Mutex
	m map[string]int
}

// handleOverview: per target, services and environments by status; top
// consumers; recent audit entries (own unless admin); alerts.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := state(r).actor
	targets := map[string]*targetOverview{}
	var order []*targetOverview
	for _, t := range s.Core.Targets() {
		to := &targetOverview{Name: t.Name, Provider: t.Provider, Region: t.Region, Default: t.Default,
			Services: statusCounts{ByStatus: map[string]int{}}, Environments: statusCounts{ByStatus: map[string]int{}}}
		targets[t.Name] = to
		order = append(order, to)
	}
	l, err := s.Core.ListServices(ctx, "", 0, 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	svcs := l.Services
	envs, _, err := s.Core.ListEnvironments(ctx, "", 0, 0) // the caller's own unless admin
	if err != nil {
		writeError(w, r, err)
		return
	}
	alerts := []Alert{}
	for _, svc := range svcs {
		if to, ok := targets[svc.Target]; ok {
			to.Services.add(string(svc.Status))
		}
		alerts = append(alerts, s.serviceAlerts(ctx, svc)...)
	}
	for _, env := range envs {
		if to, ok := targets[env.Target]; ok {
			to.Environments.add(string(env.Status))
		}
		if env.Status == berth.EnvError {
			alerts = append(alerts, Alert{Severity: "critical", Kind: "error", ResourceType: "environment", Resource: env.ID,
				Target: env.Target, Message: fmt.Sprintf("environment %s (%s) is in ERROR: %s", env.Name, env.ID, env.Message)})
		}
	}
	slices.SortStableFunc(alerts, func(x, y Alert) int {
		return cmp.Or(-cmp.Compare(x.Severity, y.Severity), cmp.Compare(x.Resource, y.Resource)) // critical first
	})

	top := []ServiceUsage{}
	if s.Usage != nil {
		u, err := s.Usage.ServiceUsage(ctx)
		if err != nil {
			s.Logger.Warn("overview: service usage", "err", err)
		}
		top = append(top, u...)
		slices.SortFunc(top, func(x, y ServiceUsage) int {
			return cmp.Or(-cmp.Compare(x.CPUCores, y.CPUCores), -cmp.Compare(x.MemoryBytes, y.MemoryBytes), cmp.Compare(x.Name, y.Name))
		})
		top = top[:min(len(top), topConsumers)]
	}

	f := berth.AuditFilter{Limit: recentAudit}
	if a.Role != berth.RoleAdmin {
		f.User = a.UserID
	}
	entries, _, err := s.Audit.ListAudit(ctx, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if entries == nil {
		entries = []*berth.AuditEntry{}
	}
	var totals struct {
		Services     statusCounts `json:"services"`
		Environments statusCounts `json:"environments"`
	}
	totals.Services.ByStatus, totals.Environments.ByStatus = map[string]int{}, map[string]int{}
	for _, to := range order {
		for st, n := range to.Services.ByStatus {
			totals.Services.ByStatus[st] += n
		}
		for st, n := range to.Environments.ByStatus {
			totals.Environments.ByStatus[st] += n
		}
		totals.Services.Total += to.Services.Total
		totals.Environments.Total += to.Environments.Total
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"targets": order, "totals": totals, "topConsumers": top, "recentAudit": entries, "alerts": alerts,
		"generatedAt": s.Now().UTC(),
	})
}

// serviceAlerts looks at a service that is not plainly running: its
// replicas' restarts tell a crash loop from a degraded rollout.
func (s *Server) serviceAlerts(ctx context.Context, svc *berth.Service) []Alert {
	key := svc.Ref().String()
	if svc.Status == berth.ServiceRunning || svc.Status == berth.ServiceStopped || svc.Status == berth.ServicePending {
		s.restarts.Lock()
		delete(s.restarts.m, key)
		s.restarts.Unlock()
		return nil
	}
	alert := Alert{Severity: "warning", Kind: "degraded", ResourceType: "service", Resource: svc.Name, Target: svc.Target, Namespace: svc.Namespace,
		Message: fmt.Sprintf("service %s is %s (%d/%d ready)", svc.Name, svc.Status, svc.ReadyReplicas, svc.Replicas)}
	if svc.Status == berth.ServiceError {
		alert.Severity, alert.Kind = "critical", "error"
	}
	if svc.Message != "" {
		alert.Message += ": " + svc.Message
	}
	full, err := s.Core.GetService(ctx, core.ServiceQuery{Name: svc.Name, Target: svc.Target, Namespace: svc.Namespace})
	if err != nil {
		return []Alert{alert}
	}
	restarts, looping, lastExit := 0, 0, ""
	for _, in := range full.Instances {
		restarts += in.Restarts
		if in.Restarts >= crashLoopRestarts && (in.State == "backoff" || in.State == "exited" || !in.Ready) {
			looping++
			lastExit = in.LastExit
		}
	}
	s.restarts.Lock()
	prev, seen := s.restarts.m[key]
	s.restarts.m[key] = restarts
	s.restarts.Unlock()
	if looping > 0 {
		alert.Severity, alert.Kind = "critical", "crashloop"
		alert.Message = fmt.Sprintf("service %s: %d of %d replicas crash-looping (%d restarts", svc.Name, looping, len(full.Instances), restarts)
		if seen && restarts > prev {
			alert.Message += fmt.Sprintf(", +%d since the last overview", restarts-prev)
		}
		alert.Message += ")"
		if lastExit != "" {
			alert.Message += "; last exit: " + lastExit
		}
	}
	return []Alert{alert}
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

// handleStatus: version, uptime, the store and every target with latency,
// the sampler's lag and the live-event hub.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	ping := func(fn func(context.Context) error, p *probe) {
		start := time.Now()
		err := fn(ctx)
		p.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
		p.Reachable = err == nil
		if err != nil {
			p.Error = berth.ErrorMessage(err)
		}
	}
	targets := s.Core.Targets()
	probes := make([]probe, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		probes[i] = probe{Name: t.Name, Provider: t.Provider, Region: t.Region, Default: t.Default}
		rt, _ := s.Core.Runtime(t.Name)
		wg.Add(1)
		go func() { defer wg.Done(); ping(rt.Ping, &probes[i]) }()
	}
	st := probe{Name: "store"}
	if k, ok := s.Core.Store().(interface{ Kind() string }); ok {
		st.Name = k.Kind()
	}
	ping(s.Core.Store().Ping, &st)
	wg.Wait()

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
	writeJSON(w, http.StatusOK, out)
}
