package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

var _ berth.MetricsStore = (*Store)(nil)

func resSeconds(res time.Duration) int { return int(res / time.Second) }

// PutMetrics upserts the series, then their points, in one transaction.
func (s *Store) PutMetrics(ctx context.Context, res time.Duration, series []berth.MetricSeries) error {
	if len(series) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The no-op update makes RETURNING answer for existing rows too.
		seriesStmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO metric_series (target, namespace, kind, name, replica, metric)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target, namespace, kind, name, replica, metric)
			DO UPDATE SET metric = excluded.metric RETURNING id`))
		if err != nil {
			return err
		}
		defer seriesStmt.Close()
		pointStmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO metric_points (series_id, res, ts, value, min_value, max_value, p95, n)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, res, ts)
			DO UPDATE SET value = excluded.value, min_value = excluded.min_value, max_value = excluded.max_value,
			p95 = excluded.p95, n = excluded.n`))
		if err != nil {
			return err
		}
		defer pointStmt.Close()
		for _, ser := range series {
			if len(ser.Points) == 0 {
				continue
			}
			k := ser.MetricKey
			var id int64
			if err := seriesStmt.QueryRowContext(ctx, k.Target, k.Namespace, k.Kind, k.Name, k.Replica, k.Metric).Scan(&id); err != nil {
				return fmt.Errorf("series %s/%s/%s: %w", k.Kind, k.Name, k.Metric, err)
			}
			for _, p := range ser.Points {
				n := p.Count
				if n <= 0 {
					n = 1
				}
				if _, err := pointStmt.ExecContext(ctx, id, resSeconds(res), micros(p.Time), p.Value, p.Min, p.Max, p.P95, n); err != nil {
					return fmt.Errorf("point of %s/%s/%s: %w", k.Kind, k.Name, k.Metric, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put metrics (resolution %s): %w", res, err)
	}
	return nil
}

// QueryMetrics selects the series first (bounded by MaxSeries), then their points.
func (s *Store) QueryMetrics(ctx context.Context, q berth.MetricQuery) ([]berth.MetricSeries, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	in := func(col string, vs []string) {
		if len(vs) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", ")+")")
		for _, v := range vs {
			args = append(args, v)
		}
	}
	eq("target", q.Target)
	eq("namespace", q.Namespace)
	eq("name", q.Name)
	in("kind", q.Kinds)
	in("metric", q.Metrics)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	// Only series with points in the window count toward MaxSeries.
	cond2 := " AND "
	if cond == "" {
		cond2 = " WHERE "
	}
	query := `SELECT id, target, namespace, kind, name, replica, metric FROM metric_series` + cond + cond2 +
		`EXISTS (SELECT 1 FROM metric_points p WHERE p.series_id = metric_series.id AND p.res = ? AND p.ts >= ? AND p.ts < ?)
		ORDER BY target, namespace, kind, name, replica, metric, id`
	args = append(args, resSeconds(q.Resolution), micros(q.From), micros(q.To))
	if q.MaxSeries > 0 {
		query += " LIMIT ?"
		args = append(args, q.MaxSeries)
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("query metric series: %w", err)
	}
	byID := map[int64]int{}
	out := []berth.MetricSeries{}
	var ids []any
	for rows.Next() {
		var id int64
		var k berth.MetricKey
		if err := rows.Scan(&id, &k.Target, &k.Namespace, &k.Kind, &k.Name, &k.Replica, &k.Metric); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("query metric series: %w", err)
		}
		byID[id] = len(out)
		out = append(out, berth.MetricSeries{MetricKey: k, Points: []berth.MetricPoint{}})
		ids = append(ids, id)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query metric series: %w", err)
	}
	// Points in chunks: both databases bound the number of parameters.
	for chunk := range slices.Chunk(ids, 500) {
		pargs := append([]any{resSeconds(q.Resolution), micros(q.From), micros(q.To)}, chunk...)
		prow, err := s.rdb.QueryContext(ctx, s.q(`SELECT series_id, ts, value, min_value, max_value, p95, n FROM metric_points
			WHERE res = ? AND ts >= ? AND ts < ? AND series_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)
			ORDER BY series_id, ts`), pargs...)
		if err != nil {
			return nil, fmt.Errorf("query metric points: %w", err)
		}
		for prow.Next() {
			var id, ts int64
			var p berth.MetricPoint
			if err := prow.Scan(&id, &ts, &p.Value, &p.Min, &p.Max, &p.P95, &p.Count); err != nil {
				_ = prow.Close()
				return nil, fmt.Errorf("query metric points: %w", err)
			}
			p.Time = fromMicros(ts)
			i := byID[id]
			out[i].Points = append(out[i].Points, p)
		}
		_ = prow.Close()
		if err := prow.Err(); err != nil {
			return nil, fmt.Errorf("query metric points: %w", err)
		}
	}
	// Byte order, the same on both databases whatever PostgreSQL's collation.
	slices.SortFunc(out, func(a, b berth.MetricSeries) int { return compareKeys(a.MetricKey, b.MetricKey) })
	return out, nil
}

func compareKeys(a, b berth.MetricKey) int {
	return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Name, b.Name), cmp.Compare(a.Replica, b.Replica), cmp.Compare(a.Metric, b.Metric))
}

// LatestMetricTime is the newest point's time at resolution res.
func (s *Store) LatestMetricTime(ctx context.Context, res time.Duration) (time.Time, error) {
	var ts sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, s.q("SELECT MAX(ts) FROM metric_points WHERE res = ?"), resSeconds(res)).Scan(&ts); err != nil {
		return time.Time{}, fmt.Errorf("latest metric time (resolution %s): %w", res, err)
	}
	if !ts.Valid {
		return time.Time{}, nil
	}
	return fromMicros(ts.Int64), nil
}

// PruneMetrics deletes old points of one resolution and the series left empty.
func (s *Store) PruneMetrics(ctx context.Context, res time.Duration, before time.Time) (int64, error) {
	r, err := s.x(ctx).ExecContext(ctx, s.q("DELETE FROM metric_points WHERE res = ? AND ts < ?"), resSeconds(res), micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune metrics (resolution %s): %w", res, err)
	}
	n, _ := r.RowsAffected()
	if _, err := s.x(ctx).ExecContext(ctx, `DELETE FROM metric_series WHERE NOT EXISTS
		(SELECT 1 FROM metric_points p WHERE p.series_id = metric_series.id)`); err != nil {
		return n, fmt.Errorf("prune metric series: %w", err)
	}
	return n, nil
}
