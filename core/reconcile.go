package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berthhq/berth"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// The reconcile loop (level-triggered, DESIGN §7): one key per stored
// service and environment goes through a rate-limited work queue; a worker
// compares the stored desired state with what the runtime reports and
// re-applies what drifted or vanished. Core's own writes, informer events
// of managed objects and a periodic resync enqueue keys; a failing key is
// retried with exponential backoff. Runtimes apply idempotently and every
// pass re-reads the store under the object's lock, so two passes (or two
// leaders, one after the other) do no harm.

// reconcileKey names one object the loop converges: a service or an environment.
type reconcileKey struct {
	svc berth.ServiceRef
	env string
}

func (k reconcileKey) String() string {
	if k.env != "" {
		return "environment " + k.env
	}
	return "service " + k.svc.String()
}

// ReconcileConfig tunes the reconcile loop (zero values: defaults).
type ReconcileConfig struct {
	// Resync is how often every key is enqueued (default 30s).
	Resync time.Duration
	// RetryBase and RetryMax bound the per-key exponential backoff of a
	// failing key (defaults 1s and 5m).
	RetryBase, RetryMax time.Duration
	// Workers is how many keys are reconciled at once (default 2).
	Workers int
	// RepairRetries is how many failed passes in a row a key may have
	// before its object shows ERROR (default 5); the loop keeps retrying
	// with backoff, and the first pass that succeeds clears the ERROR.
	RepairRetries int
	// Clock drives the queue's delays (tests inject a fake one).
	Clock clock.WithTicker
}

type reconciler struct {
	queue  workqueue.TypedRateLimitingInterface[reconcileKey]
	cfg    ReconcileConfig
	drifts *prometheus.CounterVec
	wg     sync.WaitGroup
	mu     sync.Mutex
	// applied holds the keys this process applied once: the first pass of
	// a key applies unconditionally (what restore at start did), later
	// passes only what the runtime reports drifted.
	applied map[reconcileKey]bool
	// failing holds the keys whose repair failed past RepairRetries, with
	// the reason their object shows until a pass succeeds.
	failing map[reconcileKey]string
}

func newReconciler(cfg ReconcileConfig) *reconciler {
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.RepairRetries <= 0 {
		cfg.RepairRetries = 5
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcileKey](cfg.RetryBase, cfg.RetryMax),
		// All keys together: at most 20 passes a second (bursts of 50), so a
		// resync of many objects does not flood a target.
		&workqueue.TypedBucketRateLimiter[reconcileKey]{Limiter: rate.NewLimiter(rate.Limit(20), 50)},
	)
	return &reconciler{
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[reconcileKey]{Name: "berth-reconcile", Clock: cfg.Clock}),
		cfg: cfg,
		drifts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_drift_repairs_total",
			Help: "Managed objects found drifted or vanished and re-applied by the reconcile loop, by kind (service, environment) and target.",
		}, []string{"kind", "target"}),
		applied: map[reconcileKey]bool{},
		failing: map[reconcileKey]string{},
	}
}

// Collectors are core's Prometheus metrics (the drift counter) for /metrics.
func (c *Core) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.rec.drifts}
}

// watchDrift has runtimes that see changes of their managed objects
// (Kubernetes informers) enqueue the owning key at once.
func (c *Core) watchDrift() {
	for _, name := range c.order {
		if dn, ok := c.runtimes[name].(berth.DriftNotifier); ok {
			dn.NotifyDrift(func(ref berth.ServiceRef, envID string) {
				if envID != "" {
					c.enqueueEnvironment(envID)
				} else {
					c.enqueueService(ref)
				}
			})
		}
	}
}

// enqueueService and enqueueEnvironment ask the loop to check one object.
func (c *Core) enqueueService(ref berth.ServiceRef) {
	c.rec.queue.Add(reconcileKey{svc: ref})
}

func (c *Core) enqueueEnvironment(id string) {
	c.rec.queue.Add(reconcileKey{env: id})
}

// wrote enqueues the key of an object core just changed (typ is the event
// published). An operation that applied to the runtime counts as the key's
// first pass, so the loop does not apply it again; observations (status)
// and failures do not.
func (c *Core) wrote(key reconcileKey, typ string) {
	switch typ {
	case "service.status", "service.error", "environment.status", "environment.error":
	default:
		c.rec.mu.Lock()
		c.rec.applied[key] = true
		c.rec.mu.Unlock()
	}
	c.rec.queue.Add(key)
}

