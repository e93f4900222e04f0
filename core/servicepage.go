package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/berthhq/berth"
)

// A page of services merges the stored services with those the runtimes
// report, ordered by target, namespace and name, a stored record winning
// over the runtime's view of the same workload. Runtimes that keep their
// workloads indexed (berth.ServiceIndexer: Kubernetes) hand over sorted
// keys, so a page walks the keys and builds only its own services: with
// 10,000 Deployments a page used to convert and sort all of them.

// listed is one service of the merged order: stored, built by a runtime
// that keeps no index (svc), or a key of an indexed runtime (built only
// when it falls on the page). key orders it: the canonical namespace and
// name (a service stored before core recorded the default namespace has
// none, while the cluster object has one).
type listed struct {
	key    berth.ServiceKey
	svc    *berth.Service
	stored bool
	idx    berth.ServiceIndexer // set for a key not built yet
}

// targetServices is what one target contributes: its stored services and
// what its runtime reports, each sorted by namespace and name.
type targetServices struct {
	stored  []listed
	runtime []listed
}

// pageServices returns services [offset, offset+limit) of the merged order
// (limit 0: all) and their total.
func (c *Core) pageServices(ctx context.Context, target string, listers map[string]berth.ServiceLister, offset, limit int) (*ServiceList, error) {
	stored, _, err := c.store.ListServices(ctx, berth.ServiceFilter{Target: target})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	byTarget := map[string]*targetServices{}
	of := func(t string) *targetServices {
		if byTarget[t] == nil {
			byTarget[t] = &targetServices{}
		}
		return byTarget[t]
	}
	for _, s := range stored {
		ref := c.canonicalRef(s.Ref())
		ts := of(ref.Target)
		ts.stored = append(ts.stored, listed{key: berth.ServiceKey{Namespace: ref.Namespace, Name: ref.Name}, svc: s, stored: true})
	}
	var unreachable []TargetStatus
	for _, name := range c.order {
		sl, ok := listers[name]
		if !ok {
			continue
		}
		found, err := c.runtimeListed(ctx, sl)
		if err != nil {
			if target != "" {
				return nil, fmt.Errorf("list services of target %s: %w", name, err)
			}
			c.log.Warn("list services", "target", name, "err", err)
			unreachable = append(unreachable, TargetStatus{TargetInfo: c.runtimes[name].Info(), Error: berth.ErrorMessage(err)})
			continue
		}
		of(name).runtime = found
	}
	page, total := mergePage(byTarget, offset, limit)
	svcs, err := c.buildPage(ctx, page)
	if err != nil {
		return nil, err
	}
	return &ServiceList{Services: svcs, Total: total, Unreachable: unreachable}, nil
}

// runtimeListed is what a lister reports, sorted by namespace and name:
// the keys of an indexed runtime, else its services.
func (c *Core) runtimeListed(ctx context.Context, sl berth.ServiceLister) ([]listed, error) {
	if idx, ok := sl.(berth.ServiceIndexer); ok {
		keys, _, err := idx.ServiceKeys(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]listed, len(keys))
		for i, k := range keys {
			out[i] = listed{key: k, idx: idx}
		}
		return out, nil
	}
	svcs, err := sl.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]listed, len(svcs))
	for i, s := range svcs {
		ref := c.canonicalRef(s.Ref())
		out[i] = listed{key: berth.ServiceKey{Namespace: ref.Namespace, Name: ref.Name}, svc: s}
	}
	slices.SortStableFunc(out, compareListed)
	return out, nil
}

// compareListed orders by namespace and name.
func compareListed(a, b listed) int {
	return cmp.Or(cmp.Compare(a.key.Namespace, b.key.Namespace), cmp.Compare(a.key.Name, b.key.Name))
}

// mergePage walks the targets in order, each target's stored services and
// runtime ones merged (a runtime workload with a stored record is the
// stored service), and keeps the entries at [offset, offset+limit).
func mergePage(byTarget map[string]*targetServices, offset, limit int) (page []listed, total int) {
	targets := make([]string, 0, len(byTarget))
	for t := range byTarget {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	emit := func(l listed) {
		if total >= offset && (limit <= 0 || total < offset+limit) {
			page = append(page, l)
		}
		total++
	}
	for _, t := range targets {
		ts := byTarget[t]
		st, rt := ts.stored, ts.runtime
		slices.SortStableFunc(st, compareListed)
		i, j := 0, 0
		for i < len(st) || j < len(rt) {
			if j < len(rt) && i > 0 && compareListed(rt[j], st[i-1]) == 0 {
				j++ // stored: the record wins
				continue
			}
			if j >= len(rt) || (i < len(st) && compareListed(st[i], rt[j]) <= 0) {
				emit(st[i])
				i++
			} else {
				emit(rt[j])
				j++
			}
		}
	}
	return page, total
}

// buildPage makes the page's services: the stored ones with their live
// state, an indexed runtime's built now (one call per runtime), secrets
// redacted. A workload deleted since its key was read is left out.
func (c *Core) buildPage(ctx context.Context, page []listed) ([]*berth.Service, error) {
	byIdx := map[berth.ServiceIndexer][]int{}
	for i, l := range page {
		if l.idx != nil {
			byIdx[l.idx] = append(byIdx[l.idx], i)
		}
	}
	for idx, at := range byIdx {
		keys := make([]berth.ServiceKey, len(at))
		for n, i := range at {
			keys[n] = page[i].key
		}
		svcs, err := idx.ServicesOf(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		for n, i := range at {
			page[i].svc = svcs[n]
		}
	}
	out := make([]*berth.Service, 0, len(page))
	for _, l := range page {
		switch {
		case l.svc == nil:
			continue
		case l.stored:
			c.observeForList(ctx, l.svc)
		default:
			l.svc.Spec = l.svc.Spec.Redacted()
		}
		out = append(out, l.svc)
	}
	return out, nil
}
