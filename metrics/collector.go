package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/berthhq/berth"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the workloads of runtimes that list their usage (the
// local runtime) under cAdvisor's names, so that one PromQL fits every
// target: namespace = target name, pod = replica name ("web-0", "env-<id>"),
// container = service name ("workspace" for an environment).
type Collector struct {
	// HideEnvironments leaves environments out: their pod label is the
	// environment's id, which an unauthenticated /metrics must not list.
	HideEnvironments bool

	runtimes []berth.Runtime
	timeout  time.Duration
	log      *slog.Logger
	cpu, mem *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector exports the runtimes among rts that are berth.UsageLister.
func NewCollector(log *slog.Logger, rts ...berth.Runtime) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{timeout: 5 * time.Second, log: log}
	for _, rt := range rts {
		if _, ok := rt.(berth.UsageLister); ok {
			c.runtimes = append(c.runtimes, rt)
		}
	}
	labels := []string{"namespace", "pod", "container"}
	c.cpu = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative CPU time of the workload's processes, in seconds (cAdvisor's name).", labels, nil)
	c.mem = prometheus.NewDesc("container_memory_working_set_bytes",
		"Resident memory of the workload's processes, in bytes (cAdvisor's name).", labels, nil)
	return c
}

// Describe sends the two descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.mem
}

// Collect measures every workload now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type labels struct{ ns, pod, ctr string }
	type sums struct{ cpu, mem float64 }
	for _, rt := range c.runtimes {
		target := rt.Info().Name
		us, err := rt.(berth.UsageLister).Usage(ctx)
		if err != nil {
			c.log.Warn("collect workload usage", "target", target, "err", err)
			continue
		}
		// A rolling update briefly runs two processes under one replica
		// name: sum them, as one label set may be exported only once.
		agg := map[labels]*sums{}
		var order []labels
		for _, u := range us {
			if u.Service == "" && c.HideEnvironments {
				continue
			}
			l := labels{target, u.Replica, u.Service}
			if u.Service == "" {
				l.ctr = "workspace"
			}
			if agg[l] == nil {
				agg[l] = &sums{}
				order = append(order, l)
			}
			agg[l].cpu += u.CPUSeconds
			agg[l].mem += float64(u.RSSBytes)
		}
		for _, l := range order {
			ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, agg[l].cpu, l.ns, l.pod, l.ctr)
			ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, agg[l].mem, l.ns, l.pod, l.ctr)
		}
	}
}
