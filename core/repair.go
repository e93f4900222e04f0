package core

import (
	"context"
	"fmt"

	"github.com/berthhq/berth"
)

// A repair that keeps failing is not only a log line: once a key has failed
// ReconcileConfig.RepairRetries passes in a row, its object shows ERROR with
// the reason as its message (the status sync keeps it so while the key
// fails), a service.error / environment.error event and a failed
// "<kind>.repair" audit entry by system say so. The first pass that
// succeeds clears it: the object shows what its runtime reports again, and
// a completed "<kind>.repair" entry says so. The record is the leader's (the
// loop's) memory: a new leader finds out anew within its retries.

// repairMessage is the message of an object whose repair keeps failing.
func repairMessage(failed int, err error) string {
	return fmt.Sprintf("repair failed %d times: %s", failed, berth.ErrorMessage(err))
}

// failingReason is why key's repair keeps failing; ok is false when it does not.
func (c *Core) failingReason(key reconcileKey) (reason string, ok bool) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	reason, ok = c.rec.failing[key]
	return reason, ok
}

// clearFailing forgets key's failure; it reports whether there was one.
func (c *Core) clearFailing(key reconcileKey) bool {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	_, ok := c.rec.failing[key]
	delete(c.rec.failing, key)
	return ok
}

// repairFailed records that key failed its failed-th pass in a row: the
// object shows ERROR with the reason (refreshed each failure), and the first
// time an event and an audit entry say so.
func (c *Core) repairFailed(ctx context.Context, key reconcileKey, failed int, err error) {
	ctx = berth.WithActor(ctx, berth.System)
	msg := repairMessage(failed, err)
	c.rec.mu.Lock()
	_, known := c.rec.failing[key]
	c.rec.failing[key] = msg
	c.rec.mu.Unlock()
	kind, target, recorded := c.markError(ctx, key, msg, !known)
	if known || !recorded {
		return
	}
	c.log.Error("reconcile: repair keeps failing", "object", key.String(), "failures", failed, "err", err)
	c.audit(ctx, &berth.AuditEntry{
		Timestamp: c.now().UTC(), UserID: berth.System.UserID, Username: berth.System.Username,
		Action: kind + ".repair", Type: "reconcile", ResourceType: kind, Resource: key.resource(), Target: target,
		Status: berth.AuditFailed, Error: berth.ErrorMessage(err), Details: map[string]any{"failures": failed},
	})
}

// markError stores ERROR and msg on key's object and, when announce is
// set, publishes its error event (straight to the bus: an event through
// serviceEvent would enqueue the key again at once, past its backoff);
// recorded is false when the object is gone (or its store failed).
func (c *Core) markError(ctx context.Context, key reconcileKey, msg string, announce bool) (kind, target string, recorded bool) {
	if key.env != "" {
		unlock := c.lock("env/" + key.env)
		defer unlock()
		env, err := c.store.GetEnvironment(ctx, key.env)
		if err != nil || env.Status == berth.EnvDeleting {
			return "environment", "", false
		}
		env.Status, env.Message, env.UpdatedAt = berth.EnvError, msg, c.now().UTC()
		if err := c.store.UpdateEnvironment(ctx, env); err != nil {
			c.log.Error("record failed repair", "object", key.String(), "err", err)
			return "environment", env.Target, false
		}
		if announce {
			cp := *env
			cp.Secrets = berth.EnvSecrets{}
			c.publish(ctx, berth.Event{Topic: TopicEnvironments, Type: "environment.error", Owner: env.UserID, Data: &cp})
		}
		return "environment", env.Target, true
	}
	unlock := c.lock("svc/" + key.svc.String())
	defer unlock()
	svc, err := c.store.GetService(ctx, key.svc)
	if err != nil {
		return "service", "", false
	}
	svc.Status, svc.Message = berth.ServiceError, msg
	if err := c.store.UpdateService(ctx, svc, nil); err != nil {
		c.log.Error("record failed repair", "object", key.String(), "err", err)
		return "service", svc.Target, false
	}
	if announce {
		svc.Spec = svc.Spec.Redacted()
		c.publish(ctx, berth.Event{Topic: TopicServices, Type: "service.error", Data: svc})
	}
	return "service", svc.Target, true
}

// repaired clears key's failure after a pass that succeeded: the object
// shows what its runtime reports again (the status sync stores and
// publishes it) and a completed audit entry says the repair came through.
func (c *Core) repaired(ctx context.Context, key reconcileKey) {
	if !c.clearFailing(key) {
		return
	}
	kind, target := "service", key.svc.Target
	if key.env != "" {
		kind = "environment"
		env, err := c.store.GetEnvironment(ctx, key.env)
		if err != nil {
			return
		}
		target = env.Target
		c.syncEnvironment(ctx, env)
	} else {
		svc, err := c.store.GetService(ctx, key.svc)
		if err != nil {
			return
		}
		c.syncService(ctx, svc)
	}
	c.log.Info("reconcile: repair came through", "object", key.String())
	c.audit(ctx, &berth.AuditEntry{
		Timestamp: c.now().UTC(), UserID: berth.System.UserID, Username: berth.System.Username,
		Action: kind + ".repair", Type: "reconcile", ResourceType: kind, Resource: key.resource(), Target: target,
		Status: berth.AuditCompleted,
	})
}

// resource is how audit entries name key's object.
func (k reconcileKey) resource() string {
	if k.env != "" {
		return k.env
	}
	return k.svc.String()
}
