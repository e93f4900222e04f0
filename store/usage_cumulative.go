package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// Cumulative usage (migration 0012; docs/usage.md). For each user and
// target (usage_cumulative) and each target over all users
// (usage_cumulative_targets), a row at a UTC midnight D holds what the
// closed intervals held before D, shape × µs. Rows exist at the midnights
// after every day a closed interval held something in; between them the
// value stays that of the latest row (nothing was held). So the usage of
// the whole days [D1, D2) is value(D2) − value(D1): two index seeks per
// series, however long the range or dense the intervals. The transaction
// that closes an interval adds it here, as it does to the roll-up.

// dayUS is one UTC day in µs (Unix time has no leap seconds).
const dayUS = int64(86_400_000_000)

// dayOf is the UTC midnight at or before us.
func dayOf(us int64) int64 {
	d := us - us%dayUS
	if us%dayUS < 0 {
		d -= dayUS
	}
	return d
}

// ceilDay is the UTC midnight at or after us.
func ceilDay(us int64) int64 {
	if d := dayOf(us); d < us {
		return d + dayUS
	}
	return us
}

// cumSeries is one series of cumulative rows: a table and the key columns
// that pick it.
type cumSeries struct {
	table string
	cols  []string
	vals  []any
}

func (c cumSeries) where() string {
	var w []string
	for _, col := range c.cols {
		w = append(w, col+" = ?")
	}
	return strings.Join(w, " AND ")
}

func cumSeriesOf(iv closedInterval) []cumSeries {
	return []cumSeries{
		{"usage_cumulative", []string{"user_id", "target"}, []any{iv.user, iv.target}},
		{"usage_cumulative_targets", []string{"target"}, []any{iv.target}},
	}
}