// enqueueAll enqueues every stored service and environment: what restore
// at start and the periodic resync do.
func (c *Core) enqueueAll(ctx context.Context) error {
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		return fmt.Errorf("enqueue services: %w", err)
	}
	for _, svc := range svcs {
		if svc.Managed {
			c.enqueueService(svc.Ref())
		}
	}
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		return fmt.Errorf("enqueue environments: %w", err)
	}
	for _, env := range envs {
		c.enqueueEnvironment(env.ID)
	}
	return nil
}

// runReconcile starts the workers and the resync; it returns when ctx ends
// (the queue is shut down and every worker has returned).
func (c *Core) runReconcile(ctx context.Context) {
	for range c.rec.cfg.Workers {
		c.rec.wg.Add(1)
		go func() {
			defer c.rec.wg.Done()
			for c.reconcileNext(ctx) {
			}
		}()
	}
	resync := c.rec.cfg.Clock.NewTicker(c.rec.cfg.Resync)
	defer resync.Stop()
	// A replica that becomes leader enqueues everything at once: keys it
	// was handed while following were skipped (reconcileNext).
	lead := c.rec.cfg.Clock.NewTicker(c.interval)
	defer lead.Stop()
	leading := func() bool { return c.leading == nil || c.leading() }
	wasLeading := leading()
	resyncAll := func() {
		if err := c.enqueueAll(ctx); err != nil {
			c.log.Error("reconcile resync", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			c.rec.queue.ShutDown()
			c.rec.wg.Wait()
			return
		case <-resync.C():
			resyncAll() // the workers skip what another replica leads
		case <-lead.C():
			now := leading()
			if now && !wasLeading {
				resyncAll()
			}
			wasLeading = now
		}
	}
}

// reconcileNext handles one key; false once the queue is shut down.
func (c *Core) reconcileNext(ctx context.Context) bool {
	key, quit := c.rec.queue.Get()
	if quit {
		return false
	}
	defer c.rec.queue.Done(key)
	if c.leading != nil && !c.leading() && c.applied(key) {
		// Another replica converges. Only the first pass (what restore
		// did at start) runs on every replica: a local target is per host,
		// and its replica need not lead.
		c.rec.queue.Forget(key)
		return true
	}
	if err := c.Reconcile(ctx, key.svc, key.env); err != nil {
		failed := c.rec.queue.NumRequeues(key) + 1
		c.log.Warn("reconcile: retrying with backoff", "object", key.String(), "failures", failed, "err", err)
		if failed >= c.rec.cfg.RepairRetries {
			c.repairFailed(ctx, key, failed, err)
		}
		c.rec.queue.AddRateLimited(key)
		return true
	}
	c.rec.queue.Forget(key)
	return true
}

// Reconcile converges one service (ref) or environment (envID) to its
// stored desired state. It is idempotent; the loop calls it, tests too.
func (c *Core) Reconcile(ctx context.Context, ref berth.ServiceRef, envID string) error {
	// Like every entry point it needs a caller; the repair itself is the
	// system's (its audit entries say so), whoever asked for the pass.
	if err := must(ctx); err != nil {
		return err
	}
	ctx = berth.WithActor(ctx, berth.System)
	key, err := reconcileKey{svc: ref}, error(nil)
	if envID != "" {
		key, err = reconcileKey{env: envID}, c.reconcileEnvironment(ctx, envID)
	} else {
		err = c.reconcileService(ctx, ref)
	}
	if err != nil {
		return err
	}
	c.repaired(ctx, key) // a failure the object showed is over
	return nil
}

func (c *Core) applied(key reconcileKey) bool {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	return c.rec.applied[key]
}

func (c *Core) forgetApplied(key reconcileKey) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	delete(c.rec.applied, key)
}

// firstPass reports whether key has not been applied by this process yet
// and marks it applied.
func (c *Core) firstPass(key reconcileKey) bool {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	first := !c.rec.applied[key]
	c.rec.applied[key] = true
	return first
}

