package core

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/recommend"
)

// RecommendConfig tunes the recommendations (issue 11): the engine's knobs,
// how often the leader refreshes them and the external engine.
type RecommendConfig struct {
	// Interval between refreshes on the leader (default 15m; < 0: never).
	Interval time.Duration
	Engine   recommend.Config
	// Retention of the metrics history, to pick the resolution (the sampler's).
	Retention recommend.Retention
	// External is the AI engine berth asks on each refresh (nil: none).
	External *ExternalEngine
}

// TopicRecommendations carries recommendation.* events; an environment's
// go to its owner (and admins).
const TopicRecommendations = "recommendations"

// recState is the recommendations' part of Core.
type recState struct {
	cfg    RecommendConfig
	runMu  sync.Mutex // one refresh at a time
	engMu  sync.Mutex
	engine *berth.RecEngineStatus
}

func (c *Core) recStores() (berth.RecommendationStore, berth.MetricsStore, error) {
	rs, ok := c.store.(berth.RecommendationStore)
	ms, ok2 := c.store.(berth.MetricsStore)
	if !ok || !ok2 {
		return nil, nil, berth.Errorf(berth.ENOTSUPPORTED, "the store keeps no recommendations")
	}
	return rs, ms, nil
}

// RecommendInterval is how often the leader refreshes recommendations.
func (c *Core) RecommendInterval() time.Duration { return c.recs.cfg.Interval }

// runRecommendLoop refreshes on the leader every interval, as berth.System.
func (c *Core) runRecommendLoop(ctx context.Context) {
	iv := c.recs.cfg.Interval
	if iv < 0 {
		return
	}
	// The first run comes a minute after start (the history is already
	// there), then one every interval.
	t := time.NewTimer(min(iv, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(iv)
			if c.leading == nil || c.leading() {
				if _, err := c.RefreshRecommendations(ctx); err != nil {
					c.log.Error("refresh recommendations", "err", err)
				}
			}
		}
	}
}

// proposalKey names one proposal: its subject and kind.
func proposalKey(r *berth.Recommendation) string { return r.SubjectKey() + "#" + string(r.Kind) }

// RefreshRecommendations runs the built-in engine over every service,
// environment and orphan, then the external engine when one is set,
// stores what they propose and expires the OPEN recommendations that no
// longer apply (their subject changed or went away, or the engine no
// longer proposes them).
func (c *Core) RefreshRecommendations(ctx context.Context) (*berth.RecRefresh, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	rs, ms, err := c.recStores()
	if err != nil {
		return nil, err
	}
	c.recs.runMu.Lock()
	defer c.recs.runMu.Unlock()
	start := c.now()
	sys := berth.WithActor(ctx, berth.System)
	proposals, subjects, err := c.builtinProposals(sys, ms)
	if err != nil {
		return nil, fmt.Errorf("refresh recommendations: %w", err)
	}
	res := &berth.RecRefresh{}
	engineOK := true
	if ext := c.recs.cfg.External; ext != nil {
		more, st := c.askEngine(sys, ext, ms, subjects)
		c.recs.engMu.Lock()
		c.recs.engine = st
		c.recs.engMu.Unlock()
		cp := *st
		res.Engine = &cp
		engineOK = st.Status == "ok"
		// Where both engines propose the same kind for a subject, berth's own
		// stands (one OPEN per subject and kind; no flapping source).
		own := map[string]bool{}
		for _, p := range proposals {
			own[proposalKey(p)] = true
		}
		for _, p := range more {
			if !own[proposalKey(p)] {
				proposals = append(proposals, p)
			}
		}
	}
	if err := c.storeProposals(sys, rs, proposals, engineOK, res); err != nil {
		return nil, fmt.Errorf("refresh recommendations: %w", err)
	}
	_, res.Open, _ = rs.ListRecommendations(sys, berth.RecommendationFilter{Status: berth.RecOpen, Limit: 1})
	res.DurationMs = c.now().Sub(start).Milliseconds()
	res.Message = fmt.Sprintf("%d proposals stored, %d suppressed by a rejection, %d expired; %d open", res.Raised, res.Suppressed, res.Expired, res.Open)
	return res, nil
}

