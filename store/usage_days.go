package store

import (
	"sort"
	"strings"

	"github.com/berthhq/berth"
)

// Reports by user, target, day, month or in total (docs/usage.md) read a
// range [from, min(to, now)) as: its whole UTC days from the cumulative
// series (usage_cumulative: value at the last midnight minus value at the
// first, per series), the parts of a day at either end from the closed
// intervals that overlap them (those started that day, and per resource
// the one holding that day's first instant), and the open intervals over
// the whole range. The parts do not overlap and each is clipped to its own
// span, so the sum is the intervals' to the microsecond.

// cumulativeGroup says whether the cumulative series answer groupBy (they
// are per user and target, not per resource).
func cumulativeGroup(groupBy string) bool {
	switch groupBy {
	case "", berth.GroupByUser, berth.GroupByTarget, berth.GroupByDay, berth.GroupByMonth:
		return true
	}
	return false
}

// dayPieces splits [from, end) into its whole UTC days [d1, d2) (none
// unless d1 < d2) and the parts of a day before and after them.
func dayPieces(from, end int64) (d1, d2 int64, pieces [][2]int64) {
	if from >= end {
		return 0, 0, nil
	}
	d1, d2 = ceilDay(from), dayOf(end)
	if d1 > d2 { // inside one day
		return d1, d2, [][2]int64{{from, end}}
	}
	if from < d1 {
		pieces = append(pieces, [2]int64{from, d1})
	}
	if d2 < end {
		pieces = append(pieces, [2]int64{d2, end})
	}
	return d1, d2, pieces
}

// pieceParts adds, per part of a day [lo, hi), the closed intervals that
// overlap it: those started that day, and the one per resource that was
// running at the day's start (coverIntervals).
func pieceParts(p *usageParts, pieces [][2]int64, part func(lo, hi, bound int64, which string) (string, []any)) {
	for _, pc := range pieces {
		d := dayOf(pc[0])
		p.add(part(pc[0], pc[1], d, startedIntervals))
		p.add(part(pc[0], pc[1], d, coverIntervals))
	}
}

// coverCond selects, for a part of a day [lo, ...) starting on day, each
// resource's latest closed interval started before day if it ends after
// lo: the only one of that resource that can (a resource's intervals
// follow one another). The resources are those of the month's roll-up: a
// closed interval overlapping a part of the month has a row there.
func coverCond(q berth.UsageQuery, lo, day int64) (string, []any) {
	sub := "SELECT (SELECT x.id FROM usage_intervals x WHERE x.kind = r.kind AND x.resource_id = r.resource_id AND x.started_at < ?" +
		" ORDER BY x.started_at DESC, x.id DESC LIMIT 1) FROM usage_rollup r WHERE r.month = ?"
	args := []any{day, monthOf(lo)}
	if q.UserID != "" {
		sub += " AND r.user_id = ?"
		args = append(args, q.UserID)
	}
	return "id IN (" + sub + " GROUP BY r.kind, r.resource_id) AND +ends_at > ? AND +ends_at < ?", append(args, lo, openEnd)
}

// cumPart is the whole days [d1, d2) of q grouped by user, target or in
// total, from the cumulative series: per series its value at d2 minus its
// value at d1 (each the latest row at or before), for series with a row
// after d1 (those that held something in the days). Everyone's total or
// by-target report reads the per-target series. CROSS JOIN (the join's
// terms in WHERE, the same join on PostgreSQL) keeps SQLite walking the
// keys and seeking the rows, instead of scanning every row and seeking
// its key; "c2.day > d1", not "b.d2 > d1", or SQLite runs d2's subquery
// twice per key.
func cumPart(q berth.UsageQuery, d1, d2 int64) (string, []any) {
	table, keys, key, eq := "usage_cumulative", "usage_cumulative_keys k", "b.user_id", "x.user_id = k.user_id AND x.target = k.target"
	cols, join := "k.user_id, k.target", "c2.user_id = b.user_id AND c2.target = b.target AND c2.day = b.d2"
	if q.GroupBy != berth.GroupByUser && q.UserID == "" {
		table, keys, key, eq = "usage_cumulative_targets", "(SELECT target FROM usage_cumulative_keys GROUP BY target) k", "b.target", "x.target = k.target"
		cols, join = "k.target", "c2.target = b.target AND c2.day = b.d2"
	}
	switch q.GroupBy {
	case berth.GroupByTarget:
		key = "b.target"
	case "":
		key = "CAST('' AS TEXT)"
	}
	at := func(n string) string {
		return "(SELECT MAX(x.day) FROM " + table + " x WHERE " + eq + " AND x.day <= ?) AS " + n
	}
	args := []any{d2, d1}
	inner := "SELECT " + cols + ", " + at("d2") + ", " + at("d1") + " FROM " + keys
	if q.UserID != "" {
		inner += " WHERE k.user_id = ?"
		args = append(args, q.UserID)
	}
	diff := func(c, n string) string { return "c2." + c + " - COALESCE(c1." + c + ", 0) AS " + n }
	sel := "SELECT " + key + " AS k, " + key + " AS name, b.target AS target, " + diff("cpu_us", "c") + ", " + diff("memory_us", "m") + ", " +
		diff("storage_us", "s") + ", " + diff("replica_us", "r") + " FROM (" + inner + ") b CROSS JOIN " + table + " c2" +
		" LEFT JOIN " + table + " c1 ON " + strings.NewReplacer("c2.", "c1.", "b.d2", "b.d1").Replace(join) + " WHERE " + join + " AND c2.day > ?"
	return sel, append(args, d1)
}

