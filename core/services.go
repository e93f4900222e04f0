package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// ServiceQuery names a service as API callers do: a name, and a target or
// namespace when the name alone is ambiguous.
type ServiceQuery struct {
	Name      string
	Target    string
	Namespace string
	// Revision, when above 0, lets a change go ahead only while the stored
	// service is at that revision (If-Match); reads ignore it.
	Revision int
}

// checkRevision answers CONFLICT when q asks for a revision that svc (the
// stored service, read under its lock) is not at.
func (q ServiceQuery) checkRevision(svc *berth.Service) error {
	return ApplyCondition{Revision: q.Revision}.check(svc.Ref(), svc)
}

// ServiceList is one page of services.
type ServiceList struct {
	Services []*berth.Service
	Total    int
	// Unreachable are the targets whose own services (those berth did not
	// create) could not be listed: the page shows only their stored ones.
	Unreachable []TargetStatus
}

// ListServices returns one page of services with their last observed state:
// the stored ones and, on runtimes that run services berth did not create
// (Kubernetes), those too (managed:false), ordered by target, namespace, name.
func (c *Core) ListServices(ctx context.Context, target string, offset, limit int) (*ServiceList, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	if target != "" {
		if _, ok := c.runtimes[target]; !ok {
			return nil, berth.Invalid("target", "%q is not configured; configured targets: %s", target, c.targetList())
		}
	}
	listers := c.serviceListers(target)
	if len(listers) == 0 {
		svcs, total, err := c.store.ListServices(ctx, berth.ServiceFilter{Target: target, Offset: offset, Limit: limit})
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		for _, s := range svcs {
			c.observeForList(ctx, s)
		}
		return &ServiceList{Services: svcs, Total: total}, nil
	}
	return c.pageServices(ctx, target, listers, offset, limit)
}

// observeForList overlays the live state on a listed service. Runtimes answer
// ServiceState from memory (the local supervisor, an informer cache), so a
// page shows live replica counts, not the last sync.
func (c *Core) observeForList(ctx context.Context, s *berth.Service) {
	_ = c.observe(ctx, s)
	s.Instances = nil // per-replica detail belongs to GET of one service
	s.Spec = s.Spec.Redacted()
}

// serviceListers are the runtimes (of target, or all) that report services
// berth did not create.
func (c *Core) serviceListers(target string) map[string]berth.ServiceLister {
	out := map[string]berth.ServiceLister{}
	for name, rt := range c.runtimes {
		if sl, ok := rt.(berth.ServiceLister); ok && (target == "" || target == name) {
			out[name] = sl
		}
	}
	return out
}

// canonicalRef fills in the target's default namespace: services stored
// before core recorded it have none, while the cluster object has one.
func (c *Core) canonicalRef(ref berth.ServiceRef) berth.ServiceRef {
	if ref.Namespace == "" {
		if rt, ok := c.runtimes[ref.Target]; ok {
			ref.Namespace = rt.Info().DefaultNamespace
		}
	}
	return ref
}

// find resolves a query to a service: a stored one, else (on runtimes that
// report them) a workload berth did not create. stored says which.
func (c *Core) find(ctx context.Context, q ServiceQuery) (svc *berth.Service, stored bool, err error) {
	if q.Target != "" {
		if _, ok := c.runtimes[q.Target]; !ok {
			return nil, false, berth.Invalid("target", "%q is not configured; configured targets: %s", q.Target, c.targetList())
		}
	}
	if err := c.CheckNamespace(q.Target, q.Namespace); err != nil {
		return nil, false, err
	}
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{Target: q.Target, Namespace: q.Namespace, Name: q.Name})
	if err != nil {
		return nil, false, fmt.Errorf("find service %s: %w", q.Name, err)
	}
	if len(svcs) == 0 && q.Namespace != "" {
		// Stored before core recorded the default namespace.
		legacy, _, err := c.store.ListServices(ctx, berth.ServiceFilter{Target: q.Target, Name: q.Name})
		if err != nil {
			return nil, false, fmt.Errorf("find service %s: %w", q.Name, err)
		}
		for _, s := range legacy {
			if s.Namespace == "" && c.canonicalRef(s.Ref()).Namespace == q.Namespace {
				svcs = append(svcs, s)
			}
		}
	}
	stored = true
	if len(svcs) == 0 {
		if svcs, err = c.findUnmanaged(ctx, q); err != nil {
			return nil, false, err
		}
		stored = false
	}
	switch len(svcs) {
	case 0:
		return nil, false, berth.NotFound("service", q.Name)
	case 1:
		return svcs[0], stored, nil
	}
	var where []string
	for _, s := range svcs {
		where = append(where, s.Ref().String())
	}
	return nil, false, berth.Errorf(berth.ECONFLICT,
		"service %q exists in several places (%s): name one with ?target= and ?namespace=", q.Name, strings.Join(where, ", "))
}

