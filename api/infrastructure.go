package api

import "github.com/berthhq/berth"

// Inventory is the answer of GET /api/v1/infrastructure: everything berth
// runs, by target and type.
type Inventory struct {
	Targets   []TargetStatus   `json:"targets"`
	Resources []berth.Resource `json:"resources"`
	Total     int              `json:"total"`
}

// InfraActionResult is the answer of the start, stop and delete calls on
// one piece of infrastructure.
type InfraActionResult struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	ID      string `json:"id"`
}
