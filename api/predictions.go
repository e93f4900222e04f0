package api

import (
	"time"

	"github.com/berthhq/berth"
)

// PredictionList is the body of GET /api/v1/predictions: the predictions
// (berth.Prediction is the wire format), the nearest risk first.
type PredictionList struct {
	Predictions []berth.Prediction `json:"predictions"`
	Horizon     string             `json:"horizon"`
	GeneratedAt time.Time          `json:"generatedAt"`
}