// findUnmanaged looks for q among the workloads the runtimes report. An
// indexed runtime builds only the workloads of that name.
func (c *Core) findUnmanaged(ctx context.Context, q ServiceQuery) ([]*berth.Service, error) {
	match := func(ns, name string) bool { return name == q.Name && (q.Namespace == "" || q.Namespace == ns) }
	listers := c.serviceListers(q.Target)
	var out []*berth.Service
	for _, name := range c.order {
		sl, ok := listers[name]
		if !ok {
			continue
		}
		found, err := c.unmanagedNamed(ctx, sl, match)
		if err != nil {
			if q.Target != "" {
				return nil, fmt.Errorf("find service %s: list services of target %s: %w", q.Name, name, err)
			}
			c.log.Warn("list services", "target", name, "err", err)
			continue
		}
		out = append(out, found...)
	}
	return out, nil
}

// unmanagedNamed are the services of sl that match.
func (c *Core) unmanagedNamed(ctx context.Context, sl berth.ServiceLister, match func(ns, name string) bool) ([]*berth.Service, error) {
	var found []*berth.Service
	if idx, ok := sl.(berth.ServiceIndexer); ok {
		keys, _, err := idx.ServiceKeys(ctx)
		if err != nil {
			return nil, err
		}
		var mine []berth.ServiceKey
		for _, k := range keys {
			if match(k.Namespace, k.Name) {
				mine = append(mine, k)
			}
		}
		if len(mine) == 0 {
			return nil, nil
		}
		if found, err = idx.ServicesOf(ctx, mine); err != nil {
			return nil, err
		}
	} else {
		var err error
		if found, err = sl.ListServices(ctx); err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(found, func(s *berth.Service) bool { return s == nil || !match(s.Namespace, s.Name) }), nil
}

// runtimeServices are what the listers report, in target order. A lister
// that fails is an error when the caller named its target; otherwise it is
// logged and reported as unreachable, and the others still answer.
func (c *Core) runtimeServices(ctx context.Context, target string, listers map[string]berth.ServiceLister) (
	svcs []*berth.Service, unreachable []TargetStatus, err error) {
	for _, name := range c.order {
		sl, ok := listers[name]
		if !ok {
			continue
		}
		found, err := sl.ListServices(ctx)
		if err != nil {
			if target != "" {
				return nil, nil, fmt.Errorf("list services of target %s: %w", name, err)
			}
			c.log.Warn("list services", "target", name, "err", err)
			unreachable = append(unreachable, TargetStatus{TargetInfo: c.runtimes[name].Info(), Error: berth.ErrorMessage(err)})
			continue
		}
		svcs = append(svcs, found...)
	}
	return svcs, unreachable, nil
}

// GetService returns a service with its live state from the runtime.
func (c *Core) GetService(ctx context.Context, q ServiceQuery) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	svc, _, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if err := c.observe(ctx, svc); berth.IsCode(err, berth.EUNAVAILABLE) {
		// Reading one service means reading its target: say it is down
		// (lists keep the stored record, with the reason as its message).
		return nil, err
	}
	svc.Spec = svc.Spec.Redacted()
	if ev, ok := c.runtimes[svc.Target].(berth.ServiceEventer); ok {
		events, err := ev.ServiceEvents(ctx, svc.Ref(), recentEvents)
		if err != nil {
			// The service itself was read: its events are a bonus, not a reason to fail.
			c.log.Warn("service events", "service", svc.Ref().String(), "err", err)
		}
		svc.Events = events
	}
	return svc, nil
}

// recentEvents is how many workload events GET of one service shows.
const recentEvents = 20

