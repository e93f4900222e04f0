package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/berthhq/berth"
)

// usageLockID serialises writes of usage intervals across replicas on
// PostgreSQL ("berthuse" in ASCII): a state write and the leader's
// heartbeat never both close and reopen the same interval.
const usageLockID = 0x62657274_68757365

// SetClock sets what stamps usage intervals (tests inject a clock; core's
// and the store's must agree).
func (s *Store) SetClock(now func() time.Time) { s.clock = now }

// meterShape is the shape of one resource as a state write leaves it.
type meterShape struct {
	kind, id, name, user, target string
	shape                        berth.UsageShape
}

func envMeter(e *berth.Environment) meterShape {
	return meterShape{kind: "environment", id: e.ID, name: e.Name, user: e.UserID, target: e.Target, shape: berth.EnvironmentShape(e)}
}

func svcMeter(svc *berth.Service) meterShape {
	return meterShape{kind: "service", id: svc.Ref().String(), name: svc.Name, user: svc.Owner, target: svc.Target, shape: berth.ServiceShape(svc)}
}

func (s *Store) usageLock(ctx context.Context, tx *sql.Tx) error {
	if s.kind != Postgres {
		return nil // SQLite: the transaction already holds the one writer lock
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(usageLockID))
	return err
}

// meter records m's shape in tx: nothing when the open interval already
// has it, else the open one closes now and (for a shape that holds
// something) the next opens now.
func (s *Store) meter(ctx context.Context, tx *sql.Tx, m meterShape) error {
	if err := s.usageLock(ctx, tx); err != nil {
		return fmt.Errorf("meter %s %s: %w", m.kind, m.id, err)
	}
	now := micros(s.clock())
	open, err := s.openIntervals(ctx, tx, m)
	if err != nil {
		return fmt.Errorf("meter %s %s: %w", m.kind, m.id, err)
	}
	if len(open) > 0 && open[0].shape == m.shape && open[0].user == m.user {
		return nil
	}
	if len(open) > 0 {
		end := max(now, open[0].start)
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET ended_at = ?, ends_at = ?, last_seen = ?, rolled_up = 1
			WHERE kind = ? AND resource_id = ? AND ended_at IS NULL`), end, end, end, m.kind, m.id); err != nil {
			return fmt.Errorf("meter %s %s: close interval: %w", m.kind, m.id, err)
		}
		for _, iv := range open { // as closed: each in the roll-up
			iv.end = end
			if err := s.rollUp(ctx, tx, iv); err != nil {
				return fmt.Errorf("meter %s %s: %w", m.kind, m.id, err)
			}
		}
	}
	if m.shape.IsZero() {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_intervals (kind, resource_id, name, user_id, target,
		replicas, cpu_cores, memory_gb, storage_gb, started_at, ends_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.kind, m.id, m.name, m.user, m.target, m.shape.Replicas, m.shape.CPUCores, m.shape.MemoryGB, m.shape.StorageGB,
		now, int64(math.MaxInt64), now); err != nil {
		return fmt.Errorf("meter %s %s: open interval: %w", m.kind, m.id, err)
	}
	return nil
}

// openIntervals are m's open intervals, the newest first (one, but every
// one the close below ends is rolled up).
func (s *Store) openIntervals(ctx context.Context, tx *sql.Tx, m meterShape) ([]closedInterval, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT kind, resource_id, user_id, target, name, replicas, cpu_cores, memory_gb,
		storage_gb, started_at FROM usage_intervals WHERE kind = ? AND resource_id = ? AND ended_at IS NULL ORDER BY id DESC`),
		m.kind, m.id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []closedInterval
	for rows.Next() {
		var iv closedInterval
		if err := rows.Scan(&iv.kind, &iv.id, &iv.user, &iv.target, &iv.name, &iv.shape.Replicas, &iv.shape.CPUCores,
			&iv.shape.MemoryGB, &iv.shape.StorageGB, &iv.start); err != nil {
			return nil, err
		}
		out = append(out, iv)
	}
	return out, rows.Err()
}

