package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
)

var _ berth.MetricsStore = (*Store)(nil)

func resSeconds(res time.Duration) int { return int(res / time.Second) }

// metricBatch is how many rows one multi-row statement of PutMetrics
// carries: a sampler tick at scale is tens of thousands of points, and one
// statement per row was most of its cost (see BenchmarkPutMetrics).
const metricBatch = 200

// PutMetrics upserts the series, then their points, in one transaction, a
// batch of rows per statement. A point of a series at a time already stored
// replaces it; given twice in one call, the later one wins.
//
// The ids of series met before come from memory (seriesIDs): upserting
// every series again at each tick was half of a tick's time. Ids are never
// reused (AUTOINCREMENT, identity), so an id whose series was pruned since
// (by PruneMetrics here, or by another replica) fails its points' foreign
// key instead of landing elsewhere; the call then forgets what it knew and
// runs once more against the table.
func (s *Store) PutMetrics(ctx context.Context, res time.Duration, series []berth.MetricSeries) error {
	keys := make([]berth.MetricKey, 0, len(series))
	seen := make(map[berth.MetricKey]bool, len(series))
	for _, ser := range series {
		if len(ser.Points) > 0 && !seen[ser.MetricKey] {
			seen[ser.MetricKey] = true
			keys = append(keys, ser.MetricKey)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	cached, err := s.putMetrics(ctx, res, series, keys)
	if err != nil && cached {
		s.seriesIDs.forget()
		_, err = s.putMetrics(ctx, res, series, keys)
	}
	if err != nil {
		return fmt.Errorf("put metrics (resolution %s): %w", res, err)
	}
	return nil
}

// putMetrics is one try of PutMetrics; cached says whether it used ids
// from memory.
func (s *Store) putMetrics(ctx context.Context, res time.Duration, series []berth.MetricSeries, keys []berth.MetricKey) (cached bool, err error) {
	ids, missing := s.seriesIDs.lookup(keys)
	var created map[berth.MetricKey]int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if created, err = s.upsertSeries(ctx, tx, missing); err != nil {
			return err
		}
		maps.Copy(ids, created)
		return s.upsertPoints(ctx, tx, res, series, ids)
	})
	if err == nil {
		s.seriesIDs.learn(created)
	}
	return len(missing) < len(keys), err
}

// seriesIDs remembers the id of each metric series PutMetrics has met.
type seriesIDs struct {
	mu  sync.Mutex
	ids map[berth.MetricKey]int64
}

// lookup answers the ids known of keys and the keys not known.
func (c *seriesIDs) lookup(keys []berth.MetricKey) (map[berth.MetricKey]int64, []berth.MetricKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make(map[berth.MetricKey]int64, len(keys))
	var missing []berth.MetricKey
	for _, k := range keys {
		if id, ok := c.ids[k]; ok {
			ids[k] = id
		} else {
			missing = append(missing, k)
		}
	}
	return ids, missing
}

func (c *seriesIDs) learn(ids map[berth.MetricKey]int64) {
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = make(map[berth.MetricKey]int64, len(ids))
	}
	maps.Copy(c.ids, ids)
}

func (c *seriesIDs) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = nil
}

// upsertSeries answers the id of every key, creating the series missing.
// RETURNING names each row's key: its order is not the VALUES' order.
func (s *Store) upsertSeries(ctx context.Context, tx *sql.Tx, keys []berth.MetricKey) (map[berth.MetricKey]int64, error) {
	ids := make(map[berth.MetricKey]int64, len(keys))
	for part := range slices.Chunk(keys, metricBatch) {
		args := make([]any, 0, 6*len(part))
		for _, k := range part {
			args = append(args, k.Target, k.Namespace, k.Kind, k.Name, k.Replica, k.Metric)
		}
		if err := s.upsertSeriesPart(ctx, tx, args, ids); err != nil {
			return nil, fmt.Errorf("series: %w", err)
		}
	}
	for _, k := range keys {
		if _, ok := ids[k]; !ok {
			return nil, fmt.Errorf("series %s/%s/%s: no id returned", k.Kind, k.Name, k.Metric)
		}
	}
	return ids, nil
}