// observe overlays what the runtime reports on svc. It returns why the
// runtime could not say (ERROR is then the status, with that message).
func (c *Core) observe(ctx context.Context, svc *berth.Service) error {
	err := c.observeRuntime(ctx, svc)
	if reason, failing := c.failingReason(reconcileKey{svc: svc.Ref()}); failing && err == nil {
		svc.Status, svc.Message = berth.ServiceError, reason // the loop cannot repair it (repair.go)
	}
	return err
}

func (c *Core) observeRuntime(ctx context.Context, svc *berth.Service) error {
	rt, ok := c.runtimes[svc.Target]
	if !ok {
		if c.shared {
			return nil // another replica's target, maybe: the state it stored
		}
		svc.Status, svc.Message = berth.ServiceError, fmt.Sprintf("target %q is no longer configured", svc.Target)
		return nil
	}
	st, err := rt.ServiceState(ctx, svc.Ref())
	if err != nil {
		if berth.IsCode(err, berth.ENOTFOUND) {
			svc.Status, svc.ReadyReplicas = berth.ServicePending, 0
			return nil
		}
		svc.Status, svc.Message = berth.ServiceError, berth.ErrorMessage(err)
		return err
	}
	svc.Status, svc.ReadyReplicas, svc.Message, svc.Instances = st.Status, st.ReadyReplicas, st.Message, st.Instances
	return nil
}

// syncService stores the observed status when it changed.
func (c *Core) syncService(ctx context.Context, stored *berth.Service) {
	if _, ok := c.runtimes[stored.Target]; !ok {
		// Not observable here: storing "no longer configured" overwrote what
		// the replica that has the target (a local one is per host) stored.
		return
	}
	obs := *stored
	_ = c.observe(ctx, &obs)
	if obs.Status == stored.Status && obs.Message == stored.Message && obs.ReadyReplicas == stored.ReadyReplicas {
		return
	}
	unlock := c.lock("svc/" + stored.Ref().String())
	defer unlock()
	cur, err := c.store.GetService(ctx, stored.Ref())
	if err != nil {
		return // deleted meanwhile
	}
	cur.Status, cur.Message, cur.ReadyReplicas = obs.Status, obs.Message, obs.ReadyReplicas
	if err := c.store.UpdateService(ctx, cur, nil); err != nil {
		c.log.Error("sync service", "service", cur.Ref().String(), "err", err)
		return
	}
	cur.Instances = obs.Instances
	c.serviceEvent(ctx, "service.status", cur)
}

// ApplyService creates or updates a service from spec (PUT semantics). A
// change of the spec makes a new revision; an omitted replicas keeps the
// current count. It answers whether the service was created.
func (c *Core) ApplyService(ctx context.Context, name string, spec berth.ServiceSpec) (*berth.Service, bool, error) {
	return c.ApplyServiceIf(ctx, name, spec, ApplyCondition{})
}

// ApplyCondition is what an apply requires of the stored service before it
// changes anything (If-Match and If-None-Match on PUT /services/{name}).
// The zero value requires nothing. The revision is the spec revision: a
// scale, stop or start does not move it.
type ApplyCondition struct {
	Revision int  // the service exists at this revision
	Exists   bool // the service exists, at any revision
	Absent   bool // no service of that name exists yet
}

// check answers CONFLICT when cur (nil: no such service) does not meet c.
func (c ApplyCondition) check(ref berth.ServiceRef, cur *berth.Service) error {
	switch {
	case cur == nil && c.Revision > 0:
		return berth.Errorf(berth.ECONFLICT, "service %q does not exist, and the request required revision %d: nothing was changed", ref.Name, c.Revision)
	case cur == nil && c.Exists:
		return berth.Errorf(berth.ECONFLICT, "service %q does not exist, and the request required an existing one: nothing was changed", ref.Name)
	case cur != nil && c.Absent:
		return berth.Errorf(berth.ECONFLICT, "service %q already exists (revision %d), and the request required a new one: nothing was changed", ref.Name, cur.Revision)
	case cur != nil && c.Revision > 0 && cur.Revision != c.Revision:
		return berth.Errorf(berth.ECONFLICT, "service %q is at revision %d, and the request required revision %d: read it again; nothing was changed", ref.Name, cur.Revision, c.Revision)
	}
	return nil
}

