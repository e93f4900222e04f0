package api

// Index is the answer of GET / to API clients: where the rest is.
type Index struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Uptime  string `json:"uptime"`
	API     string `json:"api"`
	OpenAPI string `json:"openapi"`
	Health  string `json:"health"`
	Ready   string `json:"ready"`
}

// Health is the answer of GET /health.
type Health struct {
	Status  string `json:"status"` // healthy
	Uptime  string `json:"uptime"`
	Service string `json:"service"`
	Version string `json:"version"`
}

// Live is the answer of GET /live and /healthz.
type Live struct {
	Status string `json:"status"` // alive
}

// Ready is the answer of GET /ready and /readyz: 200 when every
// dependency answered, 503 otherwise, with each dependency's check
// ("store", "target:<name>").
type Ready struct {
	Status string           `json:"status"` // ready | not ready | shutting down
	Checks map[string]Check `json:"checks"`
}

// Check is one dependency's answer to the readiness probe.
type Check struct {
	Status    string `json:"status"` // ok | down
	LatencyMs int64  `json:"latencyMs"`
	Error     string `json:"error,omitempty"`
}
