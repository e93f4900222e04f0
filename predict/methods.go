package predict

import "math"

// holt is Holt's linear method: a level and a trend, each smoothed.
type holt struct {
	alpha, beta  float64
	level, trend float64
	sigma        float64 // RMS of the one-step-ahead errors
}

var (
	holtAlphas = []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	holtBetas  = []float64{0.01, 0.05, 0.1, 0.2, 0.3, 0.5}
)

// fitHolt picks alpha and beta on a grid by the smallest sum of squared
// one-step-ahead errors. It needs three observed points.
func fitHolt(y []float64) model {
	first, n := -1, 0
	for i, v := range y {
		if !math.IsNaN(v) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n < 3 {
		return nil
	}
	// Start from the first observation and the least-squares slope of
	// the first few, so one noisy pair does not set the trend.
	end, k := first, 0
	for ; end < len(y) && k < 6; end++ {
		if !math.IsNaN(y[end]) {
			k++
		}
	}
	lin := linearFit(y[first:end])
	if lin == nil {
		return nil
	}
	best := &holt{}
	bestSSE := math.Inf(1)
	var h holt
	for _, a := range holtAlphas {
		for _, b := range holtBetas {
			sse := runHolt(&h, y, first, y[first], lin.b, a, b)
			if sse < bestSSE {
				*best, bestSSE = h, sse
			}
		}
	}
	return best
}

// runHolt smooths y from index first into h and returns the sum of squared
// one-step-ahead errors; a missing point (NaN) advances the level by the
// trend without an update.
func runHolt(h *holt, y []float64, first int, level, trend, alpha, beta float64) float64 {
	*h = holt{alpha: alpha, beta: beta, level: level, trend: trend}
	var sse float64
	n := 0
	for i := first + 1; i < len(y); i++ {
		pred := h.level + h.trend
		if math.IsNaN(y[i]) {
			h.level = pred
			continue
		}
		e := y[i] - pred
		sse += e * e
		n++
		prev := h.level
		h.level = alpha*y[i] + (1-alpha)*pred
		h.trend = beta*(h.level-prev) + (1-beta)*h.trend
	}
	h.sigma = math.Sqrt(sse / float64(max(n, 1)))
	return sse
}

func (h *holt) at(s float64) float64 { return h.level + s*h.trend }
func (h *holt) slope() float64       { return h.trend }

// se is the standard error s steps ahead: σ²(1 + Σ_{j<s} α²(1+βj)²).
func (h *holt) se(s float64) float64 {
	v := 1.0
	for j := 1.0; j < s; j++ {
		c := h.alpha * (1 + h.beta*j)
		v += c * c
	}
	return h.sigma * math.Sqrt(v)
}

// linear is an ordinary least-squares line over the step index.
type linear struct {
	a, b  float64 // value at index 0, slope per step
	last  float64 // the last index (the fit's end)
	meanX float64
	sxx   float64
	n     float64
	sigma float64 // residual standard error
}

// fitLinear fits the observed points of y (two at least).
func fitLinear(y []float64) model {
	l := linearFit(y)
	if l == nil {
		return nil
	}
	return l
}

func linearFit(y []float64) *linear {
	var n, sx, sy float64
	for i, v := range y {
		if !math.IsNaN(v) {
			n++
			sx += float64(i)
			sy += v
		}
	}
	if n < 2 {
		return nil
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i, v := range y {
		if !math.IsNaN(v) {
			dx := float64(i) - mx
			sxx += dx * dx
			sxy += dx * (v - my)
		}
	}
	if sxx == 0 {
		return nil
	}
	l := &linear{b: sxy / sxx, meanX: mx, sxx: sxx, n: n, last: float64(len(y) - 1)}
	l.a = my - l.b*mx
	var sse float64
	for i, v := range y {
		if !math.IsNaN(v) {
			e := v - (l.a + l.b*float64(i))
			sse += e * e
		}
	}
	if n > 2 {
		l.sigma = math.Sqrt(sse / (n - 2))
	}
	return l
}

func (l *linear) at(s float64) float64 { return l.a + l.b*(l.last+s) }
func (l *linear) slope() float64       { return l.b }

// se is the standard error of a new observation s steps after the end.
func (l *linear) se(s float64) float64 {
	dx := l.last + s - l.meanX
	return l.sigma * math.Sqrt(1+1/l.n+dx*dx/l.sxx)
}
