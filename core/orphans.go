package core

import (
	"context"
	"fmt"
	"time"

	"github.com/berthhq/berth"
)

// Orphan cleanup (DESIGN §2): what a target's inventory shows labelled
// managed-by=berth for a service or environment the store no longer has is
// removed once it has been seen orphaned for the target's grace period.
// The grace counts from when this replica first saw it orphaned, not from
// the object's age: a new leader starts counting afresh, which only waits
// longer. Runtimes that clean up after themselves (ACI) are not listed.

// orphanOrder deletes workloads before what they use: a claim is still
// mounted while its Deployment exists. An Ingress goes with the workloads,
// before the Service it routes to.
var orphanOrder = map[string]int{"deployment": 0, "statefulset": 0, "ingress": 0, "pod": 1, "k8s-service": 2, "pvc": 3}

// CleanupOrphans removes the due orphans of the targets configured with a
// grace (Config.OrphanGrace). It returns the first error and goes on.
func (c *Core) CleanupOrphans(ctx context.Context) error {
	if err := must(ctx); err != nil {
		return err
	}
	now := c.now()
	var firstErr error
	for _, target := range c.order {
		grace, ok := c.orphanGrace[target]
		if !ok {
			continue
		}
		ir, ok := c.runtimes[target].(berth.Inventorier)
		if !ok {
			continue
		}
		items, err := ir.Inventory(ctx)
		if err == nil {
			err = c.markOrphans(ctx, target, items)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("clean up orphans of %s: %w", target, err)
			}
			continue
		}
		var due []berth.Resource
		c.orphansMu.Lock()
		seen := map[string]time.Time{}
		for _, it := range items {
			if !it.Orphaned || it.Type == "pod" { // a pod goes with its workload
				continue
			}
			key := it.Type + "/" + it.ID
			first, ok := c.orphanSeen[target][key]
			if !ok {
				first = now
			}
			seen[key] = first
			if now.Sub(first) >= grace {
				due = append(due, it)
			}
		}
		c.orphanSeen[target] = seen // what is no longer orphaned starts afresh
		c.orphansMu.Unlock()
		for pass := 0; pass <= 3; pass++ {
			for _, it := range due {
				if orphanOrder[it.Type] != pass {
					continue
				}
				c.log.Info("remove orphan", "target", target, "type", it.Type, "id", it.ID, "kind", it.BerthKind, "berthId", it.BerthID)
				if err := ir.DeleteResource(ctx, it.Type, it.ID); err != nil && firstErr == nil {
					firstErr = fmt.Errorf("remove orphan %s %s of %s: %w", it.Type, it.ID, target, err)
				}
			}
		}
	}
	return firstErr
}