// addCumulative adds the closed interval iv to the cumulative series of
// its user and target, in the transaction that closed it: a row at every
// midnight in (start, ceilDay(end)] (copying the value before it where
// there was none), then shape × (min(D, end) − start) added to every row
// after start.
func (s *Store) addCumulative(ctx context.Context, tx *sql.Tx, iv closedInterval) error {
	if iv.end <= iv.start {
		return nil // held nothing
	}
	first, last := dayOf(iv.start)+dayUS, ceilDay(iv.end)
	for _, c := range cumSeriesOf(iv) {
		if err := s.fillCumRows(ctx, tx, c, first, last); err != nil {
			return fmt.Errorf("add %s %s to %s: %w", iv.kind, iv.id, c.table, err)
		}
		var args []any
		for _, v := range []float64{iv.shape.CPUCores, iv.shape.MemoryGB, iv.shape.StorageGB, float64(iv.shape.Replicas)} {
			args = append(args, v, iv.end, iv.end, iv.start)
		}
		args = append(append(args, c.vals...), iv.start)
		const add = " + CAST(? AS DOUBLE PRECISION) * ((CASE WHEN day < ? THEN day ELSE ? END) - ?)"
		// #nosec G202 -- table and column names are constants
		if _, err := tx.ExecContext(ctx, s.q("UPDATE "+c.table+" SET cpu_us = cpu_us"+add+", memory_us = memory_us"+add+
			", storage_us = storage_us"+add+", replica_us = replica_us"+add+" WHERE "+c.where()+" AND day > ?"), args...); err != nil {
			return fmt.Errorf("add %s %s to %s: %w", iv.kind, iv.id, c.table, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_cumulative_keys (user_id, target) VALUES (?, ?)
		ON CONFLICT (user_id, target) DO NOTHING`), iv.user, iv.target); err != nil {
		return fmt.Errorf("add %s %s to usage_cumulative_keys: %w", iv.kind, iv.id, err)
	}
	return nil
}

// fillCumRows makes sure c has a row at every midnight in [first, last],
// each new one holding the value of the latest row before it.
func (s *Store) fillCumRows(ctx context.Context, tx *sql.Tx, c cumSeries, first, last int64) error {
	const sums = "cpu_us, memory_us, storage_us, replica_us"
	var prev rollupSums
	err := tx.QueryRowContext(ctx, s.q("SELECT "+sums+" FROM "+c.table+" WHERE "+c.where()+" AND day < ? ORDER BY day DESC LIMIT 1"), // #nosec G202 -- constant names
		append(append([]any{}, c.vals...), first)...).Scan(&prev.cpu, &prev.mem, &prev.sto, &prev.rep)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	rows, err := tx.QueryContext(ctx, s.q("SELECT day, "+sums+" FROM "+c.table+" WHERE "+c.where()+" AND day >= ? AND day <= ? ORDER BY day"), // #nosec G202 -- constant names
		append(append([]any{}, c.vals...), first, last)...)
	if err != nil {
		return err
	}
	have := map[int64]rollupSums{}
	for rows.Next() {
		var d int64
		var v rollupSums
		if err := rows.Scan(&d, &v.cpu, &v.mem, &v.sto, &v.rep); err != nil {
			_ = rows.Close()
			return err
		}
		have[d] = v
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ins := "INSERT INTO " + c.table + " (" + strings.Join(c.cols, ", ") + ", day, " + sums + ") VALUES (" +
		strings.Repeat("?, ", len(c.cols)) + "?, ?, ?, ?, ?)"
	for d := first; d <= last; d += dayUS {
		if v, ok := have[d]; ok {
			prev = v
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(ins), append(append([]any{}, c.vals...), d, prev.cpu, prev.mem, prev.sto, prev.rep)...); err != nil {
			return err
		}
	}
	return nil
}

// cumBuilder rebuilds the cumulative series from closed intervals: each
// interval's µs per day, then running sums per series.
type cumBuilder struct {
	users   map[[2]string]map[int64]*rollupSums
	targets map[string]map[int64]*rollupSums
}

func newCumBuilder() *cumBuilder {
	return &cumBuilder{users: map[[2]string]map[int64]*rollupSums{}, targets: map[string]map[int64]*rollupSums{}}
}

func addDay(m map[int64]*rollupSums, day int64, v rollupSums) {
	if p, ok := m[day]; ok {
		p.cpu, p.mem, p.sto, p.rep = p.cpu+v.cpu, p.mem+v.mem, p.sto+v.sto, p.rep+v.rep
		return
	}
	m[day] = &v
}

func (b *cumBuilder) add(iv closedInterval) {
	if iv.end <= iv.start {
		return
	}
	uk := [2]string{iv.user, iv.target}
	if b.users[uk] == nil {
		b.users[uk] = map[int64]*rollupSums{}
	}
	if b.targets[iv.target] == nil {
		b.targets[iv.target] = map[int64]*rollupSums{}
	}
	for d := dayOf(iv.start); d < iv.end; d += dayUS {
		f := float64(min(iv.end, d+dayUS) - max(iv.start, d))
		v := rollupSums{iv.shape.CPUCores * f, iv.shape.MemoryGB * f, iv.shape.StorageGB * f, float64(iv.shape.Replicas) * f}
		addDay(b.users[uk], d, v)
		addDay(b.targets[iv.target], d, v)
	}
}

// write inserts the running sums: a row at the midnight after each day
// that held something.
func (b *cumBuilder) write(ctx context.Context, s *Store, tx *sql.Tx) error {
	ustmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO usage_cumulative (user_id, target, day, cpu_us, memory_us, storage_us, replica_us)
		VALUES (?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer ustmt.Close()
	kstmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO usage_cumulative_keys (user_id, target) VALUES (?, ?)`))
	if err != nil {
		return err
	}
	defer kstmt.Close()
	for _, k := range sortedKeys(b.users, func(x, y [2]string) bool { return x[0] < y[0] || x[0] == y[0] && x[1] < y[1] }) {
		if _, err := kstmt.ExecContext(ctx, k[0], k[1]); err != nil {
			return err
		}
		if err := runningSums(b.users[k], func(day int64, v rollupSums) error {
			_, err := ustmt.ExecContext(ctx, k[0], k[1], day, v.cpu, v.mem, v.sto, v.rep)
			return err
		}); err != nil {
			return err
		}
	}
	tstmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO usage_cumulative_targets (target, day, cpu_us, memory_us, storage_us, replica_us)
		VALUES (?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer tstmt.Close()
	for _, t := range sortedKeys(b.targets, func(x, y string) bool { return x < y }) {
		if err := runningSums(b.targets[t], func(day int64, v rollupSums) error {
			_, err := tstmt.ExecContext(ctx, t, day, v.cpu, v.mem, v.sto, v.rep)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[K comparable, V any](m map[K]V, less func(x, y K) bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

// runningSums calls fn with the value at the midnight after each day of
// days, in order.
func runningSums(days map[int64]*rollupSums, fn func(day int64, v rollupSums) error) error {
	var run rollupSums
	for _, d := range sortedKeys(days, func(x, y int64) bool { return x < y }) {
		v := days[d]
		run.cpu, run.mem, run.sto, run.rep = run.cpu+v.cpu, run.mem+v.mem, run.sto+v.sto, run.rep+v.rep
		if err := fn(d+dayUS, run); err != nil {
			return err
		}
	}
	return nil
}

// rebuildUsageCumulative fills the cumulative series anew from every
// closed interval: migration 0012's step, and part of a restore's rebuild.
// Idempotent.
func (s *Store) rebuildUsageCumulative(ctx context.Context, tx *sql.Tx) error {
	for _, table := range []string{"usage_cumulative", "usage_cumulative_targets", "usage_cumulative_keys"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil { // #nosec G202 -- constant table names
			return fmt.Errorf("rebuild cumulative usage: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT user_id, target, replicas, cpu_cores, memory_gb, storage_gb, started_at, ended_at
		FROM usage_intervals WHERE ended_at IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("rebuild cumulative usage: %w", err)
	}
	b := newCumBuilder()
	for rows.Next() {
		var iv closedInterval
		if err := rows.Scan(&iv.user, &iv.target, &iv.shape.Replicas, &iv.shape.CPUCores, &iv.shape.MemoryGB, &iv.shape.StorageGB,
			&iv.start, &iv.end); err != nil {
			_ = rows.Close()
			return fmt.Errorf("rebuild cumulative usage: %w", err)
		}
		b.add(iv)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rebuild cumulative usage: %w", err)
	}
	if err := b.write(ctx, s, tx); err != nil {
		return fmt.Errorf("rebuild cumulative usage: %w", err)
	}
	return nil
}