// ApplyServiceIf is ApplyService when the stored service meets cond, checked
// under the service's lock (and the store writes only over the revision
// read), and CONFLICT without a change otherwise.
func (c *Core) ApplyServiceIf(ctx context.Context, name string, spec berth.ServiceSpec, cond ApplyCondition) (*berth.Service, bool, error) {
	ctx, span := tracing.Start(ctx, "core.ApplyService", attribute.String("berth.service", name))
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, false, err
	}
	rt, info, run, err := c.checkApply(ctx, name, &spec)
	if err != nil {
		return nil, false, err
	}
	ref := berth.ServiceRef{Target: info.Name, Namespace: spec.Namespace, Name: name}
	unlock := c.lock("svc/" + ref.String())
	defer unlock()

	cur, err := c.store.GetService(ctx, ref)
	switch {
	case berth.IsCode(err, berth.ENOTFOUND):
		if err := cond.check(ref, nil); err != nil {
			return nil, false, err
		}
		return c.createService(ctx, rt, ref, spec, run.ReplicaCount())
	case err != nil:
		return nil, false, fmt.Errorf("apply service %s: %w", name, err)
	}
	if err := cond.check(ref, cur); err != nil {
		return nil, false, err
	}
	svc, err := c.updateService(ctx, rt, cur, spec)
	return svc, false, err
}

// checkApply resolves spec's target and namespace (filled into spec) and
// validates name and spec, expanded by its template (run). It changes nothing.
func (c *Core) checkApply(ctx context.Context, name string, spec *berth.ServiceSpec) (berth.Runtime, berth.TargetInfo, berth.ServiceSpec, error) {
	var none berth.ServiceSpec
	rt, err := c.resolveTarget(spec.Target, "", "")
	if err != nil {
		return nil, berth.TargetInfo{}, none, err
	}
	info := rt.Info()
	if err := singleTenant(ctx, info, "apply"); err != nil {
		return nil, info, none, err
	}
	spec.Target = info.Name
	if err := c.CheckNamespace(info.Name, spec.Namespace); err != nil {
		return nil, info, none, err
	}
	if spec.Namespace == "" {
		spec.Namespace = info.DefaultNamespace
	}
	if err := berth.ValidateDNSLabel("name", name); err != nil {
		return nil, info, none, err
	}
	if spec.Template != "" {
		if err := berth.ValidateDNSLabel("template", spec.Template); err != nil {
			return nil, info, none, err
		}
	}
	run, err := c.expand(info.Name, *spec)
	if err != nil {
		return nil, info, none, err
	}
	if err := berth.ValidateServiceSpec(name, &run, info.Provider, c.maxRepl); err != nil {
		return nil, info, none, err
	}
	return rt, info, run, nil
}

// createService stores and applies a new service (revision 1), owned by
// the caller, under its lock. A workload of that name berth did not create
// is a CONFLICT, and the record goes again. created is whether the record
// stays (also when the runtime then failed: the service shows ERROR).
func (c *Core) createService(ctx context.Context, rt berth.Runtime, ref berth.ServiceRef, spec berth.ServiceSpec, replicas int) (svc *berth.Service, created bool, err error) {
	a := caller(ctx)
	if err := c.checkRunPolicy(a, ref.Target, spec, nil); err != nil {
		return nil, false, err
	}
	now := c.now().UTC()
	spec.Replicas = &replicas
	svc = &berth.Service{
		Name: ref.Name, Target: ref.Target, Namespace: spec.Namespace, Status: berth.ServicePending,
		Replicas: replicas, Revision: 1, Managed: true, Spec: spec, Owner: a.UserID,
		CreatedAt: now, UpdatedAt: now,
	}
	rev := &berth.Revision{Service: ref, Number: 1, Spec: spec, Cause: "create", Author: a.Username, CreatedAt: now}
	if err := c.quotaWrite(ctx, a.UserID, berth.ServiceUse(svc), replicas, "service "+ref.Name, func(ctx context.Context) error {
		return c.store.CreateService(ctx, svc, rev)
	}); err != nil {
		return nil, false, fmt.Errorf("create service %s: %w", ref.Name, err)
	}
	if err := c.applyRuntime(ctx, rt, svc); err != nil {
		if berth.IsCode(err, berth.ECONFLICT) {
			// A workload of that name that berth did not create: refused,
			// and the record goes again so that nothing changed.
			if derr := c.store.DeleteService(ctx, ref); derr != nil {
				c.log.Error("forget refused service", "service", ref.String(), "err", derr)
			}
			return nil, false, berth.Wrap(err, berth.ECONFLICT, "create service %s", ref.Name)
		}
		return nil, true, c.failService(ctx, svc, "create", err)
	}
	_ = c.observe(ctx, svc)
	svc.Spec = svc.Spec.Redacted()
	c.serviceEvent(ctx, "service.created", svc)
	return svc, true, nil
}