// cumSeriesPart selects, as rows of a by-day or by-month report (rolled
// 1, bucket = the row's midnight), the cumulative series rows a report
// over the whole days [d1, d2) needs: everyone's per target, or
// q.UserID's per target, each from the latest row at or before d1 to d2.
func cumSeriesPart(q berth.UsageQuery, d1, d2 int64) (string, []any) {
	const sums = "1 AS rolled, c.day AS bucket, c.target, 0 AS a, 0 AS b, c.cpu_us AS c, c.memory_us AS m, c.storage_us AS s, c.replica_us AS r"
	if q.UserID != "" {
		return "SELECT " + sums + " FROM usage_cumulative_keys t JOIN usage_cumulative c ON c.user_id = t.user_id AND c.target = t.target" +
			" AND c.day <= ? AND c.day >= COALESCE((SELECT MAX(x.day) FROM usage_cumulative x WHERE x.user_id = t.user_id AND x.target = t.target" +
			" AND x.day <= ?), 0) WHERE t.user_id = ?", []any{d2, d1, q.UserID}
	}
	return "SELECT " + sums + " FROM (SELECT target FROM usage_cumulative_keys GROUP BY target) t JOIN usage_cumulative_targets c" +
		" ON c.target = t.target AND c.day <= ? AND c.day >= COALESCE((SELECT MAX(x.day) FROM usage_cumulative_targets x" +
		" WHERE x.target = t.target AND x.day <= ?), 0)", []any{d2, d1}
}

// addDays adds the whole days [d1, d2) of every bucket from one target's
// cumulative rows: the value at the bucket's last midnight minus that at
// its first (nothing when both are the same row: nothing was held).
func (sp *bucketSplitter) addDays(target string, rs []cumRow, d1, d2 int64) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].day < rs[j].day })
	for i := range sp.buckets {
		lo, hi := max(sp.from[i], d1), min(sp.to[i], d2)
		if lo >= hi {
			continue
		}
		a, b := cumAt(rs, lo), cumAt(rs, hi)
		if a == b {
			continue
		}
		v := rs[b].v
		if a >= 0 {
			w := rs[a].v
			v = rollupSums{v.cpu - w.cpu, v.mem - w.mem, v.sto - w.sto, v.rep - w.rep}
		}
		sp.add(i, target, v)
	}
}

type cumRow struct {
	day int64
	v   rollupSums
}

// cumAt is the index of the latest row at or before day (-1: none, the
// value is zero).
func cumAt(rs []cumRow, day int64) int {
	return sort.Search(len(rs), func(i int) bool { return rs[i].day > day }) - 1
}

// usageByDays answers q (cumulativeGroup) in one query: the whole days
// from the cumulative series, the parts of days and the open intervals
// from the intervals.
func usageByDays(q berth.UsageQuery, col string) (string, []any) {
	from, to, now := micros(q.From), micros(q.To), micros(q.Now)
	var p usageParts
	d1, d2, pieces := dayPieces(from, min(to, now))
	if d1 < d2 {
		p.add(cumPart(q, d1, d2))
	}
	pieceParts(&p, pieces, func(lo, hi, bound int64, which string) (string, []any) {
		return summed(rawPart(q, col, lo, hi, now, bound, which))
	})
	p.add(summed(rawPart(q, col, from, to, now, 0, openIntervals)))
	return p.union(), p.args
}
