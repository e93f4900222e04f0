package api

import (
	"time"

	"github.com/berthhq/berth"
)

// Status is the answer of GET /api/v1/status: version, uptime, the store
// and every target with latency, the sampler's lag and the live-event hub.
type Status struct {
	Version       string        `json:"version"`
	Uptime        string        `json:"uptime"`
	UptimeSeconds int64         `json:"uptimeSeconds"`
	StartedAt     time.Time     `json:"startedAt"`
	Store         StoreStatus   `json:"store"`
	Targets       []TargetProbe `json:"targets"`
	// Leader says whether this replica runs the background loops, when
	// several share PostgreSQL.
	Leader  bool           `json:"leader"`
	Sampler *SamplerStatus `json:"sampler,omitempty"`
	Events  EventsStatus   `json:"events"`
	// RecommendationEngine is the external engine's health (absent when
	// none is configured).
	RecommendationEngine *berth.RecEngineStatus `json:"recommendationEngine,omitempty"`
}

// StoreStatus is the store's answer to a ping.
type StoreStatus struct {
	Kind      string  `json:"kind"` // sqlite | postgres
	Reachable bool    `json:"reachable"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

// TargetProbe is a target's answer to a ping.
type TargetProbe struct {
	Name      string  `json:"name"`
	Provider  string  `json:"provider,omitempty"`
	Region    string  `json:"region,omitempty"`
	Default   bool    `json:"default,omitempty"`
	Reachable bool    `json:"reachable"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

// SamplerStatus is the metrics sampler's lag (absent before its first
// round: Status says so).
type SamplerStatus struct {
	Status     string   `json:"status"` // ok | waiting for the first sample
	LagSeconds *float64 `json:"lagSeconds,omitempty"`
}

// EventsStatus is the live-event hub: whether it runs, its bus and clients.
type EventsStatus struct {
	Enabled        bool   `json:"enabled"`
	Bus            string `json:"bus,omitempty"` // local | postgres
	Clients        *int   `json:"clients,omitempty"`
	MaxClients     *int   `json:"maxClients,omitempty"`
	DroppedClients *int64 `json:"droppedClients,omitempty"`
}
