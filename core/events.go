package core

import (
	"context"

	"github.com/berthhq/berth"
)

// Event topics core publishes on.
const (
	TopicServices     = "services"
	TopicEnvironments = "environments"
	TopicAudit        = "audit"
)

// publish sends an event when a publisher is configured. Publishing never
// fails the operation: the bus drops what it cannot deliver.
func (c *Core) publish(ctx context.Context, e berth.Event) {
	if c.events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = c.now().UTC()
	}
	c.events.Publish(context.WithoutCancel(ctx), e)
}

// serviceEvent publishes a change of svc, secrets redacted. Every viewer
// may read services, so the event has no owner.
func (c *Core) serviceEvent(ctx context.Context, typ string, svc *berth.Service) {
	if svc == nil {
		return
	}
	c.wrote(reconcileKey{svc: svc.Ref()}, typ) // the loop checks what was written
	if typ != "service.status" {
		c.expireOnChange(ctx, typ, svc, nil) // recommendations made for what it was
	}
	if c.events == nil {
		return
	}
	cp := *svc
	cp.Spec = svc.Spec.Redacted()
	c.publish(ctx, berth.Event{Topic: TopicServices, Type: typ, Data: &cp})
}

// environmentEvent publishes a change of env to its owner (and admins).
// Secrets are never encoded (json:"-").
func (c *Core) environmentEvent(ctx context.Context, typ string, env *berth.Environment) {
	if env == nil {
		return
	}
	c.wrote(reconcileKey{env: env.ID}, typ)
	if typ == "environment.deleted" || typ == "environment.stopped" || typ == "environment.started" {
		c.expireOnChange(ctx, typ, nil, env)
	}
	if c.events == nil {
		return
	}
	cp := *env
	cp.Secrets = berth.EnvSecrets{}
	c.publish(ctx, berth.Event{Topic: TopicEnvironments, Type: typ, Owner: env.UserID, Data: &cp})
}

// AuditEvent is the event of an audit entry: its actor and admins read it.
func AuditEvent(e *berth.AuditEntry) berth.Event {
	return berth.Event{Topic: TopicAudit, Type: "audit.entry", Time: e.Timestamp, Owner: e.UserID, Data: e}
}

// serviceEventTypes names the event of each mutate operation.
var serviceEventTypes = map[string]string{
	"scale": "service.scaled", "stop": "service.stopped", "start": "service.started",
	"restart": "service.restarted", "rollback": "service.rolledback", "configure": "service.configured",
}