// storeProposals expires the OPEN recommendations no longer proposed (an
// engine that failed keeps its own) or whose subject changed, and saves
// the proposals, counting what happened in res.
func (c *Core) storeProposals(sys context.Context, rs berth.RecommendationStore, proposals []*berth.Recommendation, engineOK bool, res *berth.RecRefresh) error {
	produced := map[string]bool{}
	for _, p := range proposals {
		produced[proposalKey(p)] = true
	}
	open, _, err := rs.ListRecommendations(sys, berth.RecommendationFilter{Status: berth.RecOpen})
	if err != nil {
		return err
	}
	now := c.now().UTC()
	byKey := map[string]*berth.Recommendation{}
	for _, o := range open {
		byKey[proposalKey(o)] = o
		keep := produced[proposalKey(o)] || (o.Source == berth.RecSourceAIEngine && !engineOK)
		if !keep {
			c.expireRec(sys, rs, o, "no longer proposed: its subject changed or went away", now)
			res.Expired++
		}
	}
	for _, p := range proposals {
		if o := byKey[proposalKey(p)]; o != nil && subjectChanged(o, p) {
			c.expireRec(sys, rs, o, "its subject changed since it was proposed", now)
			res.Expired++
		}
		saved, err := rs.SaveRecommendation(sys, p, now)
		if err != nil {
			c.log.Error("save recommendation", "kind", p.Kind, "subject", p.Subject.Name, "err", err)
			continue
		}
		if !saved {
			res.Suppressed++
			continue
		}
		res.Raised++
		typ := "recommendation.updated"
		if p.CreatedAt.Equal(p.UpdatedAt) {
			typ = "recommendation.raised"
		}
		c.recEvent(sys, typ, p)
	}
	return nil
}

// subjectChanged: the subject is not what the OPEN recommendation saw
// (a new revision, another replica count, another status).
func subjectChanged(old, cur *berth.Recommendation) bool {
	if old.Current.Revision != cur.Current.Revision || old.Current.Status != cur.Current.Status {
		return true
	}
	a, b := old.Current.Replicas, cur.Current.Replicas
	if (a == nil) != (b == nil) || (a != nil && *a != *b) {
		return true
	}
	ra, rb := old.Current.Resources, cur.Current.Resources
	return (ra == nil) != (rb == nil) || (ra != nil && *ra != *rb)
}

func (c *Core) expireRec(ctx context.Context, rs berth.RecommendationStore, r *berth.Recommendation, why string, now time.Time) {
	r.Status, r.UpdatedAt = berth.RecExpired, now
	r.Result = map[string]any{"expired": why}
	if err := rs.TransitionRecommendation(ctx, r, berth.RecOpen); err != nil {
		c.log.Warn("expire recommendation", "id", r.ID, "err", err)
		return
	}
	c.recEvent(ctx, "recommendation.expired", r)
}

// recSubjects is what the built-in engine saw, for the external engine's
// snapshot and the validation of its answers.
type recSubjects struct {
	services []*svcSnapshot
	envs     []*berth.Environment
	orphans  []berth.Resource
}

type svcSnapshot struct {
	svc     *berth.Service
	cpu     berth.UsageStats
	mem     berth.UsageStats
	samples int
}

// builtinProposals runs the built-in engine.
func (c *Core) builtinProposals(ctx context.Context, ms berth.MetricsStore) ([]*berth.Recommendation, *recSubjects, error) {
	cfg := c.recs.cfg.Engine.WithDefaults()
	cfg.MaxReplicas = c.maxRepl
	now := c.now().UTC()
	subj := &recSubjects{}
	var out []*berth.Recommendation
	svcs, err := c.recServices(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, svc := range svcs {
		in, err := c.serviceInput(ctx, ms, cfg, svc, now)
		if err != nil {
			c.log.Warn("recommendation input", "service", svc.Ref().String(), "err", err)
			continue
		}
		in.Summarize()
		cpu, mem := in.CPU, in.Memory
		subj.services = append(subj.services, &svcSnapshot{svc: svc, cpu: cpu.Stats(), mem: mem.Stats(), samples: min(cpu.Samples(), mem.Samples())})
		rs := recommend.Rightsize(cfg, in)
		var scale *berth.Recommendation
		if rs == nil || !rs.Applicable() {
			scale = recommend.Scale(cfg, in) // vertical first: see recommend.Scale
		}
		for _, p := range []*berth.Recommendation{rs, scale, recommend.StopIdleService(cfg, in), recommend.Rollback(cfg, in)} {
			if p == nil {
				continue
			}
			if !svc.Managed {
				p.Command = kubectlCommand(p, svc)
			}
			out = append(out, p)
		}
	}
	envRecs, err := c.environmentProposals(ctx, ms, cfg, subj, now)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, envRecs...)
	return append(out, c.orphanProposals(ctx, subj)...), subj, nil
}

