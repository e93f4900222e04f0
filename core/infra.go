package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// Inventory is everything berth runs, by target and type (api.Inventory).
type Inventory = api.Inventory

// TargetStatus is a target and whether it answered (api.TargetStatus).
type TargetStatus = api.TargetStatus

// Infrastructure lists services, environments (the caller's own unless
// admin) and what each target's inventory adds (processes, pods, volumes).
func (c *Core) Infrastructure(ctx context.Context, typ string) (*Inventory, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	want := func(t string) bool { return typ == "" || typ == t }
	inv := &Inventory{Resources: []berth.Resource{}}
	if want("service") {
		rows, err := c.serviceRows(ctx)
		if err != nil {
			return nil, err
		}
		inv.Resources = append(inv.Resources, rows...)
	}
	if want("environment") {
		rows, err := c.environmentRows(ctx)
		if err != nil {
			return nil, err
		}
		inv.Resources = append(inv.Resources, rows...)
	}
	var owners map[string]string // environment id → owner, for the rows of environments
	for _, t := range c.Targets() {
		ts, items, err := c.targetInventory(ctx, t)
		if err != nil {
			return nil, err
		}
		inv.Targets = append(inv.Targets, ts)
		if len(items) > 0 && owners == nil {
			if owners, err = c.environmentOwners(ctx); err != nil {
				return nil, err
			}
		}
		for _, it := range items {
			if want(it.Type) && mayInventoryItem(caller(ctx), it, owners) {
				inv.Resources = append(inv.Resources, it)
			}
		}
	}
	inv.Total = len(inv.Resources)
	return inv, nil
}

// serviceRows are the stored services as inventory rows, with what their
// runtimes report.
func (c *Core) serviceRows(ctx context.Context) ([]berth.Resource, error) {
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
	if err != nil {
		return nil, fmt.Errorf("inventory services: %w", err)
	}
	rows := make([]berth.Resource, 0, len(svcs))
	for _, s := range svcs {
		_ = c.observe(ctx, s)
		id := s.Name // namespace/name where there are namespaces: names repeat across them
		if s.Namespace != "" {
			id = s.Namespace + "/" + s.Name
		}
		rows = append(rows, berth.Resource{Type: "service", ID: id, Name: s.Name, Target: s.Target,
			Namespace: s.Namespace, Status: string(s.Status), Managed: s.Managed,
			Details: map[string]any{"replicas": s.Replicas, "readyReplicas": s.ReadyReplicas, "revision": s.Revision}})
	}
	return rows, nil
}

// environmentRows are the environments the caller may see as inventory rows.
func (c *Core) environmentRows(ctx context.Context) ([]berth.Resource, error) {
	envs, _, err := c.ListEnvironments(ctx, "", 0, 0)
	if err != nil {
		return nil, err
	}
	rows := make([]berth.Resource, 0, len(envs))
	for _, e := range envs {
		rows = append(rows, berth.Resource{Type: "environment", ID: e.ID, Name: e.Name, Target: e.Target,
			Status: string(e.Status), Managed: true, Details: map[string]any{"userId": e.UserID, "url": e.VSCodeURL}})
	}
	return rows, nil
}

// targetInventory pings target t and, for operators and admins, reads its
// inventory (orphans marked). An unreadable inventory is logged, not an error.
func (c *Core) targetInventory(ctx context.Context, t berth.TargetInfo) (TargetStatus, []berth.Resource, error) {
	ts := TargetStatus{TargetInfo: t, Reachable: true}
	rt := c.runtimes[t.Name]
	if err := rt.Ping(ctx); err != nil {
		ts.Reachable, ts.Error = false, berth.ErrorMessage(err)
	}
	ir, ok := rt.(berth.Inventorier)
	if !ok || !ts.Reachable || !caller(ctx).Role.AtLeast(berth.RoleOperator) {
		return ts, nil, nil
	}
	items, err := ir.Inventory(ctx)
	if err != nil {
		c.log.Warn("inventory", "target", t.Name, "err", err)
		return ts, nil, nil
	}
	if err := c.markOrphans(ctx, t.Name, items); err != nil {
		return ts, nil, err
	}
	return ts, items, nil
}

