package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// UsageSource reports what each service consumes now, for the overview's
// top consumers (the metrics sampler's last tick).
type UsageSource interface {
	ServiceUsage(ctx context.Context) ([]ServiceUsage, error)
}

// The overview's wire types live in package api; these names keep core's
// callers as they were.
type (
	// ServiceUsage is a service's current consumption, summed over its replicas.
	ServiceUsage = api.ServiceUsage
	// StatusCounts counts objects by status.
	StatusCounts = api.StatusCounts
	// TargetOverview is one target's services and environments by status.
	TargetOverview = api.TargetOverview
	// Alert is something an operator should look at.
	Alert = api.Alert
	// Overview is the dashboard's first page, as the caller may see it.
	Overview = api.Overview
)

// topConsumers is how many services the overview ranks; recentAudit how
// many audit entries it shows.
const (
	topConsumers = 5
	recentAudit  = 10
	// crashLoopRestarts is the restart count from which a backing-off
	// replica counts as crash-looping.
	crashLoopRestarts = 3
)

// Overview counts services and environments by status per target (the
// caller's own environments unless admin), ranks the top consumers of
// usage (nil: none), lists the caller's recent audit entries (everyone's
// for admins) and raises alerts: environments in ERROR, services not
// running, crash loops told apart from degraded rollouts.
func (c *Core) Overview(ctx context.Context, usage UsageSource) (*Overview, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	ov := &Overview{TopConsumers: []ServiceUsage{}, Alerts: []Alert{}}
	targets := map[string]*TargetOverview{}
	for _, t := range c.Targets() {
		to := &TargetOverview{Name: t.Name, Provider: t.Provider, Region: t.Region, Default: t.Default,
			Services: StatusCounts{ByStatus: map[string]int{}}, Environments: StatusCounts{ByStatus: map[string]int{}}}
		targets[t.Name] = to
		ov.Targets = append(ov.Targets, to)
	}
	if err := c.overviewServices(ctx, ov, targets); err != nil {
		return nil, err
	}
	if err := c.overviewEnvironments(ctx, ov, targets); err != nil {
		return nil, err
	}
	slices.SortStableFunc(ov.Alerts, func(x, y Alert) int {
		return cmp.Or(cmp.Compare(severityRank(x.Severity), severityRank(y.Severity)), cmp.Compare(x.Resource, y.Resource))
	})
	ov.TopConsumers = c.topConsumers(ctx, usage)
	var err error
	if ov.RecentAudit, _, err = c.ListAudit(ctx, berth.AuditFilter{Limit: recentAudit}); err != nil {
		return nil, err
	}
	ov.Totals.Services.ByStatus, ov.Totals.Environments.ByStatus = map[string]int{}, map[string]int{}
	for _, to := range ov.Targets {
		ov.Totals.Services.Merge(to.Services)
		ov.Totals.Environments.Merge(to.Environments)
	}
	ov.Predictions = c.nearestRisks(ctx)
	if sum, err := c.RecommendationSummary(ctx); err == nil {
		ov.Recommendations = sum
	} else if !berth.IsCode(err, berth.ENOTSUPPORTED) {
		return nil, err
	}
	ov.GeneratedAt = c.now().UTC()
	return ov, nil
}

// severityRank orders alerts critical first.
func severityRank(s string) int {
	if s == "critical" {
		return 0
	}
	return 1
}

func (c *Core) overviewServices(ctx context.Context, ov *Overview, targets map[string]*TargetOverview) error {
	l, err := c.ListServices(ctx, "", 0, 0)
	if err != nil {
		return err
	}
	for _, svc := range l.Services {
		if to, ok := targets[svc.Target]; ok {
			to.Services.Add(string(svc.Status))
		}
		if a, ok := c.serviceAlert(ctx, svc); ok {
			ov.Alerts = append(ov.Alerts, a)
		}
	}
	return nil
}

func (c *Core) overviewEnvironments(ctx context.Context, ov *Overview, targets map[string]*TargetOverview) error {
	envs, _, err := c.ListEnvironments(ctx, "", 0, 0) // the caller's own unless admin
	if err != nil {
		return err
	}
	for _, env := range envs {
		if to, ok := targets[env.Target]; ok {
			to.Environments.Add(string(env.Status))
		}
		if env.Status == berth.EnvError {
			ov.Alerts = append(ov.Alerts, Alert{Severity: "critical", Kind: "error", ResourceType: "environment", Resource: env.ID,
				Target: env.Target, Message: fmt.Sprintf("environment %s (%s) is in ERROR: %s", env.Name, env.ID, env.Message)})
		}
	}
	return nil
}

// topConsumers ranks services by CPU, then memory.
func (c *Core) topConsumers(ctx context.Context, usage UsageSource) []ServiceUsage {
	top := []ServiceUsage{}
	if usage == nil {
		return top
	}
	u, err := usage.ServiceUsage(ctx)
	if err != nil {
		c.log.Warn("overview: service usage", "err", err)
	}
	top = append(top, u...)
	slices.SortFunc(top, func(x, y ServiceUsage) int {
		return cmp.Or(-cmp.Compare(x.CPUCores, y.CPUCores), -cmp.Compare(x.MemoryBytes, y.MemoryBytes), cmp.Compare(x.Name, y.Name))
	})
	return top[:min(len(top), topConsumers)]
}

// serviceAlert looks at a service that is not plainly running: its
// replicas' restarts tell a crash loop from a degraded rollout. Only those
// services cost a look at their replicas (one runtime call, no store read).
func (c *Core) serviceAlert(ctx context.Context, svc *berth.Service) (Alert, bool) {
	key := svc.Ref().String()
	if svc.Status == berth.ServiceRunning || svc.Status == berth.ServiceStopped || svc.Status == berth.ServicePending {
		c.restartsMu.Lock()
		delete(c.restarts, key)
		c.restartsMu.Unlock()
		return Alert{}, false
	}
	alert := Alert{Severity: "warning", Kind: "degraded", ResourceType: "service", Resource: svc.Name, Target: svc.Target, Namespace: svc.Namespace,
		Message: fmt.Sprintf("service %s is %s (%d/%d ready)", svc.Name, svc.Status, svc.ReadyReplicas, svc.Replicas)}
	if svc.Status == berth.ServiceError {
		alert.Severity, alert.Kind = "critical", "error"
	}
	if svc.Message != "" {
		alert.Message += ": " + svc.Message
	}
	obs := *svc
	if err := c.observe(ctx, &obs); err != nil {
		return alert, true
	}
	restarts, looping, lastExit := 0, 0, ""
	for _, in := range obs.Instances {
		restarts += in.Restarts
		if in.Restarts >= crashLoopRestarts && (in.State == "backoff" || in.State == "exited" || !in.Ready) {
			looping++
			lastExit = in.LastExit
		}
	}
	c.restartsMu.Lock()
	prev, seen := c.restarts[key]
	if c.restarts == nil {
		c.restarts = map[string]int{}
	}
	c.restarts[key] = restarts
	c.restartsMu.Unlock()
	if looping > 0 {
		alert.Severity, alert.Kind = "critical", "crashloop"
		alert.Message = fmt.Sprintf("service %s: %d of %d replicas crash-looping (%d restarts", svc.Name, looping, len(obs.Instances), restarts)
		if seen && restarts > prev {
			alert.Message += fmt.Sprintf(", +%d since the last overview", restarts-prev)
		}
		alert.Message += ")"
		if lastExit != "" {
			alert.Message += "; last exit: " + lastExit
		}
	}
	return alert, true
}