// environmentProposals runs stop-idle and delete-dormant over every environment.
func (c *Core) environmentProposals(ctx context.Context, ms berth.MetricsStore, cfg recommend.Config, subj *recSubjects, now time.Time) ([]*berth.Recommendation, error) {
	var out []*berth.Recommendation
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	subj.envs = envs
	for _, env := range envs {
		in := recommend.EnvironmentInput{Env: env, Prices: c.Prices(env.Target), Now: now}
		win := recommend.IdleWindow(cfg, env)
		if in.CPU, err = ms.QueryMetrics(ctx, berth.MetricQuery{Resolution: recommend.Resolution(win, c.recs.cfg.Retention),
			From: now.Add(-win), To: now, Target: env.Target, Kinds: []string{berth.SubjectEnvironment}, Name: env.ID,
			Metrics: []string{berth.MetricCPU}}); err != nil {
			return nil, fmt.Errorf("environment %s history: %w", env.ID, err)
		}
		for _, p := range []*berth.Recommendation{recommend.StopIdleEnvironment(cfg, in), recommend.DeleteDormant(cfg, in)} {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// orphanProposals proposes deleting what core's orphan rule finds.
func (c *Core) orphanProposals(ctx context.Context, subj *recSubjects) []*berth.Recommendation {
	var out []*berth.Recommendation
	for _, target := range c.order {
		ir, ok := c.runtimes[target].(berth.Inventorier)
		if !ok {
			continue
		}
		items, err := ir.Inventory(ctx)
		if err == nil {
			err = c.markOrphans(ctx, target, items)
		}
		if err != nil {
			c.log.Warn("recommendations: inventory", "target", target, "err", err)
			continue
		}
		for _, it := range items {
			if p := recommend.CleanupOrphan(it, c.Prices(target)); p != nil {
				subj.orphans = append(subj.orphans, it)
				out = append(out, p)
			}
		}
	}
	return out
}

// recServices are the stored services and those the runtimes run without
// berth (managed:false, proposals carry the kubectl command).
func (c *Core) recServices(ctx context.Context) ([]*berth.Service, error) {
	all, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	// Only what this replica's targets run: a stored service of a target not
	// configured here (another replica's local target, or one removed from
	// berth.yaml) has no runtime to ask, and asking a nil one crashed the leader.
	svcs := all[:0]
	for _, s := range all {
		if _, ok := c.runtimes[s.Target]; ok {
			svcs = append(svcs, s)
		}
	}
	if listers := c.serviceListers(""); len(listers) > 0 {
		stored := map[berth.ServiceRef]bool{}
		for _, s := range svcs {
			stored[c.canonicalRef(s.Ref())] = true
		}
		found, _, err := c.runtimeServices(ctx, "", listers)
		if err != nil {
			c.log.Warn("recommendations: list unmanaged services", "err", err)
		}
		for _, s := range found {
			if !stored[c.canonicalRef(s.Ref())] {
				s.Managed = false
				svcs = append(svcs, s)
			}
		}
	}
	return svcs, nil
}

// serviceInput gathers one service's history and state for the engine.
func (c *Core) serviceInput(ctx context.Context, ms berth.MetricsStore, cfg recommend.Config, svc *berth.Service, now time.Time) (recommend.ServiceInput, error) {
	res := recommend.Resolution(cfg.Window, c.recs.cfg.Retention)
	in := recommend.ServiceInput{Service: svc, Prices: c.Prices(svc.Target), Now: now, Resolution: res}
	series, err := ms.QueryMetrics(ctx, berth.MetricQuery{Resolution: res, From: now.Add(-cfg.Window), To: now,
		Target: svc.Target, Namespace: svc.Namespace, Name: svc.Name, Kinds: []string{berth.SubjectReplica, berth.SubjectService},
		Metrics: []string{berth.MetricCPU, berth.MetricMemory, berth.MetricReady, berth.MetricRestarts}})
	if err != nil {
		return in, err
	}
	for _, s := range series {
		switch {
		case s.Kind == berth.SubjectReplica && s.Metric == berth.MetricCPU:
			in.ReplicaCPU = append(in.ReplicaCPU, s)
		case s.Kind == berth.SubjectReplica && s.Metric == berth.MetricMemory:
			in.ReplicaMemory = append(in.ReplicaMemory, s)
		case s.Kind == berth.SubjectService && s.Metric == berth.MetricReady:
			in.ServiceReady = append(in.ServiceReady, s)
		case s.Kind == berth.SubjectService && s.Metric == berth.MetricRestarts:
			in.ServiceRestarts = append(in.ServiceRestarts, s)
		}
	}
	if a, ok := c.runtimes[svc.Target].(berth.AutoscaleReporter); ok {
		if in.HPAManaged, err = a.Autoscaled(ctx, svc.Ref()); err != nil {
			return in, err
		}
	}
	// OOM kills and crash loops need the replicas as they are now (both
	// runtimes answer from memory: the local supervisor, the informers);
	// the revisions only for services not running as they should.
	if svc.Managed {
		if st, err := c.runtimes[svc.Target].ServiceState(ctx, svc.Ref()); err == nil {
			svc.Instances = st.Instances
		}
		if svc.Status == berth.ServiceDegraded || svc.Status == berth.ServiceError || svc.Status == berth.ServiceDeploying {
			if in.Revisions, err = c.store.ListRevisions(ctx, svc.Ref()); err != nil {
				return in, err
			}
		}
	}
	for _, i := range svc.Instances {
		if strings.Contains(strings.ToUpper(i.LastExit), "OOM") {
			in.OOMKills++
		}
	}
	return in, nil
}

// kubectlCommand is what whoever manages a workload berth did not create
// runs to do what the recommendation proposes.
func kubectlCommand(r *berth.Recommendation, svc *berth.Service) string {
	ns := ""
	if svc.Namespace != "" {
		ns = " -n " + svc.Namespace
	}
	switch r.Kind {
	case berth.RecRightsize:
		if r.Proposed.Resources == nil {
			return ""
		}
		return fmt.Sprintf("kubectl set resources deployment/%s%s --requests=cpu=%s,memory=%s",
			svc.Name, ns, r.Proposed.Resources.CPU, r.Proposed.Resources.Memory)
	case berth.RecScale:
		return fmt.Sprintf("kubectl scale deployment/%s%s --replicas=%d", svc.Name, ns, *r.Proposed.Replicas)
	case berth.RecRollback:
		return fmt.Sprintf("kubectl rollout undo deployment/%s%s --to-revision=%d", svc.Name, ns, r.Proposed.Revision)
	case berth.RecStopIdle:
		return fmt.Sprintf("kubectl scale deployment/%s%s --replicas=0", svc.Name, ns)
	}
	return ""
}

// recEvent publishes a recommendation's change; an environment's goes to
// its owner and admins.
func (c *Core) recEvent(ctx context.Context, typ string, r *berth.Recommendation) {
	cp := *r
	c.publish(ctx, berth.Event{Topic: TopicRecommendations, Type: typ, Owner: r.Owner, Data: &cp})
}

// visibleTo is the filter value hiding others' environment recommendations.
func visibleTo(a berth.Actor) string {
	if a.Role == berth.RoleAdmin {
		return ""
	}
	return a.UserID
}

// mayRec: environment recommendations are their owner's and admins'.
func mayRec(a berth.Actor, r *berth.Recommendation) bool {
	return r.Subject.Type != berth.RecSubjectEnvironment || a.Role == berth.RoleAdmin || r.Owner == a.UserID
}

// ListRecommendations answers a page of the recommendations the caller may
// see, newest update first.
func (c *Core) ListRecommendations(ctx context.Context, f berth.RecommendationFilter) ([]*berth.Recommendation, int, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, 0, err
	}
	rs, _, err := c.recStores()
	if err != nil {
		return nil, 0, err
	}
	if f.Status != "" && !berth.KnownRecStatus(f.Status) {
		return nil, 0, berth.Invalid("status", "%q is not a status (OPEN, APPLIED, REJECTED, EXPIRED, FAILED)", f.Status)
	}
	if f.Kind != "" && !berth.KnownRecKind(f.Kind) {
		return nil, 0, berth.Invalid("kind", "%q is not a recommendation kind", f.Kind)
	}
	if f.Target != "" {
		if _, ok := c.runtimes[f.Target]; !ok {
			return nil, 0, berth.Invalid("target", "%q is not configured; configured targets: %s", f.Target, c.targetList())
		}
	}
	f.VisibleTo = visibleTo(a)
	return rs.ListRecommendations(ctx, f)
}

// GetRecommendation answers one recommendation; another user's
// environment recommendation is NOT_FOUND to all but admins.
func (c *Core) GetRecommendation(ctx context.Context, id string) (*berth.Recommendation, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	rs, _, err := c.recStores()
	if err != nil {
		return nil, err
	}
	r, err := rs.GetRecommendation(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayRec(a, r) {
		return nil, berth.NotFound("recommendation", id)
	}
	return r, nil
}

// RejectRecommendation marks an OPEN recommendation REJECTED with the
// caller's reason: the same proposal is not raised again for its subject
// and kind for 7 days unless it moves more than 20%.
func (c *Core) RejectRecommendation(ctx context.Context, id, reason string) (*berth.Recommendation, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !a.Role.AtLeast(berth.RoleOperator) {
		return nil, berth.Errorf(berth.EFORBIDDEN, "reject recommendation %s: needs the operator role", id)
	}
	if len(reason) > 1000 || !berth.PlainText(reason) {
		return nil, berth.Invalid("reason", "must be at most 1000 characters of plain text")
	}
	unlock := c.lock("rec/" + id)
	defer unlock()
	r, err := c.GetRecommendation(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != berth.RecOpen {
		return nil, berth.Errorf(berth.ECONFLICT, "reject recommendation %s: it is %s, only an OPEN one can be rejected", id, r.Status)
	}
	rs, _, _ := c.recStores()
	r.Status, r.RejectedBy, r.RejectReason, r.UpdatedAt = berth.RecRejected, a.Username, reason, c.now().UTC()
	if err := rs.TransitionRecommendation(ctx, r, berth.RecOpen); err != nil {
		return nil, fmt.Errorf("reject recommendation %s: %w", id, err)
	}
	c.recEvent(ctx, "recommendation.rejected", r)
	return r, nil
}

// RecommendationSummary is the overview's part: all the caller may see by
// status, the OPEN ones by kind and their total monthly saving.
func (c *Core) RecommendationSummary(ctx context.Context) (*berth.RecSummary, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	rs, _, err := c.recStores()
	if err != nil {
		return nil, err
	}
	return rs.SummarizeRecommendations(ctx, visibleTo(a))
}

// EngineStatus is the external engine's last exchange (nil: none set).
func (c *Core) EngineStatus() *berth.RecEngineStatus {
	if c.recs.cfg.External == nil {
		return nil
	}
	c.recs.engMu.Lock()
	defer c.recs.engMu.Unlock()
	if c.recs.engine == nil {
		return &berth.RecEngineStatus{URL: c.recs.cfg.External.DisplayURL(), Status: "waiting"}
	}
	cp := *c.recs.engine
	return &cp
}

// expireOnChange expires, as soon as core changes a service or an
// environment, the OPEN recommendations computed for what it was: a new
// revision, another replica count, a stop or a delete.
func (c *Core) expireOnChange(ctx context.Context, typ string, svc *berth.Service, env *berth.Environment) {
	rs, ok := c.store.(berth.RecommendationStore)
	if !ok {
		return
	}
	var key string
	switch {
	case svc != nil:
		key = (&berth.Recommendation{Target: svc.Target, Namespace: svc.Namespace,
			Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: svc.Name}}).SubjectKey()
	case env != nil:
		key = (&berth.Recommendation{Target: env.Target, Subject: berth.RecSubject{Type: berth.RecSubjectEnvironment, ID: env.ID}}).SubjectKey()
	default:
		return
	}
	sys := berth.WithActor(ctx, berth.System)
	open, _, err := rs.ListRecommendations(sys, berth.RecommendationFilter{Status: berth.RecOpen, SubjectKey: key})
	if err != nil || len(open) == 0 {
		return
	}
	now := c.now().UTC()
	for _, r := range open {
		stale := strings.HasSuffix(typ, ".deleted")
		if svc != nil {
			cur := r.Current
			stale = stale || (cur.Revision != 0 && cur.Revision != svc.Revision) ||
				(cur.Replicas != nil && *cur.Replicas != svc.Replicas) || (cur.Status == "RUNNING" && svc.Stopped) || (cur.Status == "STOPPED" && !svc.Stopped)
		}
		if env != nil {
			stale = stale || (typ == "environment.stopped" && r.Current.Status == string(berth.EnvRunning)) ||
				(typ == "environment.started" && r.Current.Status == string(berth.EnvStopped))
		}
		if id, _ := ctx.Value(applyingKey{}).(string); id == r.ID {
			continue // the change is this recommendation's own apply
		}
		if stale {
			c.expireRec(sys, rs, r, "its subject changed ("+typ+")", now)
		}
	}
}

// applyingKey marks the context of an apply with the recommendation's id,
// so that the change it makes does not expire it.
type applyingKey struct{}
