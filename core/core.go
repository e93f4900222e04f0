// Package core is berth's application layer: it resolves targets, checks
// ownership and input, keeps desired state in the store and converges the
// runtimes to it. It knows nothing of HTTP.
package core

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
)

// Config wires a Core.
type Config struct {
	Store         berth.Store
	Runtimes      []berth.Runtime
	DefaultTarget string // "" → "local" when configured, else the first runtime
	MaxReplicas   int    // bound of spec.replicas (default 50)
	// ActivityToken mints the token a workspace uses to report its activity,
	// and ActivityURL is where it reports (berth's own URL + the route).
	ActivityToken func(envID string) string
	PublicURL     string
	SyncInterval  time.Duration // observed-state sync and auto-stop check (default 2s)
	Logger        *slog.Logger
	Now           func() time.Time
	// OnAudit, when set, is told of every audit entry core writes itself.
	OnAudit func(*berth.AuditEntry)
	// ProxySecret is the per-environment secret berth's proxy adds to every
	// request it forwards to a workspace of a proxied target (local); the
	// workspace gets it as BERTH_PROXY_SECRET and refuses requests without it.
	ProxySecret func(envID string) string
	// EnvDomain, when set, serves each proxied environment on its own host
	// {id}.<EnvDomain> (its own browser origin) instead of <PublicURL>/env/{id}/.
	EnvDomain string
	// Events receives every state change and audit entry (nil: none).
	Events berth.Publisher
	// OrphanGrace lists the targets whose orphans core removes, each with
	// how long an object must stay orphaned first (see orphans.go).
	OrphanGrace map[string]time.Duration
	// OrphanInterval is how often orphans are looked for (default 1m).
	OrphanInterval time.Duration
	// Leading says whether this replica runs the background loops (sync of
	// observed state, auto-stop) when several share a database; nil: always.
	Leading func() bool
	// SharedStore says other berth replicas may share the store
	// (PostgreSQL): a service whose target is not configured here may be
	// another replica's (a local target is per host, DESIGN §2), so reads
	// show its stored state, which that replica syncs, instead of
	// "no longer configured".
	SharedStore bool
	// LogSources read the service logs of a target instead of its runtime
	// (Loki, keyed by target name); targets not listed use the runtime.
	LogSources map[string]berth.ServiceLogger
	// ExtraCapabilities are what the wiring provides for a target beyond its
	// runtime (metrics through a usage source), by target name.
	ExtraCapabilities map[string][]berth.Capability
	// Policies say per target which roles may run arbitrary commands and
	// which service templates the others use (policy.go). A local target
	// without one lets only admins run commands.
	Policies map[string]berth.TargetPolicy
	// Prices by target (berth.yaml targets[].prices); a target without
	// one costs berth.DefaultPrices of its provider.
	Prices map[string]berth.Prices
	// Reconcile tunes the reconcile loop (reconcile.go).
	Reconcile ReconcileConfig
	// Recommend tunes the recommendations (recommendations.go).
	Recommend RecommendConfig
	// Dormancy says when stopped environments become dormant and when
	// dormant ones are deleted (dormancy.go).
	Dormancy DormancyConfig
}

// Core is the application service behind the API.
type Core struct {
	store     berth.Store
	runtimes  map[string]berth.Runtime
	order     []string // target names, sorted
	def       string
	maxRepl   int
	activity  func(string) string
	publicURL string
	interval  time.Duration
	log       *slog.Logger
	now       func() time.Time
	onAudit   func(*berth.AuditEntry)
	events    berth.Publisher
	leading   func() bool
	shared    bool // SharedStore

	// The environment proxy (envproxy.go).
	proxySecret func(string) string
	envDomain   string

	orphanGrace    map[string]time.Duration
	orphanInterval time.Duration
	orphansMu      sync.Mutex
	orphanSeen     map[string]map[string]time.Time // target → type/id → first seen orphaned
	// logSources override the runtimes' logs per target (logsource.go).
	logSources map[string]berth.ServiceLogger
	extraCaps  map[string][]berth.Capability
	// policies by target (policy.go).
	policies map[string]berth.TargetPolicy
	prices   map[string]berth.Prices

	// svcLocks serialise mutations of one service or environment so that
	// concurrent requests (two PUTs, a scale during a rollback) apply in order.
	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	// unmanagedSeen is the last state the sync loop saw of each service
	// berth did not create (nil until its first pass).
	unmanagedMu   sync.Mutex
	unmanagedSeen map[berth.ServiceRef]observedState
	// unmanagedMarks is, per indexed target, what its last pass saw: a
	// pass over the same workloads and stored records is skipped.
	unmanagedMarks map[string]unmanagedMark

	// predictions keeps this hour's forecasts (predictions.go).
	predictions predictionCache

	// restarts remembers each service's restart total between overviews,
	// so an alert can say the restarts are still rising (overview.go).
	restartsMu sync.Mutex
	restarts   map[string]int
	// rec is the reconcile loop's queue and counter (reconcile.go).
	rec *reconciler
	// recs are the recommendations' settings and engine status (recommendations.go).
	recs *recState
	// dormancy settings (dormancy.go).
	dormancy DormancyConfig

	stopLoops context.CancelFunc
	loopsDone chan struct{}
}

