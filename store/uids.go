package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/berthhq/berth"
)

var _ berth.UIDStore = (*Store)(nil)

// uidLockID is the PostgreSQL advisory lock of uid allocation ("berthuid").
const uidLockID = 0x626572_74687569

// WorkloadUID returns the uid recorded for key, recording the lowest free uid
// of [lo, hi] first when there is none. Two berth replicas allocating at once
// collide on the unique uid and the loser tries again.
func (s *Store) WorkloadUID(ctx context.Context, key string, lo, hi uint32) (uint32, error) {
	if key == "" {
		return 0, berth.Invalid("key", "is required")
	}
	if lo == 0 || hi < lo {
		return 0, berth.Invalid("uidRange", "%d-%d is not a range of non-root uids", lo, hi)
	}
	for range 5 {
		uid, err := s.allocUID(ctx, key, lo, hi)
		if isUnique(err) {
			continue // another replica took that uid or recorded this key
		}
		if err != nil {
			return 0, fmt.Errorf("allocate workload uid for %s: %w", key, err)
		}
		return uid, nil
	}
	return 0, berth.Errorf(berth.EUNAVAILABLE, "allocate workload uid for %s: too many concurrent allocations", key)
}

func (s *Store) allocUID(ctx context.Context, key string, lo, hi uint32) (uint32, error) {
	var uid uint32
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.kind == Postgres {
			// Allocations wait for each other (SQLite's immediate
			// transactions already do): no replica loses a race for a uid.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(uidLockID)); err != nil {
				return err
			}
		}
		var have int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT uid FROM workload_uids WHERE user_id = ?`), key).Scan(&have)
		if err == nil {
			uid = uint32(have) // #nosec G115 -- stored uids come from a range of uint32 (checked above)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT uid FROM workload_uids WHERE uid >= ? AND uid <= ? ORDER BY uid`), int64(lo), int64(hi))
		if err != nil {
			return err
		}
		next := int64(lo)
		for rows.Next() {
			var u int64
			if err := rows.Scan(&u); err != nil {
				_ = rows.Close()
				return err
			}
			if u != next {
				break // a gap: next is free
			}
			next++
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if next > int64(hi) {
			return berth.Errorf(berth.EUNAVAILABLE, "uid range %d-%d is exhausted: widen uidRange of the local target", lo, hi)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO workload_uids (user_id, uid, created_at) VALUES (?, ?, ?)`),
			key, next, micros(now())); err != nil {
			return err
		}
		uid = uint32(next) // #nosec G115 -- next is within lo..hi, both uint32
		return nil
	})
	return uid, err
}
