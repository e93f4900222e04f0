package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/berthhq/berth"
)

// The monthly roll-up (usage_rollup, migration 0011; docs/usage.md). A
// closed interval never changes again, so what it held in each UTC month
// is added to the roll-up in the transaction that closes it. A report
// then reads the whole months of its range from the roll-up (resources ×
// months rows) and only the edges of the range and the open intervals
// from usage_intervals, and its figures stay those of the intervals to the
// microsecond.

// closedInterval is one interval as it is closed: what it held over
// [start, end) (µs).
type closedInterval struct {
	kind, id, user, target, name string
	shape                        berth.UsageShape
	start, end                   int64
}

// rollupKey is one roll-up row: a resource's month under one user, target
// and name.
type rollupKey struct {
	month                        int64
	kind, id, user, target, name string
}

// rollupSums are shape × µs held inside the month.
type rollupSums struct{ cpu, mem, sto, rep float64 }

// monthOf is the first µs of the UTC month holding us.
func monthOf(us int64) int64 {
	t := fromMicros(us)
	return micros(time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC))
}

// nextMonth is the first µs of the month after the one starting at m.
func nextMonth(m int64) int64 { return micros(fromMicros(m).AddDate(0, 1, 0)) }

// monthPieces calls fn with each month [start, end) reaches into and the
// µs it holds there (> 0).
func monthPieces(start, end int64, fn func(month, d int64)) {
	for m := monthOf(start); m < end; m = nextMonth(m) {
		if d := min(end, nextMonth(m)) - max(start, m); d > 0 {
			fn(m, d)
		}
	}
}

// pieces are iv's roll-up contributions, month by month.
func (iv closedInterval) pieces(fn func(rollupKey, rollupSums)) {
	monthPieces(iv.start, iv.end, func(m, d int64) {
		f := float64(d)
		fn(rollupKey{m, iv.kind, iv.id, iv.user, iv.target, iv.name},
			rollupSums{iv.shape.CPUCores * f, iv.shape.MemoryGB * f, iv.shape.StorageGB * f, float64(iv.shape.Replicas) * f})
	})
}

const rollupUpsert = `INSERT INTO usage_rollup (month, kind, resource_id, user_id, target, name, cpu_us, memory_us, storage_us, replica_us)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (month, kind, resource_id, user_id, target, name) DO UPDATE SET
	cpu_us = usage_rollup.cpu_us + excluded.cpu_us, memory_us = usage_rollup.memory_us + excluded.memory_us,
	storage_us = usage_rollup.storage_us + excluded.storage_us, replica_us = usage_rollup.replica_us + excluded.replica_us`

const rollupUsersUpsert = `INSERT INTO usage_rollup_users (user_id, target, month, cpu_us, memory_us, storage_us, replica_us)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (user_id, target, month) DO UPDATE SET
	cpu_us = usage_rollup_users.cpu_us + excluded.cpu_us, memory_us = usage_rollup_users.memory_us + excluded.memory_us,
	storage_us = usage_rollup_users.storage_us + excluded.storage_us, replica_us = usage_rollup_users.replica_us + excluded.replica_us`

