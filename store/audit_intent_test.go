package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
)

// auditRows reads the audit rows of a request id straight from SQL.
func auditRows(t *testing.T, s *store.Store, reqID string) (n int, status string, durationMs int64) {
	t.Helper()
	q := `SELECT status, duration_ms FROM audit_log WHERE request_id = ?`
	if s.Kind() == store.Postgres {
		q = `SELECT status, duration_ms FROM audit_log WHERE request_id = $1`
	}
	rows, err := s.DB().QueryContext(ctx, q, reqID)
	must(t, err)
	defer rows.Close()
	for rows.Next() {
		n++
		must(t, rows.Scan(&status, &durationMs))
	}
	must(t, rows.Err())
	return n, status, durationMs
}

// TestAuditCommitsWithChange: a call's audit entry (berth.AuditIntent) is
// written in the transaction of its first change, once, and only if that
// transaction commits; the call then completes it. bench-chaos saw an
// acknowledged change without its entry: the entry, appended after the
// change, failed while PostgreSQL restarted.
func TestAuditCommitsWithChange(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		draft := berth.AuditEntry{Timestamp: base, UserID: "usr-1", Username: "alice", Action: "service.apply",
			Type: "apply", ResourceType: "service", Resource: "web", Status: berth.AuditCompleted, RequestID: "req-1"}
		intent := berth.NewAuditIntent(draft)
		ictx := berth.WithAuditIntent(ctx, intent)

		// A change that rolls back (a duplicate) takes no entry with it.
		svc, rev := newService("local", "default", "web")
		must(t, s.CreateService(ctx, svc, rev))
		dup, duprev := newService("local", "default", "web")
		if err := s.CreateService(ictx, dup, duprev); err == nil {
			t.Fatal("creating a duplicate service succeeded")
		}
		if n, _, _ := auditRows(t, s, "req-1"); n != 0 {
			t.Fatalf("%d audit rows after a rolled-back change, want 0", n)
		}

		// The first change that commits carries the entry; the second does not repeat it.
		svc.Replicas = 3
		must(t, s.UpdateService(ictx, svc, nil))
		if n, status, _ := auditRows(t, s, "req-1"); n != 1 || status != berth.AuditCompleted {
			t.Fatalf("after the change: %d audit rows (%q), want 1 completed, written with it", n, status)
		}
		svc.Replicas = 4
		must(t, s.UpdateService(ictx, svc, nil))
		// So does a change inside SerializeUser (its own transaction).
		must(t, s.SerializeUser(ictx, "usr-1", func(tctx context.Context) error {
			svc.Replicas = 5
			return s.UpdateService(tctx, svc, nil)
		}))
		if n, _, _ := auditRows(t, s, "req-1"); n != 1 {
			t.Fatalf("after three changes: %d audit rows, want 1", n)
		}

		id, written := intent.Close()
		if !written || id == 0 {
			t.Fatalf("Close = %d, %v: want the id of the entry written with the change", id, written)
		}
		final := draft
		final.ID, final.Status, final.Error, final.DurationMs = id, berth.AuditFailed, "runtime refused", 42
		must(t, s.UpdateAudit(ctx, &final))
		if n, status, d := auditRows(t, s, "req-1"); n != 1 || status != berth.AuditFailed || d != 42 {
			t.Fatalf("completed entry: %d rows, %q, %d ms; want 1, failed, 42", n, status, d)
		}
		// A closed intent takes no further entry.
		svc.Replicas = 6
		must(t, s.UpdateService(ictx, svc, nil))
		if n, _, _ := auditRows(t, s, "req-1"); n != 1 {
			t.Fatalf("after the call ended: %d audit rows, want 1", n)
		}

		// A call whose only transaction failed has no entry written: the caller appends it.
		other := berth.NewAuditIntent(berth.AuditEntry{Action: "service.scale", RequestID: "req-2", Status: berth.AuditCompleted})
		err := s.SerializeUser(berth.WithAuditIntent(ctx, other), "usr-1", func(context.Context) error { return errors.New("refused") })
		if err == nil {
			t.Fatal("SerializeUser: want the refusal")
		}
		if _, written := other.Close(); written {
			t.Fatal("an intent whose transaction rolled back says its entry was written")
		}
		if n, _, _ := auditRows(t, s, "req-2"); n != 0 {
			t.Fatalf("%d audit rows for a call that changed nothing, want 0", n)
		}
		wantCode(t, s.UpdateAudit(ctx, &berth.AuditEntry{ID: id + 1000, Action: "x", Status: berth.AuditCompleted}), berth.ENOTFOUND)
	})
}