// updateService applies spec to the stored service cur, under its lock: a
// new revision when the spec changed; an omitted replicas keeps the count.
func (c *Core) updateService(ctx context.Context, rt berth.Runtime, cur *berth.Service, spec berth.ServiceSpec) (*berth.Service, error) {
	a := caller(ctx)
	if err := c.mayService(ctx, a, cur, serviceChange, "update"); err != nil {
		return nil, err
	}
	if err := c.checkRunPolicy(a, cur.Target, spec, cur); err != nil {
		return nil, err
	}
	now := c.now().UTC()
	if spec.Replicas == nil {
		r := cur.Replicas
		spec.Replicas = &r
	}
	before, oldReplicas := berth.ServiceUse(cur), cur.Replicas
	cur.Replicas = *spec.Replicas
	var rev *berth.Revision
	if !sameSpec(cur.Spec, spec) {
		cur.Revision++
		rev = &berth.Revision{Service: cur.Ref(), Number: cur.Revision, Spec: spec, Cause: "apply", Author: a.Username, CreatedAt: now}
	}
	cur.Spec, cur.UpdatedAt = spec, now
	if err := c.quotaWrite(ctx, cur.Owner, berth.ServiceUse(cur).Sub(before), grown(oldReplicas, cur.Replicas), "service "+cur.Name,
		func(ctx context.Context) error { return c.store.UpdateService(ctx, cur, rev) }); err != nil {
		return nil, fmt.Errorf("update service %s: %w", cur.Name, err)
	}
	if err := c.applyRuntime(ctx, rt, cur); err != nil {
		return nil, c.failService(ctx, cur, "update", err)
	}
	_ = c.observe(ctx, cur)
	cur.Spec = cur.Spec.Redacted()
	c.serviceEvent(ctx, "service.updated", cur)
	return cur, nil
}

// sameSpec compares specs ignoring the replica count (scaling is no new revision).
func sameSpec(a, b berth.ServiceSpec) bool {
	a.Replicas, b.Replicas = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// failService records a runtime failure on the service and returns it as a
// SERVICE_ERROR (keeping the runtime's code when it has one).
func (c *Core) failService(ctx context.Context, svc *berth.Service, op string, err error) error {
	svc.Status, svc.Message = berth.ServiceError, berth.ErrorMessage(err)
	if uerr := c.store.UpdateService(ctx, svc, nil); uerr != nil {
		c.log.Error("record service error", "service", svc.Ref().String(), "err", uerr)
	}
	c.serviceEvent(ctx, "service.error", svc)
	return berth.Wrap(err, berth.ESERVICE, "%s service %s", op, svc.Name)
}

// mutate loads a service under its lock, lets fn change it and the runtime,
// then stores it.
func (c *Core) mutate(ctx context.Context, q ServiceQuery, op string, fn func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error)) (*berth.Service, error) {
	return c.mutateWant(ctx, q, op, nil, fn)
}

// grown is the replica count a change asks for when it raises it, else 0
// (maxReplicasPerService is checked only on a raise).
func grown(before, after int) int {
	if after > before {
		return after
	}
	return 0
}