// UsageHeartbeat advances last_seen of open intervals; stale ones are cut
// at their last_seen and reopened at now (berth.UsageStore).
func (s *Store) UsageHeartbeat(ctx context.Context, now time.Time, staleAfter time.Duration) (int, error) {
	nowUS, staleUS := micros(now), micros(now.Add(-staleAfter))
	cut := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.usageLock(ctx, tx); err != nil {
			return err
		}
		if staleAfter <= 0 {
			staleUS = math.MinInt64 // cut nothing
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, kind, resource_id, user_id, target, name, replicas, cpu_cores,
			memory_gb, storage_gb, started_at, last_seen FROM usage_intervals WHERE ended_at IS NULL AND last_seen < ?`), staleUS)
		if err != nil {
			return err
		}
		stale, ids, err := scanIntervals(rows) // each ends at its last_seen
		if err != nil {
			return err
		}
		for i, id := range ids {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_intervals (kind, resource_id, name, user_id, target,
				replicas, cpu_cores, memory_gb, storage_gb, started_at, ends_at, last_seen)
				SELECT kind, resource_id, name, user_id, target, replicas, cpu_cores, memory_gb, storage_gb, ?, ?, ?
				FROM usage_intervals WHERE id = ?`), nowUS, int64(math.MaxInt64), nowUS, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET ended_at = last_seen, ends_at = last_seen, rolled_up = 1 WHERE id = ?`), id); err != nil {
				return err
			}
			if err := s.rollUp(ctx, tx, stale[i]); err != nil { // closed at its last_seen
				return err
			}
		}
		cut = len(stale)
		if err := s.rollUpStragglers(ctx, tx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET last_seen = ? WHERE ended_at IS NULL AND last_seen < ?`), nowUS, nowUS)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("usage heartbeat: %w", err)
	}
	return cut, nil
}

// scanIntervals reads rows of (id, kind, resource_id, user_id, target, name,
// replicas, cpu_cores, memory_gb, storage_gb, start, end) and closes them.
func scanIntervals(rows *sql.Rows) (ivs []closedInterval, ids []int64, err error) {
	defer rows.Close()
	for rows.Next() {
		var id int64
		var iv closedInterval
		if err := rows.Scan(&id, &iv.kind, &iv.id, &iv.user, &iv.target, &iv.name, &iv.shape.Replicas, &iv.shape.CPUCores,
			&iv.shape.MemoryGB, &iv.shape.StorageGB, &iv.start, &iv.end); err != nil {
			return nil, nil, err
		}
		ivs, ids = append(ivs, iv), append(ids, id)
	}
	return ivs, ids, rows.Err()
}

// stragglerBatch bounds one heartbeat's catch-up, so that its transaction
// stays short even after an old replica closed many intervals.
const stragglerBatch = 500

// rollUpStragglers adds to the running totals the closed intervals they do
// not hold yet (rolled_up = 0, migration 0013): the intervals that a replica
// of the previous release (migration 0011: it keeps the monthly roll-ups
// itself, not the running totals of 0012) closed while it ran beside this
// one during a rolling upgrade.
func (s *Store) rollUpStragglers(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, kind, resource_id, user_id, target, name, replicas, cpu_cores,
		memory_gb, storage_gb, started_at, ended_at FROM usage_intervals WHERE ended_at IS NOT NULL AND rolled_up = 0
		ORDER BY id LIMIT ?`), stragglerBatch)
	if err != nil {
		return fmt.Errorf("roll up intervals closed elsewhere: %w", err)
	}
	ivs, ids, err := scanIntervals(rows)
	if err != nil {
		return fmt.Errorf("roll up intervals closed elsewhere: %w", err)
	}
	for i, iv := range ivs {
		if err := s.addCumulative(ctx, tx, iv); err != nil {
			return fmt.Errorf("roll up interval %d closed elsewhere: %w", ids[i], err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET rolled_up = 1 WHERE id = ?`), ids[i]); err != nil {
			return fmt.Errorf("roll up interval %d closed elsewhere: %w", ids[i], err)
		}
	}
	return nil
}

// markRolledUp records that the roll-ups, just rebuilt from every closed
// interval, hold them all.
func (s *Store) markRolledUp(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE usage_intervals SET rolled_up = 1 WHERE ended_at IS NOT NULL AND rolled_up = 0`); err != nil {
		return fmt.Errorf("mark intervals rolled up: %w", err)
	}
	return nil
}
