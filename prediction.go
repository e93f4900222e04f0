package berth

import "time"

// Prediction is where one measured series (a service's or an
// environment's CPU or memory) is heading: a trend fitted to its hourly
// rollups, the forecast over the horizon with a band, the time it reaches
// its limit (the service's requests × replicas, or the environment's size)
// when that falls within the horizon, and the method's own backtest error,
// so that a reader sees how far to trust it. The body of each item of
// GET /api/v1/predictions and of the overview's predictions.
type Prediction struct {
	Subject   PredictionSubject `json:"subject"`
	Target    string            `json:"target"`
	Namespace string            `json:"namespace,omitempty"`
	Metric    string            `json:"metric"` // cpu | memory
	Unit      string            `json:"unit"`   // cores | bytes
	// Method is the fit chosen by the smaller backtest error: "holt"
	// (Holt's linear exponential smoothing) or "linear" (least squares).
	Method  string `json:"method,omitempty"`
	Samples int    `json:"samples"` // hourly points the fit used
	// Current is the last hourly average; TrendPerHour the fitted slope.
	Current      float64   `json:"current"`
	TrendPerHour float64   `json:"trendPerHour"`
	LastPointAt  time.Time `json:"lastPointAt,omitzero"`
	// Limit is what the series is compared with (0: none known);
	// LimitSource says where it comes from: "request" or "size".
	Limit       float64 `json:"limit,omitempty"`
	LimitSource string  `json:"limitSource,omitempty"`
	// ReachesLimitAt is when the forecast first reaches Limit within the
	// horizon (the last point's time when the series is already there).
	ReachesLimitAt *time.Time          `json:"reachesLimitAt,omitempty"`
	Horizon        string              `json:"horizon"`
	Forecast       []ForecastPoint     `json:"forecast"`
	Backtest       *PredictionBacktest `json:"backtest,omitempty"`
	// NotEnoughData says why there is no forecast ("30 of 48 hourly points").
	NotEnoughData string `json:"notEnoughData,omitempty"`
}

// PredictionSubject is what a prediction is about.
type PredictionSubject struct {
	Type string `json:"type"` // service | environment
	Name string `json:"name"`
	ID   string `json:"id,omitempty"` // an environment's id
}

// ForecastPoint is one forecast step: the expected value and its band
// (95% under normal one-step errors; never below zero).
type ForecastPoint struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
	Lo    float64   `json:"lo"`
	Hi    float64   `json:"hi"`
}

// PredictionBacktest is the error of the chosen method fitted on all but
// the last day and compared with the last day.
type PredictionBacktest struct {
	Window string  `json:"window"` // "24h"
	Points int     `json:"points"`
	MAE    float64 `json:"mae"` // mean absolute error, in the series' unit
	// Error is MAE relative to the last day's mean (0.05 = 5%).
	Error float64 `json:"error"`
}