// mutateWant is mutate for changes that may raise what the owner holds
// (scale, start, rollback): want applies the change to the desired state
// (and may make a revision), which is stored under the owner's quota before
// fn reaches the runtime; fn then sees the service as stored.
func (c *Core) mutateWant(ctx context.Context, q ServiceQuery, op string,
	want func(next *berth.Service, rt berth.Runtime) (*berth.Revision, error),
	fn func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error)) (*berth.Service, error) {
	ctx, span := tracing.Start(ctx, "core.service."+op, attribute.String("berth.service", q.Name))
	defer span.End()
	found, stored, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if !stored {
		if q.Revision > 0 {
			return nil, unrevisioned(found)
		}
		return c.mutateUnmanaged(ctx, found, op, fn)
	}
	unlock := c.lock("svc/" + found.Ref().String())
	defer unlock()
	svc, err := c.store.GetService(ctx, found.Ref())
	if err != nil {
		return nil, err
	}
	if err := q.checkRevision(svc); err != nil {
		return nil, err
	}
	rt, ok := c.runtimes[svc.Target]
	if !ok {
		return nil, berth.Errorf(berth.EUNAVAILABLE, "target %q of service %s is not configured", svc.Target, svc.Name)
	}
	// The target's rule comes first: on a single-tenant target the answer
	// is the same whoever owns the service.
	if err := singleTenant(ctx, rt.Info(), op); err != nil {
		return nil, err
	}
	acc := serviceOperate
	if op == "configure" {
		acc = serviceChange
	}
	if err := c.mayService(ctx, caller(ctx), svc, acc, op); err != nil {
		return nil, err
	}
	if want != nil {
		before, oldReplicas := berth.ServiceUse(svc), svc.Replicas
		next := *svc
		wrev, err := want(&next, rt)
		if err != nil {
			return nil, fmt.Errorf("%s service %s: %w", op, svc.Name, err)
		}
		next.UpdatedAt = c.now().UTC()
		if err := c.quotaWrite(ctx, svc.Owner, berth.ServiceUse(&next).Sub(before), grown(oldReplicas, next.Replicas),
			"service "+svc.Name, func(ctx context.Context) error { return c.store.UpdateService(ctx, &next, wrev) }); err != nil {
			return nil, fmt.Errorf("%s service %s: %w", op, svc.Name, err)
		}
		*svc = next
	}
	rev, err := fn(svc, rt)
	if berth.IsCode(err, berth.ENOTFOUND) && svc.Managed && applyWhenMissing[op] {
		// The runtime does not have this stored service: its replica has
		// just started and the reconcile loop has not restored it yet, or
		// it vanished. svc holds the whole desired state, this change
		// included: apply it, as the loop would (bench-chaos saw scales
		// answered 404 for existing services right after a restart).
		err = c.applyRuntime(ctx, rt, svc)
	}
	if err != nil {
		return nil, berth.Wrap(err, berth.ESERVICE, "%s service %s", op, svc.Name)
	}
	svc.UpdatedAt = c.now().UTC()
	if err := c.store.UpdateService(ctx, svc, rev); err != nil {
		return nil, fmt.Errorf("%s service %s: %w", op, svc.Name, err)
	}
	_ = c.observe(ctx, svc)
	svc.Spec = svc.Spec.Redacted()
	c.serviceEvent(ctx, serviceEventTypes[op], svc)
	return svc, nil
}

// applyWhenMissing are the operations whose change is a field of the
// stored desired state (a runtime that lacks the service gets it whole).
var applyWhenMissing = map[string]bool{"scale": true, "stop": true, "start": true, "restart": true}

// ScaleService sets the desired replica count.
func (c *Core) ScaleService(ctx context.Context, q ServiceQuery, replicas int) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	if replicas < 0 || replicas > c.maxRepl {
		return nil, berth.Invalid("replicas", "must be between 0 and %d, got %d", c.maxRepl, replicas)
	}
	return c.mutateWant(ctx, q, "scale", func(svc *berth.Service, _ berth.Runtime) (*berth.Revision, error) {
		svc.Replicas = replicas
		svc.Spec.Replicas = &replicas
		return nil, nil
	}, func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		if err := rt.ScaleService(ctx, svc.Ref(), replicas); err != nil {
			return nil, err
		}
		svc.Replicas = replicas
		svc.Spec.Replicas = &replicas
		return nil, nil
	})
}

// StopService stops every replica, keeping spec and count.
func (c *Core) StopService(ctx context.Context, q ServiceQuery) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.mutate(ctx, q, "stop", func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		svc.Stopped = true
		return nil, rt.StopService(ctx, svc.Ref())
	})
}

// StartService starts a stopped service again.
func (c *Core) StartService(ctx context.Context, q ServiceQuery) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.mutateWant(ctx, q, "start", func(svc *berth.Service, _ berth.Runtime) (*berth.Revision, error) {
		svc.Stopped = false
		return nil, nil
	},
		func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
			svc.Stopped = false
			return nil, rt.StartService(ctx, svc.Ref())
		})
}

// RestartService replaces replicas one at a time.
func (c *Core) RestartService(ctx context.Context, q ServiceQuery) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	return c.mutate(ctx, q, "restart", func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		if svc.Stopped {
			return nil, berth.Errorf(berth.ECONFLICT, "service %s is stopped: start it instead", svc.Name)
		}
		return nil, rt.RestartService(ctx, svc.Ref())
	})
}

