package core

import (
	"context"
	"fmt"

	"github.com/berthhq/berth"
)

// Who may do what to which object. The route table (httpapi/routes.go)
// says the least role of each route: viewers read, operators act, admins
// manage users. On top of it, these rules decide by object, and every core
// method that touches a service or an environment (the inventory included)
// asks them, so that no route can disagree with another:
//
//   - Services are shared. Every caller reads every service (list, get,
//     logs, metrics, revisions, config), and every operator operates it
//     (scale, restart, stop/start, rollback to one of its revisions).
//   - Changing what a service runs (PUT of an existing service, PUT of its
//     config, DELETE) is for its owner (who created it) or an admin; anyone
//     else gets FORBIDDEN naming the rule. A service without an owner (made
//     before owners were kept, or not made by berth) is an admin's.
//   - Environments are owned: another user's environment is NOT_FOUND to
//     everyone but admins, whether asked for by id, listed, or met as a row
//     of the inventory (and so are workloads of environments the store no
//     longer has: their owner is unknown).
//   - What runs on a target is the target's policy (policy.go): which roles
//     may run arbitrary commands, and the service templates for the others.

// serviceAccess is what a caller wants to do with a service.
type serviceAccess int

const (
	serviceRead    serviceAccess = iota // list, get, logs, metrics, revisions, config
	serviceOperate                      // scale, restart, stop, start, rollback
	serviceChange                       // PUT of an existing service, PUT config, DELETE
)

// mayService answers whether a may act on svc in that way: nil, or a
// FORBIDDEN error that names the rule.
func (c *Core) mayService(ctx context.Context, a berth.Actor, svc *berth.Service, acc serviceAccess, op string) error {
	switch {
	case acc == serviceRead:
		return nil
	case acc == serviceOperate && a.Role.AtLeast(berth.RoleOperator):
		return nil
	case acc == serviceChange && (a.Role == berth.RoleAdmin || (svc.Owner != "" && svc.Owner == a.UserID)):
		return nil
	case acc == serviceOperate:
		return berth.Errorf(berth.EFORBIDDEN, "%s service %s: operating a service needs the operator role", op, svc.Name)
	}
	return berth.Errorf(berth.EFORBIDDEN, "%s service %s: only its owner (%s) or an admin may change what a service runs "+
		"(PUT, config, delete); every operator may scale, restart, stop, start and roll it back", op, svc.Name, c.ownerName(ctx, svc.Owner))
}

// ownerName is the username of an owner id, for messages.
func (c *Core) ownerName(ctx context.Context, id string) string {
	if id == "" {
		return "no owner: admins only"
	}
	if u, err := c.store.GetUser(ctx, id); err == nil {
		return u.Username
	}
	return id
}

// mayEnvironment reports whether a may see (and so act on) env.
func mayEnvironment(a berth.Actor, env *berth.Environment) bool {
	return a.Role == berth.RoleAdmin || env.UserID == a.UserID
}

// WorkspaceActor is the caller a workspace's activity token stands for: it
// may report the activity of its own environment and do nothing else (it
// has no role, and its id is no user's).
func WorkspaceActor(envID string) berth.Actor {
	return berth.Actor{UserID: "workspace:" + envID, Username: "workspace"}
}

// mayInventoryItem reports whether a may see (and so act on) an item of a
// target's inventory: the rule of the object it belongs to. owners maps the
// stored environments' ids to their owners.
func mayInventoryItem(a berth.Actor, it berth.Resource, owners map[string]string) bool {
	if a.Role == berth.RoleAdmin || it.BerthKind != "environment" {
		return true // services (and what berth did not make) are shared
	}
	owner, ok := owners[it.BerthID]
	return ok && owner == a.UserID
}

// environmentOwners maps every stored environment's id to its owner.
func (c *Core) environmentOwners(ctx context.Context) (map[string]string, error) {
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{})
	if err != nil {
		return nil, fmt.Errorf("list environment owners: %w", err)
	}
	out := make(map[string]string, len(envs))
	for _, e := range envs {
		out[e.ID] = e.UserID
	}
	return out, nil
}
