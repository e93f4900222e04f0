package main

import (
	"context"

	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/wshub"
)

// statusCollector exports what the alert rules in deploy/prometheus watch:
// leadership, target reachability, the sampler's per-service view and lag,
// WebSocket clients and drops, cloud throttling.
func statusCollector(ts *targets, c *core.Core, sampler *metrics.Sampler, hub *wshub.Hub, leading func() bool) *metrics.StatusCollector {
	return metrics.NewStatusCollector(metrics.StatusConfig{
		Version: version, Leading: leading, Sampler: sampler, Runtimes: ts.runtimes,
		WSClients: hub.Clients, WSDropped: hub.Dropped,
		Probe: func(ctx context.Context) []metrics.TargetProbe {
			_, ps := c.Probe(ctx)
			out := make([]metrics.TargetProbe, len(ps))
			for i, p := range ps {
				out[i] = metrics.TargetProbe{Name: p.Name, Err: p.Err}
			}
			return out
		},
	})
}