const crossingInsert = `INSERT INTO usage_crossings (month, kind, resource_id, name, user_id, target, replicas, cpu_cores,
	memory_gb, storage_gb, started_at, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// crossings calls fn with every month start iv crosses (began before it,
// ended after it).
func (iv closedInterval) crossings(fn func(month int64)) {
	monthPieces(iv.start, iv.end, func(m, _ int64) {
		if m > iv.start {
			fn(m)
		}
	})
}

func (s *Store) insertCrossings(ctx context.Context, stmt *sql.Stmt, iv closedInterval) error {
	var err error
	iv.crossings(func(m int64) {
		if err == nil {
			_, err = stmt.ExecContext(ctx, m, iv.kind, iv.id, iv.name, iv.user, iv.target, iv.shape.Replicas, iv.shape.CPUCores,
				iv.shape.MemoryGB, iv.shape.StorageGB, iv.start, iv.end)
		}
	})
	return err
}

// rollUp adds the closed interval iv to the roll-ups (per resource and per
// user), the months it crossed and the running totals, in the transaction
// that closed it.
func (s *Store) rollUp(ctx context.Context, tx *sql.Tx, iv closedInterval) error {
	if err := s.rollUpMonths(ctx, tx, iv); err != nil {
		return err
	}
	return s.addCumulative(ctx, tx, iv)
}

// rollUpMonths is what the release with migration 0011 did when it closed
// an interval: the monthly roll-ups and crossings, not the running totals.
func (s *Store) rollUpMonths(ctx context.Context, tx *sql.Tx, iv closedInterval) error {
	var err error
	iv.crossings(func(m int64) {
		if err == nil {
			_, err = tx.ExecContext(ctx, s.q(crossingInsert), m, iv.kind, iv.id, iv.name, iv.user, iv.target, iv.shape.Replicas,
				iv.shape.CPUCores, iv.shape.MemoryGB, iv.shape.StorageGB, iv.start, iv.end)
		}
	})
	iv.pieces(func(k rollupKey, v rollupSums) {
		if err == nil {
			_, err = tx.ExecContext(ctx, s.q(rollupUpsert), k.month, k.kind, k.id, k.user, k.target, k.name, v.cpu, v.mem, v.sto, v.rep)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, s.q(rollupUsersUpsert), k.user, k.target, k.month, v.cpu, v.mem, v.sto, v.rep)
		}
	})
	if err != nil {
		return fmt.Errorf("roll up %s %s: %w", iv.kind, iv.id, err)
	}
	return nil
}

// rebuildUsageRollup fills the roll-ups and crossings anew from every
// closed interval:
// migration 0011's step (the intervals closed before it) and a restore's
// (the roll-up is derived, so backups do not carry it). Idempotent.
func (s *Store) rebuildUsageRollup(ctx context.Context, tx *sql.Tx) error {
	for _, table := range []string{"usage_rollup", "usage_rollup_users", "usage_crossings"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil { // #nosec G202 -- constant table names
			return fmt.Errorf("rebuild usage roll-up: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, resource_id, user_id, target, name, replicas, cpu_cores, memory_gb, storage_gb,
		started_at, ended_at FROM usage_intervals WHERE ended_at IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("rebuild usage roll-up: %w", err)
	}
	sums, users := map[rollupKey]*rollupSums{}, map[rollupKey]*rollupSums{}
	var order, userOrder []rollupKey
	var crossing []closedInterval
	for rows.Next() {
		var iv closedInterval
		if err := rows.Scan(&iv.kind, &iv.id, &iv.user, &iv.target, &iv.name, &iv.shape.Replicas, &iv.shape.CPUCores,
			&iv.shape.MemoryGB, &iv.shape.StorageGB, &iv.start, &iv.end); err != nil {
			_ = rows.Close()
			return fmt.Errorf("rebuild usage roll-up: %w", err)
		}
		iv.pieces(func(k rollupKey, v rollupSums) {
			order = addSums(sums, order, k, v)
			userOrder = addSums(users, userOrder, rollupKey{month: k.month, user: k.user, target: k.target}, v)
		})
		if monthOf(iv.start) < monthOf(iv.end-1) {
			crossing = append(crossing, iv)
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rebuild usage roll-up: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, s.q(rollupUpsert))
	if err != nil {
		return fmt.Errorf("rebuild usage roll-up: %w", err)
	}
	defer stmt.Close()
	for _, k := range order {
		v := sums[k]
		if _, err := stmt.ExecContext(ctx, k.month, k.kind, k.id, k.user, k.target, k.name, v.cpu, v.mem, v.sto, v.rep); err != nil {
			return fmt.Errorf("rebuild usage roll-up: %w", err)
		}
	}
	cstmt, err := tx.PrepareContext(ctx, s.q(crossingInsert))
	if err != nil {
		return fmt.Errorf("rebuild usage roll-up: %w", err)
	}
	defer cstmt.Close()
	for _, iv := range crossing {
		if err := s.insertCrossings(ctx, cstmt, iv); err != nil {
			return fmt.Errorf("rebuild usage roll-up: %w", err)
		}
	}
	ustmt, err := tx.PrepareContext(ctx, s.q(rollupUsersUpsert))
	if err != nil {
		return fmt.Errorf("rebuild usage roll-up: %w", err)
	}
	defer ustmt.Close()
	for _, k := range userOrder {
		v := users[k]
		if _, err := ustmt.ExecContext(ctx, k.user, k.target, k.month, v.cpu, v.mem, v.sto, v.rep); err != nil {
			return fmt.Errorf("rebuild usage roll-up: %w", err)
		}
	}
	return nil
}

// addSums adds v to sums[k], keeping the order keys came in.
func addSums(sums map[rollupKey]*rollupSums, order []rollupKey, k rollupKey, v rollupSums) []rollupKey {
	if p, ok := sums[k]; ok {
		p.cpu, p.mem, p.sto, p.rep = p.cpu+v.cpu, p.mem+v.mem, p.sto+v.sto, p.rep+v.rep
		return order
	}
	sums[k] = &v
	return append(order, k)
}

// RebuildUsageRollup fills the roll-ups and the cumulative series anew
// from the closed intervals, in one transaction (bench/usage writes
// intervals directly, then calls it).
func (s *Store) RebuildUsageRollup(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.rebuildUsageRollup(ctx, tx); err != nil {
			return err
		}
		if err := s.rebuildUsageCumulative(ctx, tx); err != nil {
			return err
		}
		return s.markRolledUp(ctx, tx)
	})
}