// New validates cfg and returns a Core.
func New(cfg Config) (*Core, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("core: no store")
	}
	if len(cfg.Runtimes) == 0 {
		return nil, fmt.Errorf("core: no target configured")
	}
	c := &Core{
		store:     cfg.Store,
		runtimes:  map[string]berth.Runtime{},
		maxRepl:   cfg.MaxReplicas,
		activity:  cfg.ActivityToken,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		interval:  cfg.SyncInterval,
		log:       cfg.Logger,
		now:       cfg.Now,
		onAudit:   cfg.OnAudit,
		events:    cfg.Events,
		leading:   cfg.Leading,
		shared:    cfg.SharedStore,

		proxySecret: cfg.ProxySecret,
		envDomain:   strings.Trim(strings.ToLower(cfg.EnvDomain), "."),

		orphanGrace:    cfg.OrphanGrace,
		orphanInterval: cfg.OrphanInterval,
		orphanSeen:     map[string]map[string]time.Time{},
		locks:          map[string]*sync.Mutex{},
		rec:            newReconciler(cfg.Reconcile),
		prices:         cfg.Prices,
		recs:           &recState{cfg: cfg.Recommend},
		dormancy:       cfg.Dormancy,
	}
	if c.dormancy.After <= 0 {
		c.dormancy.After = berth.DefaultDormantAfter
	}
	c.recs.cfg.Retention = c.recs.cfg.Retention.WithDefaults()
	if c.recs.cfg.Interval == 0 {
		c.recs.cfg.Interval = 15 * time.Minute
	}
	if err := c.setTargets(cfg); err != nil {
		return nil, err
	}
	c.setDefaults()
	return c, nil
}

// setTargets takes the runtimes (names unique), the default target, the log
// sources, capabilities and policies of cfg.
func (c *Core) setTargets(cfg Config) error {
	for _, rt := range cfg.Runtimes {
		name := rt.Info().Name
		if _, dup := c.runtimes[name]; dup {
			return fmt.Errorf("core: target %q configured twice", name)
		}
		c.runtimes[name] = rt
		c.order = append(c.order, name)
	}
	sort.Strings(c.order)
	c.extraCaps = cfg.ExtraCapabilities
	if err := c.setLogSources(cfg.LogSources); err != nil {
		return err
	}
	if err := c.setPolicies(cfg.Policies); err != nil {
		return err
	}
	c.def = cfg.DefaultTarget
	if c.def == "" {
		if _, ok := c.runtimes["local"]; ok {
			c.def = "local"
		} else {
			c.def = c.order[0]
		}
	}
	if _, ok := c.runtimes[c.def]; !ok {
		return fmt.Errorf("core: default target %q is not configured", c.def)
	}
	return nil
}

