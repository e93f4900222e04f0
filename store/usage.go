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
	var (
		id, start int64
		cur       berth.UsageShape
		user      string
	)
	err := tx.QueryRowContext(ctx, s.q(`SELECT id, replicas, cpu_cores, memory_gb, storage_gb, started_at, user_id
		FROM usage_intervals WHERE kind = ? AND resource_id = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1`),
		m.kind, m.id).Scan(&id, &cur.Replicas, &cur.CPUCores, &cur.MemoryGB, &cur.StorageGB, &start, &user)
	open := err == nil
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("meter %s %s: %w", m.kind, m.id, err)
	}
	if open && cur == m.shape && user == m.user {
		return nil
	}
	if open {
		end := max(now, start)
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET ended_at = ?, ends_at = ?, last_seen = ?
			WHERE kind = ? AND resource_id = ? AND ended_at IS NULL`), end, end, end, m.kind, m.id); err != nil {
			return fmt.Errorf("meter %s %s: close interval: %w", m.kind, m.id, err)
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
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM usage_intervals WHERE ended_at IS NULL AND last_seen < ?`), staleUS)
		if err != nil {
			return err
		}
		var stale []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return err
			}
			stale = append(stale, id)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range stale {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_intervals (kind, resource_id, name, user_id, target,
				replicas, cpu_cores, memory_gb, storage_gb, started_at, ends_at, last_seen)
				SELECT kind, resource_id, name, user_id, target, replicas, cpu_cores, memory_gb, storage_gb, ?, ?, ?
				FROM usage_intervals WHERE id = ?`), nowUS, int64(math.MaxInt64), nowUS, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET ended_at = last_seen, ends_at = last_seen WHERE id = ?`), id); err != nil {
				return err
			}
		}
		cut = len(stale)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE usage_intervals SET last_seen = ? WHERE ended_at IS NULL AND last_seen < ?`), nowUS, nowUS)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("usage heartbeat: %w", err)
	}
	return cut, nil
}

// usageGroupColumn is the key column of a grouping ("" → one group).
var usageGroupColumn = map[string]string{
	"":                       "CAST('' AS TEXT)",
	berth.GroupByUser:        "user_id",
	berth.GroupByEnvironment: "resource_id",
	berth.GroupByService:     "resource_id",
	berth.GroupByTarget:      "target",
}

// UsageAggregate sums intervals clipped to [q.From, q.To) by group and
// target, in resource-seconds. Open intervals end at q.Now.
func (s *Store) UsageAggregate(ctx context.Context, q berth.UsageQuery) ([]berth.UsageAgg, error) {
	col, ok := usageGroupColumn[q.GroupBy]
	if !ok {
		return nil, berth.Invalid("groupBy", "%q cannot be summed by the store", q.GroupBy)
	}
	from, to, nowUS := micros(q.From), micros(q.To), micros(q.Now)
	// d = min(end, to) - max(start, from), end = ended_at or now; CASE keeps
	// it portable (SQLite's min/max are LEAST/GREATEST on PostgreSQL). The
	// inner query computes it once per interval.
	const end = "(CASE WHEN ends_at > ? THEN ? ELSE ends_at END)"
	d := "((CASE WHEN " + end + " < ? THEN " + end + " ELSE ? END) - (CASE WHEN started_at > ? THEN started_at ELSE ? END))"
	args := []any{nowUS, nowUS, to, nowUS, nowUS, to, from, from}
	// One index decides which rows are read: a user's (user_id,
	// started_at) for one user, else ends_at, which a report over recent
	// months bounds tightly; the unary + keeps the other column from
	// competing for the plan (valid on both databases).
	cond := " WHERE ends_at > ? AND +started_at < ? AND +started_at < ?"
	if q.UserID != "" {
		cond = " WHERE +ends_at > ? AND started_at < ? AND started_at < ?"
	}
	inner := "SELECT " + col + " AS k, name, target, cpu_cores, memory_gb, storage_gb, replicas, " + d + " AS d" +
		" FROM usage_intervals" + cond
	args = append(args, from, to, nowUS)
	switch q.GroupBy {
	case berth.GroupByEnvironment:
		inner += " AND kind = 'environment'"
	case berth.GroupByService:
		inner += " AND kind = 'service'"
	}
	if q.UserID != "" {
		inner += " AND user_id = ?"
		args = append(args, q.UserID)
	}
	group := " GROUP BY k, target"
	if q.GroupBy == "" {
		group = " GROUP BY target" // PostgreSQL refuses a constant in GROUP BY
	}
	sel := "SELECT MAX(k), MAX(name), target, SUM(cpu_cores * d), SUM(memory_gb * d), SUM(storage_gb * d), SUM(replicas * d) FROM (" +
		inner + ") u"
	where := ""
	rows, err := s.x(ctx).QueryContext(ctx, s.q(sel+where+group), args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate usage: %w", err)
	}
	defer rows.Close()
	var out []berth.UsageAgg
	for rows.Next() {
		var a berth.UsageAgg
		var cpu, mem, sto, rep sql.NullFloat64
		if err := rows.Scan(&a.Key, &a.Name, &a.Target, &cpu, &mem, &sto, &rep); err != nil {
			return nil, fmt.Errorf("aggregate usage: %w", err)
		}
		const us = 1e6
		a.CPUCoreSec, a.MemoryGBSec, a.StorageGBSec, a.ReplicaSec = cpu.Float64/us, mem.Float64/us, sto.Float64/us, rep.Float64/us
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate usage: %w", err)
	}
	return out, nil
}
