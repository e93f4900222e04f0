package core

import (
	"context"
	"time"

	"github.com/berthhq/berth"
	"github.com/prometheus/client_golang/prometheus"
)

// usageCollector exports metered usage per user on /metrics, as counters
// since metering began: what a user held only grows. It names users, so
// the wiring registers it only when /metrics needs a token.
type usageCollector struct {
	c     *Core
	descs map[string]*prometheus.Desc
}

var usageMetricNames = []struct{ name, help string }{
	{"berth_usage_cpu_core_hours_total", "Core-hours held by a user's running environments and services (metered from state transitions)."},
	{"berth_usage_memory_gb_hours_total", "GB-hours of memory held by a user's running environments and services."},
	{"berth_usage_storage_gb_hours_total", "GB-hours of storage kept by a user's environments, stopped ones included."},
	{"berth_usage_running_hours_total", "Hours a user's environments ran, plus replica-hours of their services."},
	{"berth_usage_cost_total", "Cost of a user's usage from each target's price table, in the report's currency."},
}

// UsageCollector returns the per-user usage counters for /metrics.
func (c *Core) UsageCollector() prometheus.Collector {
	u := &usageCollector{c: c, descs: map[string]*prometheus.Desc{}}
	for _, m := range usageMetricNames {
		u.descs[m.name] = prometheus.NewDesc(m.name, m.help, []string{"user"}, nil)
	}
	return u
}

func (u *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range u.descs {
		ch <- d
	}
}

func (u *usageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(berth.WithActor(context.Background(), berth.System), 10*time.Second)
	defer cancel()
	rep, err := u.c.Usage(ctx, UsageRequest{From: time.Unix(0, 0).UTC(), To: u.c.now().UTC(), GroupBy: berth.GroupByUser})
	if err != nil {
		u.c.log.Error("usage metrics", "err", err)
		return
	}
	for _, r := range rep.Usage {
		for name, v := range map[string]float64{
			"berth_usage_cpu_core_hours_total": r.CPUCoreHours, "berth_usage_memory_gb_hours_total": r.MemoryGBHours,
			"berth_usage_storage_gb_hours_total": r.StorageGBHours, "berth_usage_running_hours_total": r.RunningHours,
			"berth_usage_cost_total": r.Cost,
		} {
			ch <- prometheus.MustNewConstMetric(u.descs[name], prometheus.CounterValue, v, r.Name)
		}
	}
}
