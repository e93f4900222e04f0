package core

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/berthhq/berth"
)

// Services berth did not create (the Deployments and StatefulSets a
// Kubernetes target finds in its namespaces) have no store record: the
// cluster is their source of truth. They can be scaled, stopped, started,
// restarted and rolled back (what kubectl does to them); changing their spec
// or deleting them is left to whoever manages them.

// unmanagedOps are the mutations allowed on such services.
var unmanagedOps = map[string]bool{"scale": true, "stop": true, "start": true, "restart": true}

func notManaged(svc *berth.Service, op string) error {
	return berth.Errorf(berth.ECONFLICT,
		"cannot %s service %s: berth did not create it (it can be scaled, stopped, started, restarted and rolled back)",
		op, svc.Ref().String())
}

// unrevisioned refuses a precondition on a service berth did not create: its
// revisions are the runtime's, not the ones If-Match names.
func unrevisioned(svc *berth.Service) error {
	return berth.Errorf(berth.ECONFLICT,
		"service %s was not created by berth, so it has no berth revision for the request's precondition to match: nothing was changed",
		svc.Ref().String())
}

// mutateUnmanaged runs fn against the runtime only: nothing is stored.
func (c *Core) mutateUnmanaged(ctx context.Context, svc *berth.Service, op string, fn func(*berth.Service, berth.Runtime) (*berth.Revision, error)) (*berth.Service, error) {
	if !unmanagedOps[op] {
		return nil, notManaged(svc, op)
	}
	if err := c.mayService(ctx, caller(ctx), svc, serviceOperate, op); err != nil {
		return nil, err
	}
	unlock := c.lock("svc/" + svc.Ref().String())
	defer unlock()
	rt := c.runtimes[svc.Target]
	if _, err := fn(svc, rt); err != nil {
		return nil, berth.Wrap(err, berth.ESERVICE, "%s service %s", op, svc.Name)
	}
	return c.afterUnmanaged(ctx, svc, op), nil
}

// rollbackUnmanaged uses the runtime's own revisions (kubectl rollout undo).
func (c *Core) rollbackUnmanaged(ctx context.Context, svc *berth.Service, revision int) (*berth.Service, error) {
	rb, ok := c.runtimes[svc.Target].(berth.Rollbacker)
	if !ok {
		return nil, notManaged(svc, "roll back")
	}
	unlock := c.lock("svc/" + svc.Ref().String())
	defer unlock()
	if err := rb.RollbackService(ctx, svc.Ref(), revision); err != nil {
		return nil, berth.Wrap(err, berth.ESERVICE, "rollback service %s", svc.Name)
	}
	return c.afterUnmanaged(ctx, svc, "rollback"), nil
}

// afterUnmanaged reads the service back from the runtime and tells the
// subscribers, as mutate does for stored services.
func (c *Core) afterUnmanaged(ctx context.Context, svc *berth.Service, op string) *berth.Service {
	if fresh, err := c.findUnmanaged(ctx, ServiceQuery{Name: svc.Name, Target: svc.Target, Namespace: svc.Namespace}); err == nil && len(fresh) == 1 {
		svc = fresh[0]
	}
	_ = c.observe(ctx, svc)
	svc.Spec = svc.Spec.Redacted()
	c.serviceEvent(ctx, serviceEventTypes[op], svc)
	return svc
}

// runtimeRevisions lists the revisions the runtime keeps (ReplicaSets,
// ControllerRevisions) of a service berth did not create.
func (c *Core) runtimeRevisions(ctx context.Context, svc *berth.Service) ([]*berth.Revision, error) {
	rl, ok := c.runtimes[svc.Target].(berth.RevisionLister)
	if !ok {
		return nil, berth.NotSupported(svc.Target, "revisions of services berth did not create")
	}
	revs, err := rl.ServiceRevisions(ctx, svc.Ref())
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", svc.Ref().String(), err)
	}
	for _, r := range revs {
		r.Spec = r.Spec.Redacted()
	}
	return revs, nil
}

// observedState is what the sync loop compares between passes of a service
// berth did not create: it has no store record to hold the last one.
type observedState struct {
	status   berth.ServiceStatus
	ready    int
	replicas int
	message  string
}

// syncUnmanaged publishes the changes of services berth did not create, as
// syncService does for its own: a rollout's progress, a scale or a new or
// deleted workload made with kubectl reach the live views. The first pass
// (after start, or on becoming leader) only records what is there; a target
// whose list fails is skipped, so a down cluster does not look emptied.
func (c *Core) syncUnmanaged(ctx context.Context, stored []*berth.Service) {
	listers := c.serviceListers("")
	if len(listers) == 0 {
		return
	}
	known := make(map[berth.ServiceRef]bool, len(stored))
	for _, s := range stored {
		known[c.canonicalRef(s.Ref())] = true
	}
	c.unmanagedMu.Lock()
	defer c.unmanagedMu.Unlock()
	first := c.unmanagedSeen == nil
	if first {
		c.unmanagedSeen = map[berth.ServiceRef]observedState{}
		c.unmanagedMarks = map[string]unmanagedMark{}
	}
	for _, name := range c.order {
		sl, ok := listers[name]
		if !ok {
			continue
		}
		if idx, ok := sl.(berth.ServiceIndexer); ok {
			_, version, err := idx.ServiceKeys(ctx)
			if err != nil {
				continue // reads report the target unreachable
			}
			mark := unmanagedMark{version: version, known: knownMark(known, name)}
			if prev, ok := c.unmanagedMarks[name]; ok && prev == mark {
				continue // nothing changed since the last pass
			}
			c.unmanagedMarks[name] = mark
		}
		found, err := sl.ListServices(ctx)
		if err != nil {
			delete(c.unmanagedMarks, name)
			continue // reads report the target unreachable
		}
		present := make(map[berth.ServiceRef]bool, len(found))
		for _, s := range found {
			ref := s.Ref()
			if known[ref] {
				continue
			}
			present[ref] = true
			now := observedState{status: s.Status, ready: s.ReadyReplicas, replicas: s.Replicas, message: s.Message}
			prev, seen := c.unmanagedSeen[ref]
			c.unmanagedSeen[ref] = now
			if !first && (!seen || prev != now) {
				c.serviceEvent(ctx, "service.status", s)
			}
		}
		for ref := range c.unmanagedSeen {
			if ref.Target != name || present[ref] {
				continue
			}
			delete(c.unmanagedSeen, ref)
			if !first {
				c.serviceEvent(ctx, "service.deleted", &berth.Service{Name: ref.Name, Namespace: ref.Namespace, Target: ref.Target})
			}
		}
	}
}

// unmanagedMark is what a pass of syncUnmanaged saw of an indexed target:
// the index's version (every workload change bumps it) and a digest of the
// target's stored services (which it leaves out). With 10,000 Deployments
// a pass built all of them every 2 s, and a list request waited for the CPU.
type unmanagedMark struct {
	version, known uint64
}

// knownMark digests the stored refs of target, in any order.
func knownMark(known map[berth.ServiceRef]bool, target string) uint64 {
	var sum, n uint64
	for ref := range known {
		if ref.Target != target {
			continue
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(ref.Namespace + "/" + ref.Name))
		sum += h.Sum64()
		n++
	}
	return sum ^ n<<56
}