func (c *Core) reconcileService(ctx context.Context, ref berth.ServiceRef) error {
	unlock := c.lock("svc/" + ref.String())
	defer unlock()
	svc, err := c.store.GetService(ctx, ref)
	if berth.IsCode(err, berth.ENOTFOUND) {
		c.forgetApplied(reconcileKey{svc: ref})
		c.clearFailing(reconcileKey{svc: ref})
		return nil // deleted: the delete removed its objects
	}
	if err != nil {
		return fmt.Errorf("reconcile service %s: %w", ref, err)
	}
	rt, ok := c.runtimes[svc.Target]
	if !ok || !svc.Managed {
		return nil // berth did not create it: never changed by the loop
	}
	key := reconcileKey{svc: ref}
	var drift []string
	if !c.firstPass(key) {
		dr, ok := rt.(berth.DriftReporter)
		if !ok {
			return nil // applied once (restore); user writes apply the rest
		}
		spec, err := c.expand(svc.Target, svc.Spec)
		if err != nil {
			return fmt.Errorf("reconcile service %s: %w", ref, err)
		}
		run := *svc
		run.Spec = spec
		if drift, err = dr.ServiceDrift(ctx, &run); err != nil {
			return fmt.Errorf("reconcile service %s: check drift: %w", ref, err)
		}
		if len(drift) == 0 {
			return nil
		}
	}
	if err := c.applyRuntime(ctx, rt, svc); err != nil {
		c.forgetApplied(key)
		return fmt.Errorf("reconcile service %s: apply: %w", ref, err)
	}
	if len(drift) > 0 {
		c.recordDrift(ctx, "service", svc.Target, ref.String(), drift, func() {
			cp := *svc
			cp.Spec = svc.Spec.Redacted()
			c.publish(ctx, berth.Event{Topic: TopicServices, Type: "service.drift", Data: &serviceDrift{Service: &cp, Drift: drift}})
		})
	}
	return nil
}

func (c *Core) reconcileEnvironment(ctx context.Context, id string) error {
	unlock := c.lock("env/" + id)
	defer unlock()
	env, err := c.store.GetEnvironment(ctx, id)
	if berth.IsCode(err, berth.ENOTFOUND) {
		c.forgetApplied(reconcileKey{env: id})
		c.clearFailing(reconcileKey{env: id})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile environment %s: %w", id, err)
	}
	rt, ok := c.runtimes[env.Target]
	if !ok || env.Status == berth.EnvDeleting {
		return nil
	}
	key := reconcileKey{env: id}
	run := c.runtimeEnv(env)
	var drift []string
	if !c.firstPass(key) {
		dr, ok := rt.(berth.DriftReporter)
		if !ok {
			return nil // ACI: the status sync reports what Azure did
		}
		if drift, err = dr.EnvironmentDrift(ctx, run); err != nil {
			return fmt.Errorf("reconcile environment %s: check drift: %w", id, err)
		}
		if len(drift) == 0 {
			return nil
		}
	}
	if _, err := rt.ApplyEnvironment(ctx, run); err != nil {
		c.forgetApplied(key)
		return fmt.Errorf("reconcile environment %s: apply: %w", id, err)
	}
	if len(drift) > 0 {
		c.recordDrift(ctx, "environment", env.Target, id, drift, func() {
			cp := *env
			cp.Secrets = berth.EnvSecrets{}
			c.publish(ctx, berth.Event{Topic: TopicEnvironments, Type: "environment.drift", Owner: env.UserID,
				Data: &environmentDrift{Environment: &cp, Drift: drift}})
		})
	}
	return nil
}

// serviceDrift and environmentDrift are the data of the drift events: the
// object as the other events of its topic carry it (secrets redacted), plus
// what had drifted before it was re-applied.
type serviceDrift struct {
	*berth.Service
	Drift []string `json:"drift"`
}

type environmentDrift struct {
	*berth.Environment
	Drift []string `json:"drift"`
}

// recordDrift makes a repair visible: the event, an audit entry by system
// and the counter.
func (c *Core) recordDrift(ctx context.Context, kind, target, resource string, drift []string, publish func()) {
	c.rec.drifts.WithLabelValues(kind, target).Inc()
	c.log.Info("reconcile: re-applied drifted object", "kind", kind, "object", resource, "drift", drift)
	publish()
	c.audit(ctx, &berth.AuditEntry{
		Timestamp: c.now().UTC(), UserID: berth.System.UserID, Username: berth.System.Username,
		Action: kind + ".drift", Type: "reconcile", ResourceType: kind, Resource: resource, Target: target,
		Status: berth.AuditCompleted, Details: map[string]any{"drift": drift},
	})
}
