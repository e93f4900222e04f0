package api

import (
	"time"

	"github.com/berthhq/berth"
)

// EnvironmentEnvelope is the answer of the calls on one environment:
// {"environment": …, "message"}.
type EnvironmentEnvelope struct {
	Environment *berth.Environment `json:"environment"`
	Message     string             `json:"message,omitempty"`
}

// EnvironmentList is one page of environments (GET /api/v1/environments).
type EnvironmentList struct {
	Environments []*berth.Environment `json:"environments"`
	Page
}

// EnvOpening is the answer of POST /api/v1/environments/{id}/open.
type EnvOpening struct {
	// URL opens the environment: the proxy's URL with a single-use ticket,
	// or the environment's own URL on targets that are not proxied.
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"` // of the ticket
	Proxied   bool       `json:"proxied"`
}

// EnvironmentLogs is the answer of GET /api/v1/environments/{id}/logs
// without follow (with follow=true: one berth.LogLine per NDJSON line).
type EnvironmentLogs struct {
	Environment string          `json:"environment"`
	Lines       []berth.LogLine `json:"lines"`
}
