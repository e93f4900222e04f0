package api

import "github.com/berthhq/berth"

// TargetList is the answer of GET /api/v1/targets: every configured target
// with its capabilities.
type TargetList struct {
	Targets []berth.TargetInfo `json:"targets"`
}

// TargetStatus is a target and whether it answered.
type TargetStatus struct {
	berth.TargetInfo
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}
