package core

import (
	"context"
	"time"

	"github.com/berthhq/berth"
)

// Dormancy (docs/quotas.md): an environment stopped longer than After
// becomes dormant (dormantSince set, audited, an event its owner sees);
// with DeleteAfter > 0 a dormant one is deleted that much later, its volume
// kept unless DeleteVolume. An environment created with ttl/deleteAt is
// deleted at that time. Pinned environments are exempt from all three.
// The leader's sync runs the sweep, as berth.System.

// DormancyConfig is berth.yaml's dormantAfter, deleteDormantAfter and
// deleteDormantVolumes.
type DormancyConfig struct {
	After        time.Duration // default 30 days
	DeleteAfter  time.Duration // 0: dormant environments are never deleted
	DeleteVolume bool          // delete the volume with a dormant or expired environment
}

// deleteAt is when a create request asks for its environment to go.
func deleteAt(req berth.CreateEnvironmentRequest, now time.Time) (*time.Time, error) {
	switch {
	case req.TTL != "":
		d, err := berth.ParseLongDuration("ttl", req.TTL)
		if err != nil {
			return nil, err
		}
		t := now.Add(d)
		return &t, nil
	case req.DeleteAt != nil:
		if !req.DeleteAt.After(now) {
			return nil, berth.Invalid("deleteAt", "must be in the future")
		}
		t := req.DeleteAt.UTC()
		return &t, nil
	}
	return nil, nil
}

// dormancySweep runs on the leader's sync over the listed environments.
func (c *Core) dormancySweep(ctx context.Context, envs []*berth.Environment) {
	now := c.now().UTC()
	sys := berth.WithActor(ctx, berth.System)
	for _, env := range envs {
		if env.Pinned || env.Status == berth.EnvDeleting {
			continue
		}
		switch {
		case env.DeleteAt != nil && !now.Before(*env.DeleteAt):
			c.dormantDelete(sys, env, "environment.expire", map[string]any{"deleteAt": env.DeleteAt})
		case env.DormantSince != nil && c.dormancy.DeleteAfter > 0 && now.Sub(*env.DormantSince) >= c.dormancy.DeleteAfter:
			c.dormantDelete(sys, env, "environment.dormant-delete", map[string]any{"dormantSince": env.DormantSince})
		case env.Stopped && env.DormantSince == nil && now.Sub(stoppedSince(env)) >= c.dormancy.After:
			c.makeDormant(sys, env.ID, now)
		}
	}
}

// stoppedSince is when a stopped environment stopped (its last update for
// one stopped before berth kept the time).
func stoppedSince(env *berth.Environment) time.Time {
	if env.StoppedAt != nil {
		return *env.StoppedAt
	}
	return env.UpdatedAt
}

func (c *Core) makeDormant(ctx context.Context, id string, now time.Time) {
	unlock := c.lock("env/" + id)
	defer unlock()
	env, err := c.store.GetEnvironment(ctx, id)
	if err != nil || !env.Stopped || env.Pinned || env.DormantSince != nil {
		return // gone, started or pinned meanwhile
	}
	env.DormantSince, env.UpdatedAt = &now, now
	e := &berth.AuditEntry{Timestamp: now, UserID: berth.System.UserID, Username: berth.System.Username,
		Action: "environment.dormant", Type: "dormant", ResourceType: "environment", Resource: env.ID, Target: env.Target,
		Status: berth.AuditCompleted, Details: map[string]any{"owner": env.UserID, "stoppedSince": stoppedSince(env),
			"dormantAfterHours": int(c.dormancy.After.Hours())}}
	if err := c.store.UpdateEnvironment(ctx, env); err != nil {
		e.Status, e.Error = berth.AuditFailed, berth.ErrorMessage(err)
		c.audit(ctx, e)
		return
	}
	c.audit(ctx, e)
	c.environmentEvent(ctx, "environment.dormant", env)
}

func (c *Core) dormantDelete(ctx context.Context, env *berth.Environment, action string, details map[string]any) {
	start := c.now()
	keep := !c.dormancy.DeleteVolume
	_, err := c.DeleteEnvironment(ctx, env.ID, keep)
	details["owner"], details["keepVolume"] = env.UserID, keep
	e := &berth.AuditEntry{Timestamp: start.UTC(), UserID: berth.System.UserID, Username: berth.System.Username,
		Action: action, Type: "delete", ResourceType: "environment", Resource: env.ID, Target: env.Target,
		Status: berth.AuditCompleted, DurationMs: c.now().Sub(start).Milliseconds(), Details: details}
	if err != nil {
		e.Status, e.Error = berth.AuditFailed, berth.ErrorMessage(err)
	}
	c.audit(ctx, e)
}

// PinEnvironment pins (or unpins) an environment: a pinned one never
// becomes dormant and is never deleted by dormancy or its ttl. Its owner
// or an admin may.
func (c *Core) PinEnvironment(ctx context.Context, id string, pinned bool) (*berth.Environment, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	if _, err := c.visible(ctx, id); err != nil {
		return nil, err
	}
	unlock := c.lock("env/" + id)
	defer unlock()
	env, err := c.store.GetEnvironment(ctx, id)
	if err != nil {
		return nil, err
	}
	env.Pinned, env.UpdatedAt = pinned, c.now().UTC()
	if pinned {
		env.DormantSince = nil
	}
	if err := c.store.UpdateEnvironment(ctx, env); err != nil {
		return nil, berth.Wrap(err, berth.EINTERNAL, "pin environment %s", id)
	}
	c.environmentEvent(ctx, "environment.updated", env)
	return env, nil
}
