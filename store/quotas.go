package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"

	"github.com/berthhq/berth"
)

// GetQuotas returns every configured level.
func (s *Store) GetQuotas(ctx context.Context) (*berth.QuotaSet, error) {
	rows, err := s.r(ctx).QueryContext(ctx, `SELECT scope, qkey, limits FROM quotas`)
	if err != nil {
		return nil, fmt.Errorf("get quotas: %w", err)
	}
	defer rows.Close()
	out := &berth.QuotaSet{Roles: map[string]berth.QuotaLimits{}, Users: map[string]berth.QuotaLimits{}}
	for rows.Next() {
		var scope, key, js string
		if err := rows.Scan(&scope, &key, &js); err != nil {
			return nil, fmt.Errorf("get quotas: %w", err)
		}
		var l berth.QuotaLimits
		if err := json.Unmarshal([]byte(js), &l); err != nil {
			return nil, fmt.Errorf("get quotas: decode %s %q: %w", scope, key, err)
		}
		switch scope {
		case berth.QuotaDefaults:
			out.Defaults = l
		case berth.QuotaRole:
			out.Roles[key] = l
		case berth.QuotaUser:
			out.Users[key] = l
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get quotas: %w", err)
	}
	return out, nil
}

// PutQuota sets (replaces) the limits of one level.
func (s *Store) PutQuota(ctx context.Context, scope, key string, l berth.QuotaLimits) error {
	js, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("put quota %s %q: %w", scope, key, err)
	}
	_, err = s.x(ctx).ExecContext(ctx, s.q(`INSERT INTO quotas (scope, qkey, limits, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, qkey) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`),
		scope, key, string(js), micros(s.clock()))
	if err != nil {
		return fmt.Errorf("put quota %s %q: %w", scope, key, err)
	}
	return nil
}

// DeleteQuota removes the limits of a role or user. ENOTFOUND if none.
func (s *Store) DeleteQuota(ctx context.Context, scope, key string) error {
	res, err := s.x(ctx).ExecContext(ctx, s.q(`DELETE FROM quotas WHERE scope = ? AND qkey = ?`), scope, key)
	if err != nil {
		return fmt.Errorf("delete quota %s %q: %w", scope, key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete quota %s %q: %w", scope, key, err)
	} else if n == 0 {
		return berth.NotFound(scope+" quota", key)
	}
	return nil
}

// userLockKey is the PostgreSQL advisory lock key of a user's quota
// section: a 64-bit FNV hash of the id (a collision only serialises two
// users more than needed).
func userLockKey(userID string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("berth-quota/" + userID))
	return int64(h.Sum64()) // #nosec G115 -- a hash reinterpreted as a lock key, any value will do
}

// SerializeUser runs fn in one transaction, serialised per user: on
// PostgreSQL it first takes pg_advisory_xact_lock on the user (held until
// commit or rollback, so replicas sharing the database queue up and each
// one's reads see the rows the one before it committed); on SQLite the
// transaction begins IMMEDIATE (the DSN's _txlock), taking the single
// writer lock before its first read. Store calls fn makes with the ctx it
// gets run in that transaction.
func (s *Store) SerializeUser(ctx context.Context, userID string, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return fmt.Errorf("serialize user %s: already inside a transaction", userID)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("serialize user %s: %w", userID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.kind == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", userLockKey(userID)); err != nil {
			return fmt.Errorf("serialize user %s: take lock: %w", userID, err)
		}
	}
	if err := fn(context.WithValue(ctx, txKey{s}, tx)); err != nil {
		return err
	}
	// A call's audit entry commits with its first change (berth.AuditIntent).
	settle, err := s.auditWithChange(ctx, tx)
	if err != nil {
		return fmt.Errorf("serialize user %s: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		settle(false)
		return fmt.Errorf("serialize user %s: commit: %w", userID, err)
	}
	settle(true)
	return nil
}
