package store

import (
	"context"
	"database/sql"
	"time"
)

// SetBusyTimeout sets SQLite's busy timeout for the stores opened until
// the returned function restores it.
func SetBusyTimeout(d time.Duration) (restore func()) {
	old := busyTimeout
	busyTimeout = d
	return func() { busyTimeout = old }
}

// Readers is the pool store methods read with outside a transaction.
func (s *Store) Readers() *sql.DB { return s.rdb }

// WritersQueued is how many writers wait for their turn.
func (s *Store) WritersQueued() int64 { return s.w.queued.Load() }

// CloseAsPreviousRelease closes the open interval of kind/id at end the way
// the release with migration 0011 did: the close and the monthly roll-ups in
// one transaction, no running totals, rolled_up untouched.
func (s *Store) CloseAsPreviousRelease(ctx context.Context, kind, id string, end time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		open, err := s.openIntervals(ctx, tx, meterShape{kind: kind, id: id})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET ended_at = ?, ends_at = ?, last_seen = ?
			WHERE kind = ? AND resource_id = ? AND ended_at IS NULL`), micros(end), micros(end), micros(end), kind, id); err != nil {
			return err
		}
		for _, iv := range open {
			iv.end = micros(end)
			if err := s.rollUpMonths(ctx, tx, iv); err != nil {
				return err
			}
		}
		return nil
	})
}
