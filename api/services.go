package api

import (
	"time"

	"github.com/berthhq/berth"
)

// ServiceResult is the answer of the calls on one service: {"service": …,
// "message"} (GET, PUT, start, stop, restart, scale, rollback, config).
type ServiceResult struct {
	Service *berth.Service `json:"service"`
	Message string         `json:"message,omitempty"`
}

// ServiceList is one page of services (GET /api/v1/services).
type ServiceList struct {
	Services []*berth.Service `json:"services"`
	Page
	// Unreachable are targets whose own services (those berth did not
	// create) could not be listed: the page holds only their stored ones.
	Unreachable []TargetStatus `json:"unreachable,omitempty"`
}

// ScaleRequest is the body of POST /api/v1/services/{name}/scale.
type ScaleRequest struct {
	Replicas *int `json:"replicas"`
}

// RollbackRequest is the body of POST /api/v1/services/{name}/rollback;
// no body or revision 0 means the previous revision.
type RollbackRequest struct {
	Revision int `json:"revision,omitempty"`
}

// RevisionList is the answer of GET /api/v1/services/{name}/revisions,
// newest first.
type RevisionList struct {
	Revisions []*berth.Revision `json:"revisions"`
	Total     int               `json:"total"`
}

// ServiceConfig is the answer of GET /api/v1/services/{name}/config: the
// revisioned configuration of a service.
type ServiceConfig struct {
	Config   berth.Config      `json:"config"`
	Env      map[string]string `json:"env"`
	Revision int               `json:"revision"`
}

// ConfigUpdate is the body of PUT /api/v1/services/{name}/config: the files
// and/or the environment to put in place; an absent (nil) one is left as
// it is, an empty one clears.
type ConfigUpdate struct {
	Files map[string]string `json:"files,omitzero"`
	Env   map[string]string `json:"env,omitzero"`
}

// ServiceLogs is the answer of GET /api/v1/services/{name}/logs without
// follow (with follow=true: one berth.LogLine per NDJSON line).
type ServiceLogs struct {
	Service string          `json:"service"`
	Lines   []berth.LogLine `json:"lines"`
}

// ServiceMetrics is the answer of GET /api/v1/services/{name}/metrics: each
// replica's live usage, their sums, and the service's history (absent when
// the store keeps none).
type ServiceMetrics struct {
	Service     string               `json:"service"`
	Target      string               `json:"target"`
	Time        time.Time            `json:"time"`
	Replicas    []berth.ReplicaUsage `json:"replicas"`
	CPUSeconds  float64              `json:"cpuSeconds"`
	MemoryBytes int64                `json:"memoryBytes"`
	History     *MetricsHistory      `json:"history,omitempty"`
}
