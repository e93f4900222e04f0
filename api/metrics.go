package api

import (
	"time"

	"github.com/berthhq/berth"
)

// MetricsHistory is the answer of GET /api/v1/metrics and
// /api/v1/metrics/history: time series over a range, at a resolution.
type MetricsHistory struct {
	From       time.Time            `json:"from"`
	To         time.Time            `json:"to"`
	Range      string               `json:"range"`
	Step       string               `json:"step"`
	Resolution string               `json:"resolution"` // raw, 1m, 1h
	Series     []berth.MetricSeries `json:"series"`
}
