package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
)

// AppendAudit appends an entry and sets e.ID (monotonic) and, when zero,
// e.Timestamp.
func (s *Store) AppendAudit(ctx context.Context, e *berth.AuditEntry) error {
	if err := s.insertAudit(ctx, s.x(ctx), e); err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

// queryRower is a database or a transaction.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) insertAudit(ctx context.Context, db queryRower, e *berth.AuditEntry) error {
	if e.Timestamp.IsZero() {
		e.Timestamp = now()
	}
	e.Timestamp = norm(e.Timestamp)
	details, err := auditDetails(e)
	if err != nil {
		return err
	}
	// RETURNING works on both (SQLite ≥ 3.35) and keeps this one statement.
	return db.QueryRowContext(ctx, s.q(`INSERT INTO audit_log (ts, user_id, username, action, type, resource_type,
		resource, target, status, error, duration_ms, request_id, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		micros(e.Timestamp), e.UserID, e.Username, e.Action, e.Type, e.ResourceType, e.Resource, e.Target,
		e.Status, e.Error, e.DurationMs, e.RequestID, details).Scan(&e.ID)
}

func auditDetails(e *berth.AuditEntry) (sql.NullString, error) {
	if len(e.Details) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(e.Details)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode details: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// auditWithChange writes the entry of ctx's audit intent, if it has one
// not written yet, in tx: the transaction of the call's change. settle
// tells the intent whether that transaction committed.
func (s *Store) auditWithChange(ctx context.Context, tx *sql.Tx) (settle func(committed bool), err error) {
	in := berth.AuditIntentFrom(ctx)
	if in == nil {
		return func(bool) {}, nil
	}
	e, ok := in.Claim()
	if !ok {
		return func(bool) {}, nil
	}
	if err := s.insertAudit(ctx, tx, &e); err != nil {
		in.Settle(0, false)
		return nil, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return func(committed bool) { in.Settle(e.ID, committed) }, nil
}

// UpdateAudit completes the entry e.ID (written with a change for an audit
// intent) with e's final fields.
func (s *Store) UpdateAudit(ctx context.Context, e *berth.AuditEntry) error {
	e.Timestamp = norm(e.Timestamp)
	details, err := auditDetails(e)
	if err != nil {
		return fmt.Errorf("update audit %s: %w", e.Action, err)
	}
	res, err := s.x(ctx).ExecContext(ctx, s.q(`UPDATE audit_log SET ts = ?, user_id = ?, username = ?, action = ?, type = ?,
		resource_type = ?, resource = ?, target = ?, status = ?, error = ?, duration_ms = ?, request_id = ?, details = ?
		WHERE id = ?`),
		micros(e.Timestamp), e.UserID, e.Username, e.Action, e.Type, e.ResourceType, e.Resource, e.Target,
		e.Status, e.Error, e.DurationMs, e.RequestID, details, e.ID)
	if err != nil {
		return fmt.Errorf("update audit %s: %w", e.Action, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update audit %s: %w", e.Action, err)
	} else if n == 0 {
		return berth.NotFound("audit entry", strconv.FormatInt(e.ID, 10))
	}
	return nil
}

// ListAudit returns matching entries newest first and the total count
// before paging. User matches the username or the user id.
func (s *Store) ListAudit(ctx context.Context, f berth.AuditFilter) ([]*berth.AuditEntry, int, error) {
	var where []string
	var args []any
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.User != "" {
		where, args = append(where, "(username = ? OR user_id = ?)"), append(args, f.User, f.User)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, micros(f.Since))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM audit_log"+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit: %w", err)
	}
	page, pargs := pageClause(f.Offset, f.Limit)
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT id, ts, user_id, username, action, type, resource_type, resource,
		target, status, error, duration_ms, request_id, details FROM audit_log`+cond+
		" ORDER BY ts DESC, id DESC"+page), append(args, pargs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []*berth.AuditEntry{}
	for rows.Next() {
		var (
			e       berth.AuditEntry
			ts      int64
			details sql.NullString
		)
		if err := rows.Scan(&e.ID, &ts, &e.UserID, &e.Username, &e.Action, &e.Type, &e.ResourceType, &e.Resource,
			&e.Target, &e.Status, &e.Error, &e.DurationMs, &e.RequestID, &details); err != nil {
			return nil, 0, fmt.Errorf("list audit: %w", err)
		}
		e.Timestamp = fromMicros(ts)
		if details.Valid {
			if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
				return nil, 0, fmt.Errorf("list audit: decode details of %d: %w", e.ID, err)
			}
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	return out, total, nil
}