// RollbackService makes a new revision from a stored one (the previous one
// when revision is 0) and rolls it out.
func (c *Core) RollbackService(ctx context.Context, q ServiceQuery, revision int) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	if revision < 0 {
		return nil, berth.Invalid("revision", "must be a positive revision number, got %d", revision)
	}
	found, stored, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if !stored {
		return c.rollbackUnmanaged(ctx, found, revision)
	}
	// The rolled-back spec may request more than the current one: it is
	// stored under the owner's quota, with its revision, before the runtime
	// is asked (a refusal changes neither).
	return c.mutateWant(ctx, q, "rollback", func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		return c.rollbackTo(ctx, svc, rt, revision)
	}, func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		return nil, c.applyRuntime(ctx, rt, svc)
	})
}

// rollbackTo makes svc's next revision from revision (the previous one when
// 0), keeping its replica count.
func (c *Core) rollbackTo(ctx context.Context, svc *berth.Service, rt berth.Runtime, revision int) (*berth.Revision, error) {
	revs, err := c.store.ListRevisions(ctx, svc.Ref())
	if err != nil {
		return nil, err
	}
	var from *berth.Revision
	for _, r := range revs { // newest first
		if (revision == 0 && r.Number < svc.Revision) || r.Number == revision {
			from = r
			break
		}
	}
	if from == nil {
		if revision == 0 {
			return nil, berth.Invalid("revision", "service %s has no revision before %d", svc.Name, svc.Revision)
		}
		return nil, berth.NotFound("revision", fmt.Sprint(revision))
	}
	if from.Number == svc.Revision {
		return nil, berth.Invalid("revision", "%d is the current revision", revision)
	}
	// As kubectl rollout undo: a paused rollout would take the template
	// and not roll it out.
	if st, err := rt.ServiceState(ctx, svc.Ref()); err == nil && st.Paused {
		return nil, berth.Errorf(berth.ECONFLICT, "service %s is paused on %s (resume its rollout first)", svc.Name, svc.Target)
	}
	spec := from.Spec
	r := svc.Replicas // rollback restores the template, not the scale
	spec.Replicas = &r
	svc.Revision++
	svc.Spec = spec
	return &berth.Revision{Service: svc.Ref(), Number: svc.Revision, Spec: spec,
		Cause: fmt.Sprintf("rollback to %d", from.Number), Author: caller(ctx).Username, CreatedAt: c.now().UTC()}, nil
}

// ListRevisions returns the stored revisions, newest first, secrets redacted.
func (c *Core) ListRevisions(ctx context.Context, q ServiceQuery) ([]*berth.Revision, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	svc, stored, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if !stored {
		return c.runtimeRevisions(ctx, svc)
	}
	revs, err := c.store.ListRevisions(ctx, svc.Ref())
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", svc.Name, err)
	}
	for _, r := range revs {
		r.Spec = r.Spec.Redacted()
	}
	return revs, nil
}

// ServiceConfig is the editable configuration of a service.
type ServiceConfig struct {
	Files    map[string]string `json:"files"`
	Env      map[string]string `json:"env"`
	Revision int               `json:"revision"`
}

// GetConfig returns the config files and env of the current revision.
func (c *Core) GetConfig(ctx context.Context, q ServiceQuery) (*ServiceConfig, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	svc, _, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	cfg := &ServiceConfig{Files: svc.Spec.Config.Files, Env: svc.Spec.Env, Revision: svc.Revision}
	if cfg.Files == nil {
		cfg.Files = map[string]string{}
	}
	if cfg.Env == nil {
		cfg.Env = map[string]string{}
	}
	return cfg, nil
}

