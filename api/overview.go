package api

import (
	"time"

	"github.com/berthhq/berth"
)

// Overview is the answer of GET /api/v1/overview, the dashboard's first
// page as the caller may see it.
type Overview struct {
	Alerts       []Alert             `json:"alerts"`
	GeneratedAt  time.Time           `json:"generatedAt"`
	RecentAudit  []*berth.AuditEntry `json:"recentAudit"`
	Targets      []*TargetOverview   `json:"targets"`
	TopConsumers []ServiceUsage      `json:"topConsumers"`
	Totals       OverviewTotals      `json:"totals"`
	// Predictions are the nearest risks: series whose forecast reaches
	// their limit soonest within 72h.
	Predictions []berth.Prediction `json:"predictions"`
	// Recommendations counts the recommendations the caller may see and
	// the OPEN ones' total monthly saving (nil when the store keeps none).
	Recommendations *berth.RecSummary `json:"recommendations,omitempty"`
}

// OverviewTotals are the overview's counts over every target.
type OverviewTotals struct {
	Services     StatusCounts `json:"services"`
	Environments StatusCounts `json:"environments"`
}

// TargetOverview is one target's services and environments by status.
type TargetOverview struct {
	Name         string       `json:"name"`
	Provider     string       `json:"provider"`
	Region       string       `json:"region,omitempty"`
	Default      bool         `json:"default"`
	Services     StatusCounts `json:"services"`
	Environments StatusCounts `json:"environments"`
}

// StatusCounts counts objects by status.
type StatusCounts struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"`
}

// Add counts one object in status.
func (c *StatusCounts) Add(status string) {
	if c.ByStatus == nil {
		c.ByStatus = map[string]int{}
	}
	c.Total++
	c.ByStatus[status]++
}

// Merge adds o's counts to c.
func (c *StatusCounts) Merge(o StatusCounts) {
	if c.ByStatus == nil {
		c.ByStatus = map[string]int{}
	}
	for st, n := range o.ByStatus {
		c.ByStatus[st] += n
	}
	c.Total += o.Total
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
