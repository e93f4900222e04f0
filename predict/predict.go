// Package predict forecasts a measured series from its hourly rollups:
// Holt's linear exponential smoothing and an ordinary least-squares line
// are both fitted on all but the last day and compared with the last day;
// the one with the smaller error is refitted on the whole series and
// forecast over the horizon with a band. The forecast's first crossing of
// a limit within the horizon is the prediction's reachesLimitAt.
package predict

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/berthhq/berth"
)

// Defaults of Options.
const (
	DefaultHorizon   = 72 * time.Hour
	DefaultStep      = time.Hour
	DefaultBacktest  = 24 * time.Hour
	DefaultMinPoints = 48
	// MaxHorizon bounds a forecast (the hourly history kept is 30 days).
	MaxHorizon = 30 * 24 * time.Hour
)

// z95 is the normal quantile of a two-sided 95% band.
const z95 = 1.96

// Methods.
const (
	MethodHolt   = "holt"
	MethodLinear = "linear"
)

// Options of a forecast; zero values take the defaults.
type Options struct {
	Horizon   time.Duration // how far from Now to forecast
	Step      time.Duration // spacing of the series (hourly rollups)
	Backtest  time.Duration // the last stretch held out to measure the error
	MinPoints int           // fewer points: not enough data
	Limit     float64       // 0: no limit, no reachesLimitAt
	Now       time.Time     // zero: the last point's time
}

func (o Options) withDefaults() Options {
	o.Horizon = cmp.Or(o.Horizon, DefaultHorizon)
	o.Step = cmp.Or(o.Step, DefaultStep)
	o.Backtest = cmp.Or(o.Backtest, DefaultBacktest)
	o.MinPoints = cmp.Or(o.MinPoints, DefaultMinPoints)
	return o
}

// Point is one observation.
type Point struct {
	T time.Time
	V float64
}

// FromMetric reads the average of each rollup point.
func FromMetric(pts []berth.MetricPoint) []Point {
	out := make([]Point, 0, len(pts))
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			out = append(out, Point{T: p.Time, V: p.Value})
		}
	}
	return out
}

// model is a fitted method: its value h steps after the last observation
// and the standard error of that value.
type model interface {
	at(h float64) float64
	se(h float64) float64
	slope() float64 // per step
}

// Forecast fills the computed fields of a prediction from pts (in time
// order): Method, Samples, Current, TrendPerHour, LastPointAt, Forecast,
// Backtest, ReachesLimitAt (against o.Limit), Horizon; or NotEnoughData.
func Forecast(pts []Point, o Options) berth.Prediction {
	o = o.withDefaults()
	p := berth.Prediction{Samples: len(pts), Horizon: FormatHours(o.Horizon), Forecast: []berth.ForecastPoint{}, Limit: o.Limit}
	if len(pts) > 0 {
		last := pts[len(pts)-1]
		p.Current, p.LastPointAt = last.V, last.T
	}
	if len(pts) < o.MinPoints {
		p.NotEnoughData = fmt.Sprintf("%d of %d hourly points (%s more history needed)", len(pts), o.MinPoints,
			FormatHours(time.Duration(o.MinPoints-len(pts))*o.Step))
		return p
	}
	y, start := grid(pts, o.Step)
	nTest := int(o.Backtest / o.Step)
	train, test := y[:len(y)-nTest], y[len(y)-nTest:]
	best, bestMAE, bestMean, bestN := "", math.Inf(1), 0.0, 0
	for _, m := range []string{MethodHolt, MethodLinear} {
		fit := fitMethod(m, train)
		if fit == nil {
			continue
		}
		mae, mean, n := errorOn(fit, test)
		if n > 0 && mae < bestMAE {
			best, bestMAE, bestMean, bestN = m, mae, mean, n
		}
	}
	full := fitMethod(best, y)
	if full == nil {
		p.NotEnoughData = fmt.Sprintf("no point in the last %s to test a fit on", FormatHours(o.Backtest))
		return p
	}
	p.Method = best
	p.Backtest = &berth.PredictionBacktest{Window: FormatHours(o.Backtest), Points: bestN, MAE: bestMAE}
	if bestMean > 0 {
		p.Backtest.Error = bestMAE / bestMean
	}
	p.TrendPerHour = full.slope() / o.Step.Hours()
	lastT := start.Add(time.Duration(len(y)-1) * o.Step)
	now := o.Now
	if now.IsZero() || now.Before(lastT) {
		now = lastT
	}
	end := now.Add(o.Horizon)
	prevT, prevV := lastT, full.at(0)
	if o.Limit > 0 && p.Current >= o.Limit {
		t := lastT
		p.ReachesLimitAt = &t
	}
	for h := 1; ; h++ {
		t := lastT.Add(time.Duration(h) * o.Step)
		if t.After(end) {
			break
		}
		v, se := full.at(float64(h)), full.se(float64(h))
		p.Forecast = append(p.Forecast, berth.ForecastPoint{Time: t, Value: math.Max(v, 0),
			Lo: math.Max(v-z95*se, 0), Hi: math.Max(v+z95*se, 0)})
		if o.Limit > 0 && p.ReachesLimitAt == nil && v >= o.Limit {
			// Linear between the two steps that straddle the limit.
			frac := 1.0
			if v > prevV {
				frac = math.Min(math.Max((o.Limit-prevV)/(v-prevV), 0), 1)
			}
			// Between the last point and now it may lie in the past: the
			// forecast says the series has reached its limit by now.
			at := prevT.Add(time.Duration(frac * float64(t.Sub(prevT))))
			p.ReachesLimitAt = &at
		}
		prevT, prevV = t, v
	}
	return p
}

// grid lays pts on a regular grid of step from the first point; a missing
// step is NaN (the methods carry their state across it).
func grid(pts []Point, step time.Duration) ([]float64, time.Time) {
	start := pts[0].T.Truncate(step)
	n := int(pts[len(pts)-1].T.Truncate(step).Sub(start)/step) + 1
	y := make([]float64, n)
	for i := range y {
		y[i] = math.NaN()
	}
	for _, p := range pts {
		y[int(p.T.Truncate(step).Sub(start)/step)] = p.V
	}
	return y, start
}

func fitMethod(m string, y []float64) model {
	switch m {
	case MethodHolt:
		return fitHolt(y)
	case MethodLinear:
		return fitLinear(y)
	}
	return nil
}

// errorOn forecasts test from fit (test[0] is one step after the fit's
// last observation): the mean absolute error, the mean of |actual|, and
// how many observed points were compared.
func errorOn(fit model, test []float64) (mae, mean float64, n int) {
	for i, v := range test {
		if math.IsNaN(v) {
			continue
		}
		mae += math.Abs(v - fit.at(float64(i+1)))
		mean += math.Abs(v)
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return mae / float64(n), mean / float64(n), n
}

// FormatHours writes d as whole hours ("72h") or days ("30d") when whole.
func FormatHours(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
