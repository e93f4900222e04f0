package recommend

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// Config holds the engine's knobs.
type Config struct {
	Window     time.Duration // history looked at (default 7d)
	MinSamples int           // below: "not enough data" (default 100)
	// TargetUtilization is the CPU usage/request ratio scale aims at
	// (default 0.7), Tolerance the band around it left alone (0.1).
	TargetUtilization float64
	Tolerance         float64
	// Dormancy: an environment stopped for longer is proposed for deletion
	// (default 30 days).
	Dormancy time.Duration
	// IdleWindow: an environment without auto-stop counts as idle after
	// this long without activity (default 2h).
	IdleWindow time.Duration
	// IdleCPU is the CPU (cores) under which a workload counts as idle
	// (default 0.05 for environments; a service must use none: < 0.001).
	IdleCPU     float64
	MaxReplicas int // bound of a proposed replica count (default 50)
}

// WithDefaults fills what is unset.
func (c Config) WithDefaults() Config {
	if c.Window <= 0 {
		c.Window = 7 * 24 * time.Hour
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 100
	}
	if c.TargetUtilization <= 0 || c.TargetUtilization > 1 {
		c.TargetUtilization = 0.7
	}
	if c.Tolerance <= 0 {
		c.Tolerance = 0.1
	}
	if c.Dormancy <= 0 {
		c.Dormancy = 30 * 24 * time.Hour
	}
	if c.IdleWindow <= 0 {
		c.IdleWindow = 2 * time.Hour
	}
	if c.IdleCPU <= 0 {
		c.IdleCPU = 0.05
	}
	if c.MaxReplicas <= 0 {
		c.MaxReplicas = 50
	}
	return c
}

// Floors and factors of rightsizing (KRR's simple strategy).
const (
	MinCPUMillis     = 10
	MinMemoryBytes   = 100 << 20
	MemoryHeadroom   = 1.15
	OOMBump          = 1.2
	serviceIdleCores = 0.001
)

// ServiceInput is what the engine knows of one service.
type ServiceInput struct {
	Service    *berth.Service // stored desired state, observed instances
	Prices     berth.Prices
	HPAManaged bool
	Now        time.Time
	Resolution time.Duration
	// ReplicaCPU and ReplicaMemory are the per-replica series of the
	// window (cores, bytes); ServiceReady and ServiceRestarts the
	// service's ready_replicas and restarts series.
	ReplicaCPU, ReplicaMemory     []berth.MetricSeries
	ServiceReady, ServiceRestarts []berth.MetricSeries
	// Revisions newest first (rollback looks at the previous one).
	Revisions []*berth.Revision
	// OOMKills is how many OOM kills berth knows of for this service.
	OOMKills int
	// CPU and Memory are the distributions of ReplicaCPU and ReplicaMemory;
	// Summarize fills them once so that every kind reads the same (each
	// function computes them itself when they are nil).
	CPU, Memory *Distribution
}

// Summarize builds the input's distributions once.
func (in *ServiceInput) Summarize() {
	if in.CPU == nil {
		in.CPU = distribution(in.ReplicaCPU)
	}
	if in.Memory == nil {
		in.Memory = distribution(in.ReplicaMemory)
	}
}

func (in ServiceInput) base(kind berth.RecKind, cfg Config) *berth.Recommendation {
	s := in.Service
	return &berth.Recommendation{
		Kind: kind, Source: berth.RecSourceBerth, Target: s.Target, Namespace: s.Namespace,
		Subject:       berth.RecSubject{Type: berth.RecSubjectService, Name: s.Name},
		Evidence:      berth.Evidence{Window: FormatWindow(cfg.Window), Resolution: ResolutionName(in.Resolution)},
		MonthlySaving: berth.Saving{Currency: in.Prices.Currency},
	}
}

func (in ServiceInput) current() berth.RecState {
	s := in.Service
	r := s.Replicas
	res := s.Spec.Resources
	st := berth.RecState{Resources: &res, Replicas: &r, Revision: s.Revision, Status: "RUNNING"}
	if s.Stopped {
		st.Status = "STOPPED"
	}
	return st
}

func distribution(series []berth.MetricSeries) *Distribution {
	d := &Distribution{}
	n := 0
	for _, s := range series {
		n += len(s.Points)
	}
	d.vals, d.p95s = make([]weighted, 0, n), make([]weighted, 0, n)
	for _, s := range series {
		d.Add(s.Points)
	}
	return d
}

// requestOf answers the service's requests in cores and GiB (0 when unset).
func requestOf(r berth.Resources) (cores, gib float64) {
	c, _ := berth.ParseCPU("cpu", r.CPU)
	m, _ := berth.ParseMemory("memory", r.Memory)
	return float64(c) / 1000, float64(m) / (1 << 30)
}