// InfraAction starts, stops or deletes one inventory item. An item berth
// manages for a stored service or environment is acted on through that
// object, never behind the store's back: CONFLICT. Orphans can go.
func (c *Core) InfraAction(ctx context.Context, typ, id, target, action string) error {
	if err := must(ctx); err != nil {
		return err
	}
	switch typ {
	case "service":
		q := ServiceQuery{Name: id, Target: target}
		if ns, name, ok := strings.Cut(id, "/"); ok {
			q.Namespace, q.Name = ns, name
		}
		var err error
		switch action {
		case "start":
			_, err = c.StartService(ctx, q)
		case "stop":
			_, err = c.StopService(ctx, q)
		case "delete":
			_, err = c.DeleteService(ctx, q)
		}
		return err
	case "environment":
		var err error
		switch action {
		case "start":
			_, err = c.StartEnvironment(ctx, id)
		case "stop":
			_, err = c.StopEnvironment(ctx, id)
		case "delete":
			_, err = c.DeleteEnvironment(ctx, id, false)
		}
		return err
	}
	if target == "" {
		target = c.def
	}
	rt, ok := c.runtimes[target]
	if !ok {
		return berth.Invalid("target", "%q is not configured; configured targets: %s", target, c.targetList())
	}
	ir, isInv := rt.(berth.Inventorier)
	ra, isActor := rt.(berth.ResourceActor)
	switch {
	case action == "delete" && isInv:
	case (action == "start" || action == "stop") && isActor:
	default:
		return berth.NotSupported(target, action+" of "+typ)
	}
	if isInv {
		if err := c.refuseOwned(ctx, ir, target, typ, id, action); err != nil {
			return err
		}
	}
	if action == "delete" {
		return ir.DeleteResource(ctx, typ, id)
	}
	return ra.ResourceAction(ctx, typ, id, action)
}

// markOrphans sets Orphaned on the items of a target that berth made for a
// service or environment the store no longer has.
func (c *Core) markOrphans(ctx context.Context, target string, items []berth.Resource) error {
	var services map[berth.ServiceRef]bool
	var envs map[string]bool
	for i := range items {
		it := &items[i]
		if !it.Managed || it.BerthID == "" {
			continue
		}
		switch it.BerthKind {
		case "service":
			if services == nil {
				var err error
				if services, err = c.storedServices(ctx, target); err != nil {
					return err
				}
			}
			if !services[berth.ServiceRef{Target: target, Namespace: it.Namespace, Name: it.BerthID}] {
				it.Orphaned = true
			}
		case "environment":
			if envs == nil {
				var err error
				if envs, err = c.storedEnvironments(ctx); err != nil {
					return err
				}
			}
			if !envs[it.BerthID] {
				it.Orphaned = true
			}
		}
	}
	return nil
}

// storedServices are the refs of the target's stored services, with the
// target's default namespace filled in where a record has none.
func (c *Core) storedServices(ctx context.Context, target string) (map[berth.ServiceRef]bool, error) {
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{Target: target})
	if err != nil {
		return nil, fmt.Errorf("inventory of target %s: list stored services: %w", target, err)
	}
	out := map[berth.ServiceRef]bool{}
	for _, s := range svcs {
		out[c.canonicalRef(s.Ref())] = true
	}
	return out, nil
}

// storedEnvironments are the ids of every user's environments: whether
// something is orphaned does not depend on who asks.
func (c *Core) storedEnvironments(ctx context.Context) (map[string]bool, error) {
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		return nil, fmt.Errorf("inventory: list stored environments: %w", err)
	}
	out := map[string]bool{}
	for _, e := range envs {
		out[e.ID] = true
	}
	return out, nil
}

// replaced are the item types whose controller replaces a deleted one (a
// pod, as the local supervisor restarts a killed process): deleting one of
// a live service is a restart of that replica, not a change of the service.
var replaced = map[string]bool{"pod": true, "process": true}

// refuseOwned answers CONFLICT when the item typ/id of the target belongs
// to a stored service or environment: acting on it directly would leave the
// store describing something else than what runs. An item of an
// environment the caller may not see is NOT_FOUND (access.go).
func (c *Core) refuseOwned(ctx context.Context, ir berth.Inventorier, target, typ, id, action string) error {
	items, err := ir.Inventory(ctx)
	if err != nil {
		return fmt.Errorf("%s %s %s on target %s: %w", action, typ, id, target, err)
	}
	for i := range items {
		it := items[i]
		if it.Type != typ || it.ID != id {
			continue
		}
		// The same rule as the routes of the object it belongs to: another
		// user's environment is not there for the caller.
		if it.BerthKind == "environment" {
			owners, err := c.environmentOwners(ctx)
			if err != nil {
				return err
			}
			if !mayInventoryItem(caller(ctx), it, owners) {
				return berth.NotFound(typ, id)
			}
		}
		// A replica of a service (deleting it restarts it, as deleting a
		// pod does) is operated like the service itself.
		if it.BerthKind == "service" {
			if err := c.mayService(ctx, caller(ctx), &berth.Service{Name: it.BerthID}, serviceOperate, action+" "+typ+" "+id+" of"); err != nil {
				return err
			}
		}
		if err := c.markOrphans(ctx, target, items[i:i+1]); err != nil {
			return err
		}
		if !it.Managed || items[i].Orphaned || (action == "delete" && replaced[typ]) {
			return nil
		}
		switch it.BerthKind {
		case "service":
			return berth.Errorf(berth.ECONFLICT, "%s %s on target %s belongs to service %s/%s: %s the service instead",
				typ, id, target, it.Namespace, it.BerthID, action)
		case "environment":
			return berth.Errorf(berth.ECONFLICT, "%s %s on target %s belongs to environment %s: %s the environment instead",
				typ, id, target, it.BerthID, action)
		}
		return nil
	}
	return nil // not (or no longer) there: the runtime says what that means
}
