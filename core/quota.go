package core

import (
	"context"
	"fmt"

	"github.com/berthhq/berth"
)

// Quotas (docs/quotas.md): limits at three levels, the most specific
// winning per field, checked on every write that raises what a user holds.
// The check and the write are one step: quotaWrite runs both inside the
// store's per-user serialised transaction (an advisory lock on PostgreSQL,
// the single writer on SQLite), so parallel requests on several replicas
// see each other's committed records. The runtime is called only after the
// record commits, as before: a refusal leaves no record and no workload.

// raises says whether need asks for more of anything.
func raises(need berth.QuotaUse) bool {
	return need.Environments > 0 || need.RunningEnvironments > 0 || need.CPUCores > 0 || need.MemoryGB > 0 ||
		need.StorageGB > 0 || need.Services > 0 || need.ServiceCPUCores > 0 || need.ServiceMemoryGB > 0
}

// roleOf is a user's stored role ("" when the user is unknown: only the
// defaults and the user's own level apply).
func (c *Core) roleOf(ctx context.Context, userID string) berth.Role {
	if u, err := c.store.GetUser(ctx, userID); err == nil {
		return u.Role
	}
	return ""
}

// useOf sums what userID holds now (in the transaction ctx carries).
func (c *Core) useOf(ctx context.Context, userID string) (berth.QuotaUse, error) {
	var u berth.QuotaUse
	envs, _, err := c.store.ListEnvironments(ctx, berth.EnvironmentFilter{UserID: userID})
	if err != nil {
		return u, fmt.Errorf("sum use of %s: %w", userID, err)
	}
	for _, e := range envs {
		u = u.Add(berth.EnvironmentUse(e))
	}
	svcs, _, err := c.store.ListServices(ctx, berth.ServiceFilter{Owner: userID})
	if err != nil {
		return u, fmt.Errorf("sum use of %s: %w", userID, err)
	}
	for _, s := range svcs {
		u = u.Add(berth.ServiceUse(s))
	}
	return u, nil
}

// quotaWrite checks that need (and a service's replicas, 0 otherwise) fits
// owner's quota on top of what owner holds, and runs write in the same
// serialised transaction. A request that raises nothing, or a resource
// without an owner, writes without a check.
func (c *Core) quotaWrite(ctx context.Context, owner string, need berth.QuotaUse, replicas int, what string,
	write func(ctx context.Context) error) error {
	if owner == "" || (!raises(need) && replicas == 0) {
		return write(ctx)
	}
	role := c.roleOf(ctx, owner)
	return c.store.SerializeUser(ctx, owner, func(ctx context.Context) error {
		qs, err := c.store.GetQuotas(ctx)
		if err != nil {
			return err
		}
		limits := qs.Resolve(role, owner)
		// This runs holding SQLite's one writer: summing every resource
		// the owner holds (hundreds of services, decoded) only when a
		// limit needs it keeps every other write from waiting on that.
		var used berth.QuotaUse
		if limits.NeedsUse(need) {
			if used, err = c.useOf(ctx, owner); err != nil {
				return err
			}
		}
		if err := limits.Check(used, need, replicas, what); err != nil {
			return err
		}
		return write(ctx)
	})
}

// GetQuotas answers every configured level (admins only).
func (c *Core) GetQuotas(ctx context.Context) (*berth.QuotaSet, error) {
	if err := manageUsers(ctx); err != nil {
		return nil, err
	}
	qs, err := c.store.GetQuotas(ctx)
	if err != nil {
		return nil, fmt.Errorf("get quotas: %w", err)
	}
	return qs, nil
}

// QuotaOf answers the limits that apply to a user and what they hold: the
// caller's own, or anyone's for an admin.
func (c *Core) QuotaOf(ctx context.Context, userID string) (*berth.QuotaStatus, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if userID == "" {
		userID = a.UserID
	}
	if userID != a.UserID && a.Role != berth.RoleAdmin {
		return nil, berth.Errorf(berth.EFORBIDDEN, "only an admin may read another user's quota")
	}
	if userID != a.UserID {
		if _, err := c.store.GetUser(ctx, userID); err != nil {
			return nil, berth.Wrap(err, berth.ENOTFOUND, "quota of user %s", userID)
		}
	}
	qs, err := c.store.GetQuotas(ctx)
	if err != nil {
		return nil, fmt.Errorf("quota of %s: %w", userID, err)
	}
	used, err := c.useOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &berth.QuotaStatus{Limits: qs.Resolve(c.roleOf(ctx, userID), userID), Used: used}, nil
}

// SetQuota replaces the limits of a level (admins only). Lowering a limit
// below what is in use blocks new use and stops nothing.
func (c *Core) SetQuota(ctx context.Context, scope, key string, l berth.QuotaLimits) error {
	if err := manageUsers(ctx); err != nil {
		return err
	}
	if err := c.quotaKey(ctx, scope, key); err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return err
	}
	if err := c.store.PutQuota(ctx, scope, key, l); err != nil {
		return fmt.Errorf("set %s quota %s: %w", scope, key, err)
	}
	return nil
}

// DeleteQuota removes a role's or user's level (admins only).
func (c *Core) DeleteQuota(ctx context.Context, scope, key string) error {
	if err := manageUsers(ctx); err != nil {
		return err
	}
	if scope == berth.QuotaDefaults {
		return berth.Invalid("scope", "the defaults are replaced, not deleted")
	}
	if err := c.quotaKey(ctx, scope, key); err != nil {
		return err
	}
	if err := c.store.DeleteQuota(ctx, scope, key); err != nil {
		return berth.Wrap(err, berth.EINTERNAL, "delete %s quota %s", scope, key)
	}
	return nil
}

// quotaKey checks a level's key: none for the defaults, a known role, an
// existing user.
func (c *Core) quotaKey(ctx context.Context, scope, key string) error {
	switch scope {
	case berth.QuotaDefaults:
		if key != "" {
			return berth.Invalid("scope", "the defaults take no key")
		}
	case berth.QuotaRole:
		if !berth.Role(key).Valid() {
			return berth.Invalid("role", "%q is not one of viewer, operator, admin", key)
		}
	case berth.QuotaUser:
		if _, err := c.store.GetUser(ctx, key); err != nil {
			if berth.IsCode(err, berth.ENOTFOUND) {
				return berth.NotFound("user", key)
			}
			return fmt.Errorf("quota of user %s: %w", key, err)
		}
	default:
		return berth.Invalid("scope", "%q is not defaults, role or user", scope)
	}
	return nil
}