// upsertSeriesPart upserts one batch of series (args: 6 per series) and
// adds their ids to ids.
func (s *Store) upsertSeriesPart(ctx context.Context, tx *sql.Tx, args []any, ids map[berth.MetricKey]int64) error {
	rows, err := tx.QueryContext(ctx, s.q(insertSeries+placeholders(len(args)/6, 6)+onSeriesConflict), args...) // #nosec G202 -- only placeholders are joined in
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k berth.MetricKey
		if err := rows.Scan(&id, &k.Target, &k.Namespace, &k.Kind, &k.Name, &k.Replica, &k.Metric); err != nil {
			return err
		}
		ids[k] = id
	}
	return rows.Err()
}

// upsertPoints writes the points of series under ids. One statement may
// not touch a row twice (PostgreSQL refuses it), so a (series, time) given
// twice keeps its last point, as one statement per point did.
func (s *Store) upsertPoints(ctx context.Context, tx *sql.Tx, res time.Duration, series []berth.MetricSeries, ids map[berth.MetricKey]int64) error {
	type at struct{ id, ts int64 }
	last := make(map[at]int)
	type row struct {
		at
		p berth.MetricPoint
	}
	var rows []row
	for _, ser := range series {
		id := ids[ser.MetricKey]
		for _, p := range ser.Points {
			a := at{id, micros(p.Time)}
			if i, ok := last[a]; ok {
				rows[i].p = p
				continue
			}
			last[a] = len(rows)
			rows = append(rows, row{a, p})
		}
	}
	r := resSeconds(res)
	for part := range slices.Chunk(rows, metricBatch) {
		args := make([]any, 0, 8*len(part))
		for _, w := range part {
			n := w.p.Count
			if n <= 0 {
				n = 1
			}
			args = append(args, w.id, r, w.ts, w.p.Value, w.p.Min, w.p.Max, w.p.P95, n)
		}
		if _, err := tx.ExecContext(ctx, s.q(insertPoints+placeholders(len(part), 8)+onPointConflict), args...); err != nil { // #nosec G202 -- only placeholders are joined in
			return fmt.Errorf("points: %w", err)
		}
	}
	return nil
}

// The statements of PutMetrics, around their VALUES. The no-op update
// makes RETURNING answer for existing series too.
const (
	insertSeries     = `INSERT INTO metric_series (target, namespace, kind, name, replica, metric) VALUES `
	onSeriesConflict = ` ON CONFLICT (target, namespace, kind, name, replica, metric)
		DO UPDATE SET metric = excluded.metric RETURNING id, target, namespace, kind, name, replica, metric`
	insertPoints    = `INSERT INTO metric_points (series_id, res, ts, value, min_value, max_value, p95, n) VALUES `
	onPointConflict = ` ON CONFLICT (series_id, res, ts)
		DO UPDATE SET value = excluded.value, min_value = excluded.min_value, max_value = excluded.max_value,
		p95 = excluded.p95, n = excluded.n`
)

// placeholders is "(?, …), (?, …)": rows tuples of cols placeholders.
func placeholders(rows, cols int) string {
	tuple := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(tuple+", ", rows-1) + tuple
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
	gone, err := s.x(ctx).ExecContext(ctx, `DELETE FROM metric_series WHERE NOT EXISTS
		(SELECT 1 FROM metric_points p WHERE p.series_id = metric_series.id)`)
	if err != nil {
		return n, fmt.Errorf("prune metric series: %w", err)
	}
	if deleted, _ := gone.RowsAffected(); deleted > 0 {
		s.seriesIDs.forget() // spares PutMetrics a failed try on their ids
	}
	return n, nil
}