// UpdateConfig replaces config files and/or env (nil leaves a part as it is)
// and rolls out the new revision.
func (c *Core) UpdateConfig(ctx context.Context, q ServiceQuery, files, env map[string]string) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	if files == nil && env == nil {
		return nil, berth.Invalid("files", "give files and/or env")
	}
	return c.mutate(ctx, q, "configure", func(svc *berth.Service, rt berth.Runtime) (*berth.Revision, error) {
		spec := svc.Spec
		if files != nil {
			spec.Config.Files = maps.Clone(files)
		}
		if env != nil {
			spec.Env = maps.Clone(env)
		}
		run, err := c.expand(svc.Target, spec)
		if err != nil {
			return nil, err
		}
		if err := berth.ValidateServiceSpec(svc.Name, &run, rt.Info().Provider, c.maxRepl); err != nil {
			return nil, err
		}
		if err := c.checkRunPolicy(caller(ctx), svc.Target, spec, svc); err != nil {
			return nil, err
		}
		if reflect.DeepEqual(spec.Config, svc.Spec.Config) && maps.Equal(spec.Env, svc.Spec.Env) {
			return nil, nil // nothing changed: no new revision
		}
		svc.Revision++
		svc.Spec = spec
		rev := &berth.Revision{Service: svc.Ref(), Number: svc.Revision, Spec: spec, Cause: "config",
			Author: caller(ctx).Username, CreatedAt: c.now().UTC()}
		if err := c.applyRuntime(ctx, rt, svc); err != nil {
			return nil, err
		}
		return rev, nil
	})
}

// DeleteService removes the service from its runtime, then from the store.
func (c *Core) DeleteService(ctx context.Context, q ServiceQuery) (*berth.Service, error) {
	ctx, span := tracing.Start(ctx, "core.DeleteService", attribute.String("berth.service", q.Name))
	defer span.End()
	if err := must(ctx); err != nil {
		return nil, err
	}
	svc, stored, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if !stored {
		return nil, notManaged(svc, "delete")
	}
	if err := c.mayService(ctx, caller(ctx), svc, serviceChange, "delete"); err != nil {
		return nil, err
	}
	unlock := c.lock("svc/" + svc.Ref().String())
	defer unlock()
	if q.Revision > 0 {
		cur, err := c.store.GetService(ctx, svc.Ref())
		if err != nil {
			return nil, fmt.Errorf("delete service %s: %w", svc.Name, err)
		}
		if err := q.checkRevision(cur); err != nil {
			return nil, err
		}
	}
	if rt, ok := c.runtimes[svc.Target]; ok {
		if err := rt.DeleteService(ctx, svc.Ref()); err != nil {
			return nil, berth.Wrap(err, berth.ESERVICE, "delete service %s", svc.Name)
		}
	}
	if err := c.store.DeleteService(ctx, svc.Ref()); err != nil {
		return nil, fmt.Errorf("delete service %s: %w", svc.Name, err)
	}
	c.serviceEvent(ctx, "service.deleted", svc)
	return svc, nil
}

// ServiceLogs streams the service's log lines to fn.
func (c *Core) ServiceLogs(ctx context.Context, q ServiceQuery, opts berth.LogOptions, fn func(berth.LogLine) error) (*berth.Service, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	svc, _, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	lg, ok := c.serviceLogger(svc.Target)
	if !ok {
		return svc, berth.NotSupported(svc.Target, "logs")
	}
	return svc, lg.ServiceLogs(ctx, svc.Ref(), opts, fn)
}

// ServiceUsage measures the service's replicas now.
func (c *Core) ServiceUsage(ctx context.Context, q ServiceQuery) (*berth.Service, []berth.ReplicaUsage, error) {
	if err := must(ctx); err != nil {
		return nil, nil, err
	}
	svc, _, err := c.find(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	ur, ok := c.runtimes[svc.Target].(berth.UsageReporter)
	if !ok {
		return svc, nil, berth.NotSupported(svc.Target, "usage metrics")
	}
	u, err := ur.ServiceUsage(ctx, svc.Ref())
	if err != nil {
		return svc, nil, berth.Wrap(err, berth.ESERVICE, "measure service %s", svc.Name)
	}
	return svc, u, nil
}

// CheckNamespace refuses a namespace where there are none: on a local
// target (named, or every configured one when none is named) a namespace
// would name a second service that runs as the first one (the local
// runtime knows services by name). Every route that takes a namespace
// asks it.
func (c *Core) CheckNamespace(target, namespace string) error {
	if namespace == "" {
		return nil
	}
	if target != "" {
		if rt, ok := c.runtimes[target]; ok && rt.Info().Provider == berth.ProviderLocal {
			return berth.Invalid("namespace", "target %s has no namespaces: leave namespace out", target)
		}
		return nil
	}
	for _, rt := range c.runtimes {
		if rt.Info().Provider != berth.ProviderLocal {
			return nil
		}
	}
	return berth.Invalid("namespace", "no configured target has namespaces (configured targets: %s): leave namespace out", c.targetList())
}
