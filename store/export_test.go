package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/berthhq/berth"
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

// PutMetricsRowByRow is PutMetrics as it was before it batched rows: one
// statement per series and per point. BenchmarkPutMetrics measures the
// batched one against it in the same run.
func (s *Store) PutMetricsRowByRow(ctx context.Context, res time.Duration, series []berth.MetricSeries) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		seriesStmt, err := tx.PrepareContext(ctx, s.q(insertSeries+placeholders(1, 6)+onSeriesConflict))
		if err != nil {
			return err
		}
		defer seriesStmt.Close()
		pointStmt, err := tx.PrepareContext(ctx, s.q(insertPoints+placeholders(1, 8)+onPointConflict))
		if err != nil {
			return err
		}
		defer pointStmt.Close()
		for _, ser := range series {
			k := ser.MetricKey
			var id int64
			var ignored berth.MetricKey
			if err := seriesStmt.QueryRowContext(ctx, k.Target, k.Namespace, k.Kind, k.Name, k.Replica, k.Metric).
				Scan(&id, &ignored.Target, &ignored.Namespace, &ignored.Kind, &ignored.Name, &ignored.Replica, &ignored.Metric); err != nil {
				return err
			}
			for _, p := range ser.Points {
				if _, err := pointStmt.ExecContext(ctx, id, resSeconds(res), micros(p.Time), p.Value, p.Min, p.Max, p.P95, max(p.Count, 1)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