// setDefaults fills in what cfg left zero.
func (c *Core) setDefaults() {
	if c.maxRepl <= 0 {
		c.maxRepl = 50
	}
	if c.interval <= 0 {
		c.interval = 2 * time.Second
	}
	if c.orphanInterval <= 0 {
		c.orphanInterval = time.Minute
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// MaxReplicas is the configured bound of spec.replicas.
func (c *Core) MaxReplicas() int { return c.maxRepl }

// MetricsStore is where the sampler keeps metrics history, for the metrics
// routes to read when they are given no sampler's history: NOT_SUPPORTED
// when the store keeps none.
func (c *Core) MetricsStore() (berth.MetricsStore, error) {
	ms, ok := c.store.(berth.MetricsStore)
	if !ok {
		return nil, berth.Errorf(berth.ENOTSUPPORTED, "this store keeps no metrics history")
	}
	return ms, nil
}

// Targets lists the configured targets, the default marked.
func (c *Core) Targets() []berth.TargetInfo {
	out := make([]berth.TargetInfo, 0, len(c.order))
	for _, name := range c.order {
		info := c.runtimes[name].Info()
		info.Default = name == c.def
		p := c.policies[name]
		info.CommandRoles = p.CommandRoles
		info.ServiceTemplates = p.Templates()
		info.Capabilities = c.capabilities(name)
		out = append(out, info)
	}
	return out
}

// capabilities are the target's runtime's, with what berth adds for it.
func (c *Core) capabilities(target string) []berth.Capability {
	extra := c.extraCaps[target]
	if _, ok := c.logSources[target]; ok {
		extra = append(extra[:len(extra):len(extra)], berth.CapLogs)
	}
	return berth.Capabilities(c.runtimes[target], extra...)
}

// Runtime returns the runtime of a target.
func (c *Core) Runtime(target string) (berth.Runtime, bool) {
	rt, ok := c.runtimes[target]
	return rt, ok
}

// resolveTarget picks a target the way DESIGN §2 says: an explicit target
// wins, else provider + region, else the default.
func (c *Core) resolveTarget(target, provider, region string) (berth.Runtime, error) {
	if target != "" {
		rt, ok := c.runtimes[target]
		if !ok {
			return nil, berth.Invalid("target", "%q is not configured; configured targets: %s", target, c.targetList())
		}
		return rt, nil
	}
	if provider == "" {
		return c.runtimes[c.def], nil
	}
	if provider == berth.ProviderAWS || provider == berth.ProviderGCP {
		return nil, berth.Errorf(berth.ENOTSUPPORTED, "cloudProvider %s is not supported yet; configured targets: %s", provider, c.targetList())
	}
	var match []berth.Runtime
	for _, name := range c.order {
		info := c.runtimes[name].Info()
		if info.Provider != provider {
			continue
		}
		if region != "" && info.Region != "" && !strings.EqualFold(info.Region, region) {
			continue
		}
		match = append(match, c.runtimes[name])
	}
	// Prefer an exact region match over a region-less target of the provider.
	for _, rt := range match {
		if region != "" && strings.EqualFold(rt.Info().Region, region) {
			return rt, nil
		}
	}
	if len(match) > 0 {
		if name := c.def; c.runtimes[name].Info().Provider == provider {
			return c.runtimes[name], nil
		}
		return match[0], nil
	}
	field := "cloudProvider"
	if region != "" {
		field = "cloudRegion"
	}
	return nil, berth.Invalid(field, "no target for provider %s region %q; configured targets: %s", provider, region, c.targetList())
}

func (c *Core) targetList() string {
	var parts []string
	for _, name := range c.order {
		info := c.runtimes[name].Info()
		s := name + " (" + info.Provider
		if info.Region != "" {
			s += " " + info.Region
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}

// lock serialises mutations of one object.
func (c *Core) lock(key string) func() {
	c.locksMu.Lock()
	m, ok := c.locks[key]
	if !ok {
		m = &sync.Mutex{}
		c.locks[key] = m
	}
	c.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// ErrNoActor is what every core entry point answers a context that names no
// caller: core never acts for nobody. Requests carry their authenticated
// user, background loops berth.System (given where they start).
var ErrNoActor = &berth.Error{Code: berth.EUNAUTHORIZED, Message: "no caller: the request carries no identity"}

// actor is the caller ctx carries, or ErrNoActor.
func actor(ctx context.Context) (berth.Actor, error) {
	if a, ok := berth.ActorFrom(ctx); ok && a.UserID != "" {
		return a, nil
	}
	return berth.Actor{}, ErrNoActor
}

// caller is the actor ctx carries; without one, the zero actor, who has no
// role and owns nothing (so every rule refuses it). Entry points check for
// the actor first (must); caller serves the code behind them.
func caller(ctx context.Context) berth.Actor {
	a, _ := actor(ctx)
	return a
}

// must answers ErrNoActor when ctx names no caller, for entry points that
// do not otherwise need the actor (services are shared).
func must(ctx context.Context) error {
	_, err := actor(ctx)
	return err
}

// Start enqueues every stored service and environment (the reconcile
// loop brings back what should run: the local runtime keeps its desired
// state in the store only) and starts the background loops.
// The loops act as berth.System (Start is an exception to the actor rule).
func (c *Core) Start(ctx context.Context) error {
	ctx = berth.WithActor(ctx, berth.System)
	// Before the reconcile writes anything: time no berth watched (this one
	// was down) is cut from the usage intervals at their last heartbeat.
	c.usageHeartbeat(ctx, true)
	if err := c.enqueueAll(ctx); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stopLoops = cancel
	c.loopsDone = make(chan struct{})
	reconcileDone := make(chan struct{})
	go func() {
		defer close(reconcileDone)
		c.runReconcile(loopCtx)
	}()
	recommendDone := make(chan struct{})
	go func() {
		defer close(recommendDone)
		c.runRecommendLoop(loopCtx)
	}()
	go func() {
		defer close(c.loopsDone)
		defer func() { <-reconcileDone; <-recommendDone }()
		t := time.NewTicker(c.interval)
		defer t.Stop()
		var lastOrphans time.Time
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				if c.leading == nil || c.leading() {
					c.SyncOnce(loopCtx)
					if len(c.orphanGrace) > 0 && c.now().Sub(lastOrphans) >= c.orphanInterval {
						lastOrphans = c.now()
						if err := c.CleanupOrphans(loopCtx); err != nil {
							c.log.Error("clean up orphans", "err", err)
						}
					}
				} else {
					c.syncHostTargets(loopCtx)
				}
			}
		}
	}()
	c.watchDrift()
	return nil
}

// Stop ends the background loops.
func (c *Core) Stop() {
	if c.stopLoops != nil {
		c.stopLoops()
		<-c.loopsDone
	}
}

// syncHostTargets is a follower's share of the sync: the observed state,
// auto-stop and dormancy of the services and environments of its per-host
// (local) targets, which no other replica can observe or stop (a local
// target is given to one replica, DESIGN §2); the leader skips them.
func (c *Core) syncHostTargets(ctx context.Context) {
	hosts := map[string]bool{}
	for name, rt := range c.runtimes {
		if rt.Info().Provider == berth.ProviderLocal {
			hosts[name] = true
		}
	}
	if len(hosts) == 0 {
		return
	}
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		c.log.Error("sync services", "err", err)
		return
	}
	for _, svc := range svcs {
		if hosts[svc.Target] {
			c.syncService(ctx, svc)
		}
	}
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		c.log.Error("sync environments", "err", err)
		return
	}
	var mine []*berth.Environment
	for _, env := range envs {
		if hosts[env.Target] {
			c.syncEnvironment(ctx, env)
			mine = append(mine, env)
		}
	}
	c.autoStop(ctx, mine)
	c.dormancySweep(ctx, mine)
}

// configuredHere are the environments whose target this replica has: the
// only ones it can stop or delete (a stop through a missing target failed,
// and audited the failure, at every sync).
func (c *Core) configuredHere(envs []*berth.Environment) []*berth.Environment {
	var out []*berth.Environment
	for _, env := range envs {
		if _, ok := c.runtimes[env.Target]; ok {
			out = append(out, env)
		}
	}
	return out
}

// SyncOnce writes observed state into the store (so lists are cheap and
// survive restarts) and stops idle environments. The loop calls it; tests
// call it directly, as berth.System.
func (c *Core) SyncOnce(ctx context.Context) {
	if err := must(ctx); err != nil {
		c.log.Error("sync", "err", err)
		return
	}
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		c.log.Error("sync services", "err", err)
		return
	}
	for _, svc := range svcs {
		c.syncService(ctx, svc)
	}
	c.syncUnmanaged(ctx, svcs)
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		c.log.Error("sync environments", "err", err)
		return
	}
	for _, env := range envs {
		c.syncEnvironment(ctx, env)
	}
	here := c.configuredHere(envs)
	c.autoStop(ctx, here)
	c.dormancySweep(ctx, here)
	c.usageHeartbeat(ctx, false)
}
