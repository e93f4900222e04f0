package core

import (
	"context"
	"fmt"

	"github.com/berthhq/berth"
)

// Inventory is everything berth runs, by target and type.
type Inventory struct {
	Targets   []TargetStatus   `json:"targets"`
	Resources []berth.Resource `json:"resources"`
	Total     int              `json:"total"`
}

// TargetStatus is a target and whether it answered.
type TargetStatus struct {
	berth.TargetInfo
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// Infrastructure lists services, environments (the caller's own unless
// admin) and what each target's inventory adds (processes, pods, volumes).
func (c *Core) Infrastructure(ctx context.Context, typ string) (*Inventory, error) {
	inv := &Inventory{Resources: []berth.Resource{}}
	a := actor(ctx)
	want := func(t string) bool { return typ == "" || typ == t }
	if want("service") {
		svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{})
		if err != nil {
			return nil, fmt.Errorf("inventory services: %w", err)
		}
		for _, s := range svcs {
			c.observe(ctx, s)
			inv.Resources = append(inv.Resources, berth.Resource{Type: "service", ID: s.Name, Name: s.Name, Target: s.Target,
				Namespace: s.Namespace, Status: string(s.Status), Managed: s.Managed,
				Details: map[string]any{"replicas": s.Replicas, "readyReplicas": s.ReadyReplicas, "revision": s.Revision}})
		}
	}
	if want("environment") {
		envs, _, err := c.ListEnvironments(ctx, "", 0, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			inv.Resources = append(inv.Resources, berth.Resource{Type: "environment", ID: e.ID, Name: e.Name, Target: e.Target,
				Status: string(e.Status), Managed: true, Details: map[string]any{"userId": e.UserID, "url": e.VSCodeURL}})
		}
	}
	for _, t := range c.Targets() {
		ts := TargetStatus{TargetInfo: t, Reachable: true}
		rt := c.runtimes[t.Name]
		if err := rt.Ping(ctx); err != nil {
			ts.Reachable, ts.Error = false, berth.ErrorMessage(err)
		}
		inv.Targets = append(inv.Targets, ts)
		ir, ok := rt.(berth.Inventorier)
		if !ok || !ts.Reachable || !a.Role.AtLeast(berth.RoleOperator) {
			continue
		}
		items, err := ir.Inventory(ctx)
		if err != nil {
			c.log.Warn("inventory", "target", t.Name, "err", err)
			continue
		}
		for _, it := range items {
			if want(it.Type) {
				inv.Resources = append(inv.Resources, it)
			}
		}
	}
	inv.Total = len(inv.Resources)
	return inv, nil
}

// InfraAction starts, stops or deletes one inventory item.
func (c *Core) InfraAction(ctx context.Context, typ, id, target, action string) error {
	switch typ {
	case "service":
		q := ServiceQuery{Name: id, Target: target}
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
	ir, ok := rt.(berth.Inventorier)
	if !ok || action != "delete" {
		return berth.NotSupported(target, action+" of "+typ)
	}
	return ir.DeleteResource(ctx, typ, id)
}
