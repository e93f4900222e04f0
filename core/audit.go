package core

import (
	"context"

	"github.com/berthhq/berth"
)

// ListAudit answers audit entries by f, newest first, and their total. Who
// reads what is this one rule: admins read everyone's entries; viewers and
// operators read their own, and asking for another user's is FORBIDDEN.
func (c *Core) ListAudit(ctx context.Context, f berth.AuditFilter) ([]*berth.AuditEntry, int, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, 0, err
	}
	if f.Status != "" && f.Status != berth.AuditCompleted && f.Status != berth.AuditFailed {
		return nil, 0, berth.Invalid("status", "must be %s or %s, got %q", berth.AuditCompleted, berth.AuditFailed, f.Status)
	}
	if a.Role != berth.RoleAdmin {
		if f.User != "" && f.User != a.Username && f.User != a.UserID {
			return nil, 0, berth.Errorf(berth.EFORBIDDEN, "user: only an admin may read other users' audit entries")
		}
		f.User = a.UserID
	}
	entries, total, err := c.store.ListAudit(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	if entries == nil {
		entries = []*berth.AuditEntry{}
	}
	return entries, total, nil
}
