package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/predict"
)

// PredictionWindow is the hourly history a prediction is fitted on.
const PredictionWindow = 7 * 24 * time.Hour

// overviewPredictions is how many of the nearest risks the overview shows.
const overviewPredictions = 5

// PredictionQuery selects the series to predict.
type PredictionQuery struct {
	// Service names one service (Name empty: every stored service and the
	// caller's environments, those with history).
	Service ServiceQuery
	// Environment names one environment: the caller's own unless admin.
	Environment string
	Metric      string        // cpu | memory; empty: both
	Horizon     time.Duration // 0: 72h
	// limitedOnly leaves out series without a limit (the overview's risks).
	limitedOnly bool
}

// predictable are the metrics a prediction is made for: both have a limit.
var predictable = []string{berth.MetricCPU, berth.MetricMemory}

// Predictions forecasts the CPU and memory of the subjects q names from
// their hourly rollups (predict.Forecast) and says when each reaches its
// limit: a service's requests × replicas, an environment's size. Ordered
// by reachesLimitAt, the nearest first, then by subject.
func (c *Core) Predictions(ctx context.Context, q PredictionQuery) ([]berth.Prediction, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	q.Horizon = cmp.Or(q.Horizon, predict.DefaultHorizon)
	if q.Horizon < time.Hour || q.Horizon > predict.MaxHorizon {
		return nil, berth.Invalid("horizon", "must be between 1h and 30d, got %s", q.Horizon)
	}
	metrics := predictable
	if q.Metric != "" {
		if !slices.Contains(predictable, q.Metric) {
			return nil, berth.Invalid("metric", "%q cannot be predicted; give cpu or memory", q.Metric)
		}
		metrics = []string{q.Metric}
	}
	if q.Environment != "" && q.Service.Name != "" {
		return nil, berth.Invalid("environment", "give service or environment, not both")
	}
	ms, ok := c.store.(berth.MetricsStore)
	if !ok {
		return nil, berth.Errorf(berth.ENOTSUPPORTED, "this store keeps no metrics history to predict from")
	}
	subjects, err := c.predictionSubjects(ctx, q)
	if err != nil {
		return nil, err
	}
	// The hour's rollups are fixed until the next one lands: forecasts are
	// made as of the start of the hour and kept until then (or until a new
	// hourly point is written, whichever comes first).
	hour := c.now().UTC().Truncate(time.Hour)
	latest, err := ms.LatestMetricTime(ctx, berth.ResHour)
	if err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	stamp := predictionStamp{hour: hour, latest: latest}
	keys := map[predictionKey]cachedPrediction{}
	var missing []predictionKey
	for _, s := range subjects {
		for _, m := range metrics {
			if q.limitedOnly && s.limits[m] <= 0 {
				continue
			}
			k := predictionKey{key: s.key(m), limit: s.limits[m], horizon: q.Horizon}
			if e, ok := c.predictions.get(stamp, k); ok {
				keys[k] = e
			} else {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		history, err := c.hourlyHistory(ctx, ms, q, metrics, hour)
		if err != nil {
			return nil, err
		}
		for _, k := range missing {
			pts, found := history[k.key]
			e := cachedPrediction{found: found,
				p: predict.Forecast(predict.FromMetric(pts), predict.Options{Horizon: q.Horizon, Limit: k.limit, Now: hour})}
			c.predictions.put(stamp, k, e)
			keys[k] = e
		}
	}
	out := []berth.Prediction{}
	for _, s := range subjects {
		for _, m := range metrics {
			e, ok := keys[predictionKey{key: s.key(m), limit: s.limits[m], horizon: q.Horizon}]
			if !ok || !e.found && q.Service.Name == "" && q.Environment == "" {
				continue // listing: only what has history
			}
			p := e.p
			p.Subject, p.Target, p.Namespace, p.Metric, p.Unit = s.subject, s.target, s.namespace, m, unitOf(m)
			if p.Limit > 0 {
				p.LimitSource = s.limitSource
			}
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b berth.Prediction) int {
		switch {
		case a.ReachesLimitAt != nil && b.ReachesLimitAt != nil:
			if d := a.ReachesLimitAt.Compare(*b.ReachesLimitAt); d != 0 {
				return d
			}
		case a.ReachesLimitAt != nil:
			return -1
		case b.ReachesLimitAt != nil:
			return 1
		}
		return cmp.Or(cmp.Compare(a.Subject.Type, b.Subject.Type), cmp.Compare(a.Target, b.Target),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Subject.Name, b.Subject.Name), cmp.Compare(a.Metric, b.Metric))
	})
	return out, nil
}

func unitOf(metric string) string {
	if metric == berth.MetricCPU {
		return "cores"
	}
	return "bytes"
}

// predSubject is a service or an environment with its limits by metric.
type predSubject struct {
	subject     berth.PredictionSubject
	kind        string // the metric series' kind
	target      string
	namespace   string
	seriesName  string
	limits      map[string]float64
	limitSource string
}

func (s predSubject) key(metric string) berth.MetricKey {
	return berth.MetricKey{Target: s.target, Namespace: s.namespace, Kind: s.kind, Name: s.seriesName, Metric: metric}
}

func (c *Core) predictionSubjects(ctx context.Context, q PredictionQuery) ([]predSubject, error) {
	var svcs []*berth.Service
	var envs []*berth.Environment
	switch {
	case q.Environment != "":
		env, err := c.visible(ctx, q.Environment)
		if err != nil {
			return nil, err
		}
		envs = []*berth.Environment{env}
	case q.Service.Name != "":
		svc, _, err := c.find(ctx, q.Service)
		if err != nil {
			return nil, err
		}
		svcs = []*berth.Service{svc}
	default:
		var err error
		if svcs, _, err = c.store.ListServices(ctx, berth.ServiceFilter{}); err != nil {
			return nil, fmt.Errorf("predictions: list services: %w", err)
		}
		if envs, _, err = c.ListEnvironments(ctx, "", 0, 0); err != nil {
			return nil, fmt.Errorf("predictions: %w", err)
		}
	}
	out := make([]predSubject, 0, len(svcs)+len(envs))
	for _, svc := range svcs {
		ref := c.canonicalRef(svc.Ref())
		out = append(out, predSubject{subject: berth.PredictionSubject{Type: berth.SubjectService, Name: svc.Name},
			kind: berth.SubjectService, target: ref.Target, namespace: ref.Namespace, seriesName: svc.Name,
			limits: serviceLimits(svc.Spec), limitSource: "request"})
	}
	for _, env := range envs {
		out = append(out, predSubject{subject: berth.PredictionSubject{Type: berth.SubjectEnvironment, Name: env.Name, ID: env.ID},
			kind: berth.SubjectEnvironment, target: env.Target, seriesName: env.ID, limitSource: "size",
			limits: map[string]float64{berth.MetricCPU: float64(env.CPUCores), berth.MetricMemory: float64(env.MemoryGB) * (1 << 30)}})
	}
	return out, nil
}

// serviceLimits are a service's requests × its desired replicas (its
// series sum the replicas); an unparsable or missing request is no limit.
func serviceLimits(spec berth.ServiceSpec) map[string]float64 {
	n := float64(spec.ReplicaCount())
	out := map[string]float64{}
	if m, err := berth.ParseCPU("resources.cpu", spec.Resources.CPU); err == nil && m > 0 {
		out[berth.MetricCPU] = float64(m) / 1000 * n
	}
	if b, err := berth.ParseMemory("resources.memory", spec.Resources.Memory); err == nil && b > 0 {
		out[berth.MetricMemory] = float64(b) * n
	}
	return out
}

// hourlyHistory reads the complete hours of the window before hour in one
// query, keyed by series.
func (c *Core) hourlyHistory(ctx context.Context, ms berth.MetricsStore, q PredictionQuery, metrics []string, hour time.Time) (
	map[berth.MetricKey][]berth.MetricPoint, error) {
	mq := berth.MetricQuery{Resolution: berth.ResHour, From: hour.Add(-PredictionWindow), To: hour, Metrics: metrics}
	switch {
	case q.Environment != "":
		mq.Kinds, mq.Name = []string{berth.SubjectEnvironment}, q.Environment
	case q.Service.Name != "":
		mq.Kinds, mq.Name, mq.Target = []string{berth.SubjectService}, q.Service.Name, q.Service.Target
	default:
		mq.Kinds = []string{berth.SubjectService, berth.SubjectEnvironment}
	}
	series, err := ms.QueryMetrics(ctx, mq)
	if err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	out := make(map[berth.MetricKey][]berth.MetricPoint, len(series))
	for _, s := range series {
		out[s.MetricKey] = s.Points
	}
	return out, nil
}

// nearestRisks are the overview's predictions: the series that reach
// their limit soonest within the default horizon.
func (c *Core) nearestRisks(ctx context.Context) []berth.Prediction {
	all, err := c.Predictions(ctx, PredictionQuery{limitedOnly: true})
	if err != nil {
		if !berth.IsCode(err, berth.ENOTSUPPORTED) {
			c.log.Warn("overview: predictions", "err", err)
		}
		return []berth.Prediction{}
	}
	out := []berth.Prediction{}
	for _, p := range all {
		if p.ReachesLimitAt != nil && len(out) < overviewPredictions {
			out = append(out, p)
		}
	}
	return out
}

// predictionCache keeps forecasts for as long as their input cannot
// change: within one hour (forecasts are made as of its start, from the
// complete hours before it) and while no new hourly point is written. The
// overview asks for every series on each read; only the first read after
// the hourly rollup fits anything.
type predictionCache struct {
	mu    sync.Mutex
	stamp predictionStamp
	m     map[predictionKey]cachedPrediction
}

type predictionStamp struct{ hour, latest time.Time }

func (a predictionStamp) is(b predictionStamp) bool {
	return a.hour.Equal(b.hour) && a.latest.Equal(b.latest)
}

type predictionKey struct {
	key     berth.MetricKey
	limit   float64
	horizon time.Duration
}

type cachedPrediction struct {
	p     berth.Prediction
	found bool // the series has points in the window
}

// maxCachedPredictions bounds the cache (a 72h forecast is ~3 kB): many
// horizons asked for start it over.
const maxCachedPredictions = 20000

func (pc *predictionCache) get(st predictionStamp, k predictionKey) (cachedPrediction, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.stamp.is(st) {
		return cachedPrediction{}, false
	}
	e, ok := pc.m[k]
	return e, ok
}

func (pc *predictionCache) put(st predictionStamp, k predictionKey, e cachedPrediction) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.stamp.is(st) || pc.m == nil || len(pc.m) >= maxCachedPredictions {
		pc.stamp, pc.m = st, map[predictionKey]cachedPrediction{}
	}
	pc.m[k] = e
}