// monthly is the price of cores and GiB for a month.
func monthly(p berth.Prices, cores, gib float64) float64 {
	return p.Cost(cores, gib, 0, berth.HoursPerMonth)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func confidence(samples, minSamples int) string {
	switch {
	case samples >= 10*minSamples:
		return "high"
	case samples >= 3*minSamples:
		return "medium"
	}
	return "low"
}

// Rightsize proposes CPU at the p95 of per-replica usage and memory at the
// peak × 1.15 (× 1.2 more after an OOM kill), floored and rounded; "not
// enough data" below MinSamples; nil when the service is HPA-managed,
// stopped, or already within the tolerance of the proposal.
func Rightsize(cfg Config, in ServiceInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	s := in.Service
	if in.HPAManaged || s.Stopped || s.Replicas == 0 {
		return nil
	}
	rec := in.base(berth.RecRightsize, cfg)
	rec.Current = in.current()
	in.Summarize()
	cpu, mem := in.CPU, in.Memory
	samples := min(cpu.Samples(), mem.Samples())
	rec.Evidence.Samples = samples
	if samples < cfg.MinSamples {
		rec.Evidence.NotEnoughData, rec.Evidence.MissingSamples = true, cfg.MinSamples-samples
		rec.Title = fmt.Sprintf("Rightsize %s: not enough data", s.Name)
		rec.Reason = fmt.Sprintf("%d of the %d samples needed over %s: %d missing; no guess is made.",
			samples, cfg.MinSamples, rec.Evidence.Window, cfg.MinSamples-samples)
		rec.Confidence = "low"
		return rec
	}
	cs, ms := cpu.Stats(), mem.Stats()
	rec.Evidence.CPU, rec.Evidence.Memory = &cs, &ms
	rec.Evidence.OOMKills = in.OOMKills
	cpuM := RoundCPU(int64(math.Ceil(cs.P95 * 1000)))
	memFactor := MemoryHeadroom
	if in.OOMKills > 0 {
		memFactor *= OOMBump
	}
	memB := RoundMemory(int64(math.Ceil(ms.Max * memFactor)))
	proposed := berth.Resources{CPU: FormatCPU(cpuM), Memory: FormatMemory(memB)}
	curCores, curGiB := requestOf(s.Spec.Resources)
	newCores, newGiB := float64(cpuM)/1000, float64(memB)/(1<<30)
	if within(curCores, newCores, cfg.Tolerance) && within(curGiB, newGiB, cfg.Tolerance) {
		return nil
	}
	r := s.Replicas
	rec.Proposed = berth.RecState{Resources: &proposed, Replicas: &r}
	rec.MonthlySaving.Amount = round2(float64(s.Replicas) * (monthly(in.Prices, curCores, curGiB) - monthly(in.Prices, newCores, newGiB)))
	rec.Confidence = confidence(samples, cfg.MinSamples)
	rec.Title = fmt.Sprintf("Rightsize %s to cpu %s, memory %s", s.Name, proposed.CPU, proposed.Memory)
	oom := ""
	if in.OOMKills > 0 {
		oom = fmt.Sprintf(", raised ×%.1f after %d OOM kill(s)", OOMBump, in.OOMKills)
	}
	rec.Reason = fmt.Sprintf("Over %s (%d samples) a replica used cpu p95 %.3f cores (requests %s) and at most %s memory (requests %s); "+
		"cpu is set at the p95, memory at the peak ×%.2f%s, floors %dm / %dMi.",
		rec.Evidence.Window, samples, cs.P95, orNone(s.Spec.Resources.CPU), FormatMemory(int64(ms.Max)), orNone(s.Spec.Resources.Memory),
		MemoryHeadroom, oom, MinCPUMillis, MinMemoryBytes>>20)
	return rec
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// within reports whether b is within tol (relative) of a, a non-zero.
func within(a, b, tol float64) bool {
	if a == 0 {
		return false
	}
	return math.Abs(a-b)/a <= tol
}

// RoundCPU floors millicores at 10m and rounds up: to 5m below 100m, to
// 10m below 1 core, to 50m above.
func RoundCPU(m int64) int64 {
	m = max(m, MinCPUMillis)
	step := int64(50)
	switch {
	case m < 100:
		step = 5
	case m < 1000:
		step = 10
	}
	return (m + step - 1) / step * step
}

// RoundMemory floors bytes at 100Mi and rounds up to whole Mi: to 4Mi
// below 1Gi, to 64Mi above.
func RoundMemory(b int64) int64 {
	b = max(b, MinMemoryBytes)
	step := int64(4 << 20)
	if b >= 1<<30 {
		step = 64 << 20
	}
	return (b + step - 1) / step * step
}

// FormatCPU writes millicores as a quantity ("250m", "2").
func FormatCPU(m int64) string {
	if m%1000 == 0 {
		return fmt.Sprint(m / 1000)
	}
	return fmt.Sprintf("%dm", m)
}

// FormatMemory writes bytes as a quantity in Mi or Gi.
func FormatMemory(b int64) string {
	if b%(1<<30) == 0 && b > 0 {
		return fmt.Sprintf("%dGi", b>>30)
	}
	return fmt.Sprintf("%dMi", (b+(1<<20)-1)>>20)
}

// recentMean is the mean of the points of the last span of the series
// (per replica, averaged over replicas): HPA looks at current usage.
func recentMean(series []berth.MetricSeries, from time.Time) (float64, int) {
	var sum float64
	n := 0
	for _, s := range series {
		for _, p := range s.Points {
			if !p.Time.Before(from) {
				c := max(p.Count, 1)
				sum += p.Value * float64(c)
				n += c
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// Scale proposes replicas by the HPA formula ceil(current × usage /
// (request × target)) over the last hour's mean per-replica CPU, never
// below 1, nil within the tolerance or without a CPU request. Core asks it
// only when Rightsize has nothing to propose (vertical first).
func Scale(cfg Config, in ServiceInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	s := in.Service
	if in.HPAManaged || s.Stopped || s.Replicas < 1 {
		return nil
	}
	reqCores, reqGiB := requestOf(s.Spec.Resources)
	if reqCores == 0 {
		return nil
	}
	usage, n := recentMean(in.ReplicaCPU, in.Now.Add(-time.Hour))
	if n < cfg.MinSamples/10+1 {
		return nil
	}
	ratio := usage / (reqCores * cfg.TargetUtilization)
	if math.Abs(ratio-1) <= cfg.Tolerance {
		return nil
	}
	// Rightsizing sets requests at the p95, where utilization is ~100%, not
	// the target: so that the two kinds do not undo each other, scale adds
	// replicas only when a replica uses more than its whole request (it
	// starves), and removes them only from a service running several.
	if ratio > 1 && usage <= reqCores*(1+cfg.Tolerance) {
		return nil
	}
	if ratio < 1 && s.Replicas < 2 {
		return nil
	}
	desired := DesiredReplicas(s.Replicas, usage, reqCores, cfg.TargetUtilization, cfg.MaxReplicas)
	if desired == s.Replicas {
		return nil
	}
	rec := in.base(berth.RecScale, cfg)
	rec.Current = in.current()
	rec.Proposed = berth.RecState{Replicas: &desired}
	rec.Evidence.Samples = n
	in.Summarize()
	st := in.CPU.Stats()
	rec.Evidence.CPU = &st
	rec.Confidence = confidence(n*10, cfg.MinSamples)
	rec.MonthlySaving.Amount = round2(float64(s.Replicas-desired) * monthly(in.Prices, reqCores, reqGiB))
	rec.Title = fmt.Sprintf("Scale %s from %d to %d replicas", s.Name, s.Replicas, desired)
	rec.Reason = fmt.Sprintf("Over the last hour a replica used %.3f cores on average against a request of %s: utilization %.0f%% "+
		"against a target of %.0f%% (tolerance %.0f%%); ceil(%d × %.3f / (%.3f × %.2f)) = %d.",
		usage, s.Spec.Resources.CPU, 100*usage/reqCores, 100*cfg.TargetUtilization, 100*cfg.Tolerance,
		s.Replicas, usage, reqCores, cfg.TargetUtilization, desired)
	return rec
}

// DesiredReplicas is the HPA formula, bounded to [1, maxReplicas].
func DesiredReplicas(current int, usage, request, target float64, maxReplicas int) int {
	d := int(math.Ceil(float64(current) * usage / (request * target)))
	return min(max(d, 1), maxReplicas)
}

// StopIdleService proposes stopping a running service that used no CPU
// at all (< 0.001 cores at every sample) over the whole window.
func StopIdleService(cfg Config, in ServiceInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	s := in.Service
	if s.Stopped || s.Replicas == 0 {
		return nil
	}
	in.Summarize()
	d := in.CPU
	if d.Samples() < cfg.MinSamples || d.Max() >= serviceIdleCores {
		return nil
	}
	// The history must cover the window: a new service is not idle.
	if oldest := oldestPoint(in.ReplicaCPU); oldest.IsZero() || oldest.After(in.Now.Add(-cfg.Window).Add(cfg.Window/10)) {
		return nil
	}
	rec := in.base(berth.RecStopIdle, cfg)
	rec.Current = in.current()
	rec.Proposed = berth.RecState{Status: "STOPPED"}
	st := d.Stats()
	rec.Evidence.CPU, rec.Evidence.Samples = &st, d.Samples()
	reqCores, reqGiB := requestOf(s.Spec.Resources)
	rec.MonthlySaving.Amount = round2(float64(s.Replicas) * monthly(in.Prices, reqCores, reqGiB))
	rec.Confidence = confidence(d.Samples(), cfg.MinSamples)
	rec.Title = fmt.Sprintf("Stop %s: no CPU used in %s", s.Name, rec.Evidence.Window)
	rec.Reason = fmt.Sprintf("Every one of %d samples over %s is below %.3f cores: nothing runs there.", d.Samples(), rec.Evidence.Window, serviceIdleCores)
	return rec
}

func oldestPoint(series []berth.MetricSeries) time.Time {
	var t time.Time
	for _, s := range series {
		if len(s.Points) > 0 && (t.IsZero() || s.Points[0].Time.Before(t)) {
			t = s.Points[0].Time
		}
	}
	return t
}

// crashLoopRestarts is the restart count from which a replica that is not
// ready counts as crash-looping (the overview's rule).
const crashLoopRestarts = 3

// Rollback proposes rolling back to the previous revision when the
// current revision's replicas crash-loop and the previous one ran healthy:
// ready replicas ≥ 1 and no restarts in the history before the current
// revision was made.
func Rollback(cfg Config, in ServiceInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	s := in.Service
	if len(in.Revisions) < 2 || s.Stopped {
		return nil
	}
	cur, prev := in.Revisions[0], in.Revisions[1]
	if cur.Number != s.Revision {
		return nil
	}
	restarts, looping := 0, false
	for _, i := range s.Instances {
		if i.Revision != 0 && i.Revision != s.Revision {
			continue
		}
		restarts += i.Restarts
		if i.Restarts >= crashLoopRestarts && !i.Ready {
			looping = true
		}
	}
	if !looping {
		return nil
	}
	healthy, n := ranHealthy(in.ServiceReady, in.ServiceRestarts, cur.CreatedAt)
	if !healthy {
		return nil
	}
	rec := in.base(berth.RecRollback, cfg)
	rec.Current = in.current()
	rec.Proposed = berth.RecState{Revision: prev.Number}
	rec.Evidence.Restarts, rec.Evidence.HealthyRevision, rec.Evidence.Samples = restarts, prev.Number, n
	rec.Confidence = "medium"
	rec.Title = fmt.Sprintf("Roll %s back to revision %d", s.Name, prev.Number)
	rec.Reason = fmt.Sprintf("Revision %d (since %s) crash-loops (%d restarts, replicas not ready); revision %d ran with ready replicas and no restarts (%d samples before it).",
		cur.Number, cur.CreatedAt.UTC().Format(time.RFC3339), restarts, prev.Number, n)
	return rec
}

// ranHealthy: before t, at least one ready replica at every sample and the
// restart counter flat.
func ranHealthy(ready, restarts []berth.MetricSeries, t time.Time) (bool, int) {
	n := 0
	for _, s := range ready {
		for _, p := range s.Points {
			if p.Time.Before(t) {
				if p.Min < 1 {
					return false, n
				}
				n++
			}
		}
	}
	for _, s := range restarts {
		first, last := math.NaN(), math.NaN()
		for _, p := range s.Points {
			if p.Time.Before(t) {
				if math.IsNaN(first) {
					first = p.Min
				}
				last = p.Max
			}
		}
		if !math.IsNaN(first) && last > first {
			return false, n
		}
	}
	return n > 0, n
}

// EnvironmentInput is what the engine knows of one environment.
type EnvironmentInput struct {
	Env    *berth.Environment
	Prices berth.Prices
	Now    time.Time
	// CPU is the environment's cpu series over its idle window.
	CPU []berth.MetricSeries
}

func (in EnvironmentInput) base(kind berth.RecKind, cfg Config) *berth.Recommendation {
	e := in.Env
	return &berth.Recommendation{
		Kind: kind, Source: berth.RecSourceBerth, Target: e.Target, Owner: e.UserID,
		Subject:       berth.RecSubject{Type: berth.RecSubjectEnvironment, Name: e.Name, ID: e.ID},
		Current:       berth.RecState{Status: string(e.Status)},
		MonthlySaving: berth.Saving{Currency: in.Prices.Currency},
		Evidence:      berth.Evidence{Window: FormatWindow(cfg.Window)},
	}
}

// IdleWindow is the window an environment must be idle for: its auto-stop
// window, else the configured one.
func IdleWindow(cfg Config, env *berth.Environment) time.Duration {
	if env.AutoStopMinutes > 0 {
		return time.Duration(env.AutoStopMinutes) * time.Minute
	}
	return cfg.WithDefaults().IdleWindow
}

// StopIdleEnvironment proposes stopping a running environment without
// activity for its idle window whose CPU p95 over it stayed low.
func StopIdleEnvironment(cfg Config, in EnvironmentInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	e := in.Env
	if e.Stopped || e.Status != berth.EnvRunning {
		return nil
	}
	win := IdleWindow(cfg, e)
	since := e.LastAccessedAt
	if since.IsZero() || since.Before(e.CreatedAt) {
		since = e.CreatedAt
	}
	if in.Now.Sub(since) < win {
		return nil
	}
	d := distribution(in.CPU)
	if d.Samples() == 0 {
		return nil
	}
	st := d.Stats()
	if st.P95 >= cfg.IdleCPU {
		return nil
	}
	rec := in.base(berth.RecStopIdle, cfg)
	rec.Evidence.Window, rec.Evidence.Samples, rec.Evidence.CPU = FormatWindow(win), d.Samples(), &st
	s := since.UTC()
	rec.Evidence.IdleSince = &s
	rec.Proposed = berth.RecState{Status: string(berth.EnvStopped)}
	rec.MonthlySaving.Amount = round2(monthly(in.Prices, float64(e.CPUCores), float64(e.MemoryGB)))
	rec.Confidence = "high"
	rec.Title = fmt.Sprintf("Stop environment %s: idle since %s", e.Name, s.Format(time.RFC3339))
	rec.Reason = fmt.Sprintf("No activity for %s (idle window %s) and cpu p95 %.3f cores (< %.2f); stopping keeps its volume. "+
		"The saving assumes it stays stopped for a month.", in.Now.Sub(since).Round(time.Minute), FormatWindow(win), st.P95, cfg.IdleCPU)
	return rec
}

// DeleteDormant proposes deleting an environment stopped for longer than
// the dormancy period; keeping its volume is offered (proposed.keepVolume
// false: the saving counts the volume; apply may keep it).
func DeleteDormant(cfg Config, in EnvironmentInput) *berth.Recommendation {
	cfg = cfg.WithDefaults()
	e := in.Env
	if !e.Stopped && e.Status != berth.EnvStopped {
		return nil
	}
	since := e.UpdatedAt
	if in.Now.Sub(since) < cfg.Dormancy {
		return nil
	}
	rec := in.base(berth.RecDeleteDormant, cfg)
	rec.Evidence.Window = FormatWindow(cfg.Dormancy)
	s := since.UTC()
	rec.Evidence.StoppedSince = &s
	keep := false
	rec.Proposed = berth.RecState{Status: "DELETED", KeepVolume: &keep}
	rec.MonthlySaving.Amount = round2(float64(e.StorageGB) * in.Prices.StorageGBMonth)
	rec.Confidence = "high"
	rec.Title = fmt.Sprintf("Delete environment %s: stopped since %s", e.Name, s.Format("2006-01-02"))
	rec.Reason = fmt.Sprintf("Stopped for %d days (dormancy period %s); deleting frees its %d GB volume (apply with keepVolume to keep it).",
		int(in.Now.Sub(since).Hours()/24), FormatWindow(cfg.Dormancy), e.StorageGB)
	return rec
}

// CleanupOrphan proposes deleting an orphaned inventory item.
func CleanupOrphan(item berth.Resource, prices berth.Prices) *berth.Recommendation {
	if !item.Orphaned || item.Type == "pod" {
		return nil
	}
	return &berth.Recommendation{
		Kind: berth.RecCleanupOrphan, Source: berth.RecSourceBerth, Target: item.Target, Namespace: item.Namespace,
		Subject:       berth.RecSubject{Type: berth.RecSubjectInfrastructure, Name: item.Name, ID: item.Type + "/" + item.ID},
		Current:       berth.RecState{Status: item.Status},
		Proposed:      berth.RecState{Status: "DELETED"},
		MonthlySaving: berth.Saving{Currency: prices.Currency},
		Confidence:    "high",
		Title:         fmt.Sprintf("Delete orphaned %s %s", item.Type, item.Name),
		Reason: fmt.Sprintf("Labelled as berth's for %s %q, which berth no longer has.",
			strings.ToLower(cmpOr(item.BerthKind, "an object")), item.BerthID),
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
