package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/berthhq/berth"
)

// Usage reports (docs/usage.md). A range [from, to) is read as: the whole
// UTC months inside [from, min(to, now)) from the roll-up (closed
// intervals), the edges before and after them from the closed intervals
// (those started in the edge's month, and those crossing into it from
// usage_crossings), and the open intervals over the whole range. Every
// part is clipped to its own span, so the sum is that of the intervals
// alone, which UsageAggregateRaw computes as the reference.

// openEnd is ends_at of an open interval.
const openEnd = int64(math.MaxInt64)

// usageGroupColumn is the key column of a grouping ("" → one group), the
// same in usage_intervals and usage_rollup.
var usageGroupColumn = map[string]string{
	"":                       "CAST('' AS TEXT)",
	berth.GroupByUser:        "user_id",
	berth.GroupByEnvironment: "resource_id",
	berth.GroupByService:     "resource_id",
	berth.GroupByTarget:      "target",
}

// wholeMonths is [m1, m2), the whole months inside [from, min(to, now)):
// ok is false when there are none.
func wholeMonths(from, to, now int64) (m1, m2 int64, ok bool) {
	if m1 = monthOf(from); m1 < from {
		m1 = nextMonth(m1)
	}
	m2 = monthOf(min(to, now))
	return m1, m2, m1 < m2
}

// Which intervals a raw part reads.
const (
	allIntervals     = "all"     // every interval overlapping [lo, hi)
	openIntervals    = "open"    // the open ones
	startedIntervals = "started" // closed ones started in [month, hi) (a segment inside one month)
	crossIntervals   = "crossing"
	coverIntervals   = "cover" // per resource, the closed one running at the start of the day month is (coverCond)
)

// rawPart selects the intervals of q (which of them) that overlap [lo,
// hi), clipped to it and to now: k, name, target, the shape, and [a, b)
// (empty when b <= a). crossIntervals reads usage_crossings: the closed
// intervals that began before month and end after it began; with
// startedIntervals they are every closed interval overlapping a segment
// [lo, hi) inside month, each read through a bounded index range. One
// index decides which rows are read; the unary + keeps the other columns
// from competing for the plan (valid on both databases). CASE keeps it
// portable (SQLite's min/max are LEAST/GREATEST on PostgreSQL).
func rawPart(q berth.UsageQuery, col string, lo, hi, now, month int64, which string) (string, []any) {
	const end = "(CASE WHEN ends_at > ? THEN ? ELSE ends_at END)"
	a := "(CASE WHEN started_at > ? THEN started_at ELSE ? END)"
	b := "(CASE WHEN " + end + " < ? THEN " + end + " ELSE ? END)"
	args := []any{lo, lo, now, now, hi, now, now, hi}
	e, st := "ends_at", "+started_at"
	if q.UserID != "" {
		e, st = "+ends_at", "started_at"
	}
	table, cond := "usage_intervals", ""
	switch which {
	case openIntervals: // through usage_intervals_opened (ended_at IS NULL: its condition, +ends_at: not the other index)
		cond = "ended_at IS NULL AND +ends_at = ? AND " + st + " < ? AND " + st + " < ?"
		args = append(args, openEnd, hi, now)
	case startedIntervals:
		cond = "started_at >= ? AND started_at < ? AND started_at < ? AND +ends_at > ? AND +ends_at < ?"
		args = append(args, month, hi, now, lo, openEnd)
	case crossIntervals:
		table, cond = "usage_crossings", "month = ? AND +ends_at > ?"
		args = append(args, month, lo)
	case coverIntervals:
		c, cargs := coverCond(q, lo, month)
		cond, args = c, append(args, cargs...)
	default:
		cond = e + " > ? AND " + st + " < ? AND " + st + " < ?"
		args = append(args, lo, hi, now)
	}
	cond += kindCond(q.GroupBy)
	if q.UserID != "" {
		cond += " AND user_id = ?"
		args = append(args, q.UserID)
	}
	name := "name"
	if n := nameColumn(q.GroupBy, col); n == col {
		name = col
	}
	return "SELECT " + col + " AS k, " + name + " AS name, target, cpu_cores, memory_gb, storage_gb, replicas, " + a + " AS a, " + b + " AS b" +
		" FROM " + table + " WHERE " + cond, args
}

// segments are the parts of [from, min(to, now)) the roll-up does not
// answer, each inside one month: the edges around the whole months [m1,
// m2) it answers, or every month's part when it answers none (whole
// false).
func segments(from, to, now, m1, m2 int64, whole bool) [][2]int64 {
	var out [][2]int64
	monthPieces(from, min(to, now), func(m, _ int64) {
		if whole && m >= m1 && m < m2 {
			return
		}
		out = append(out, [2]int64{max(from, m), min(to, now, nextMonth(m))})
	})
	return out
}

// closedParts adds, per segment, the closed intervals overlapping it.
func closedParts(p *usageParts, segs [][2]int64, part func(lo, hi, month int64, which string) (string, []any)) {
	for _, sg := range segs {
		m := monthOf(sg[0])
		p.add(part(sg[0], sg[1], m, startedIntervals))
		p.add(part(sg[0], sg[1], m, crossIntervals))
	}
}

// kindCond restricts a by-environment or by-service report to its kind.
func kindCond(groupBy string) string {
	switch groupBy {
	case berth.GroupByEnvironment:
		return " AND kind = 'environment'"
	case berth.GroupByService:
		return " AND kind = 'service'"
	}
	return ""
}

// rollupPart sums the roll-up rows of q in the months [m1, m2) by group
// and target (so the union above it groups one row per group, not one per
// resource and month). Reports by user, by target or in total read the
// per-user roll-up; by user in its key's order (+month: no sort), since a
// report over many months reads most of it anyway.
func rollupPart(q berth.UsageQuery, col string, m1, m2 int64) (string, []any) {
	const sums = "SUM(cpu_us) AS c, SUM(memory_us) AS m, SUM(storage_us) AS s, SUM(replica_us) AS r"
	table, month := "usage_rollup_users", "month"
	switch q.GroupBy {
	case berth.GroupByEnvironment, berth.GroupByService:
		table = "usage_rollup"
	case berth.GroupByUser:
		month = "+month"
	}
	sel := "SELECT " + col + " AS k, " + nameColumn(q.GroupBy, col) + " AS name, target, " + sums + " FROM " + table +
		" WHERE " + month + " >= ? AND " + month + " < ?" + kindCond(q.GroupBy)
	args := []any{m1, m2}
	if q.UserID != "" {
		sel += " AND user_id = ?"
		args = append(args, q.UserID)
	}
	if q.GroupBy == "" {
		return sel + " GROUP BY target", args
	}
	return sel + " GROUP BY " + col + ", target", args
}

// nameColumn is a group's readable name as the store knows it: the
// resource's for environments and services (the latest, MAX, if it
// changed), else the key (core names users and targets).
func nameColumn(groupBy, col string) string {
	if groupBy == berth.GroupByEnvironment || groupBy == berth.GroupByService {
		return "MAX(name)"
	}
	return col
}

// summed turns a raw part into shape × µs per interval.
func summed(sel string, args []any) (string, []any) {
	return "SELECT k, name, target, cpu_cores * (b - a) AS c, memory_gb * (b - a) AS m, storage_gb * (b - a) AS s," +
		" replicas * (b - a) AS r FROM (" + sel + ") p WHERE b > a", args
}

// usageParts is the UNION ALL of parts.
type usageParts struct {
	sels []string
	args []any
}

func (p *usageParts) add(sel string, args []any) {
	p.sels, p.args = append(p.sels, sel), append(p.args, args...)
}

func (p *usageParts) union() string { return strings.Join(p.sels, " UNION ALL ") }

// UsageAggregate sums the usage of q by (group key, target), in
// resource-seconds: whole months from the roll-up, the rest from the
// intervals. Open intervals end at q.Now.
func (s *Store) UsageAggregate(ctx context.Context, q berth.UsageQuery) ([]berth.UsageAgg, error) {
	return s.usageAggregate(ctx, q, true)
}

// UsageAggregateRaw is UsageAggregate computed from the intervals alone,
// without the roll-up: the reference the roll-up is tested and benchmarked
// against.
func (s *Store) UsageAggregateRaw(ctx context.Context, q berth.UsageQuery) ([]berth.UsageAgg, error) {
	return s.usageAggregate(ctx, q, false)
}

func (s *Store) usageAggregate(ctx context.Context, q berth.UsageQuery, rollup bool) ([]berth.UsageAgg, error) {
	if q.GroupBy == berth.GroupByDay || q.GroupBy == berth.GroupByMonth {
		return s.usageBuckets(ctx, q, rollup)
	}
	col, ok := usageGroupColumn[q.GroupBy]
	if !ok {
		return nil, berth.Invalid("groupBy", "%q cannot be summed by the store", q.GroupBy)
	}
	from, to, now := micros(q.From), micros(q.To), micros(q.Now)
	var p usageParts
	switch {
	case rollup && cumulativeGroup(q.GroupBy):
		p.add(usageByDays(q, col))
	case rollup:
		m1, m2, whole := wholeMonths(from, to, now)
		if whole {
			p.add(rollupPart(q, col, m1, m2))
		}
		closedParts(&p, segments(from, to, now, m1, m2, whole), func(lo, hi, month int64, which string) (string, []any) {
			return summed(rawPart(q, col, lo, hi, now, month, which))
		})
		p.add(summed(rawPart(q, col, from, to, now, 0, openIntervals)))
	default:
		p.add(summed(rawPart(q, col, from, to, now, 0, allIntervals)))
	}
	group := " GROUP BY k, target"
	if q.GroupBy == "" {
		group = " GROUP BY target" // PostgreSQL refuses a constant in GROUP BY
	}
	rows, err := s.r(ctx).QueryContext(ctx, s.q("SELECT MAX(k), MAX(name), target, SUM(c), SUM(m), SUM(s), SUM(r) FROM ("+
		p.union()+") u"+group), p.args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate usage: %w", err)
	}
	defer rows.Close()
	var out []berth.UsageAgg
	for rows.Next() {
		var a berth.UsageAgg
		var cpu, mem, sto, rep float64
		if err := rows.Scan(&a.Key, &a.Name, &a.Target, &cpu, &mem, &sto, &rep); err != nil {
			return nil, fmt.Errorf("aggregate usage: %w", err)
		}
		const us = 1e6
		a.CPUCoreSec, a.MemoryGBSec, a.StorageGBSec, a.ReplicaSec = cpu/us, mem/us, sto/us, rep/us
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate usage: %w", err)
	}
	return out, nil
}

// usageBuckets answers a by-day or by-month report in one query: by
// month, the whole months' sums from the roll-up (GROUP BY month) and the
// intervals of the edges and the open ones, which are split into buckets
// here; by day (a month's roll-up cannot split a day), every interval of
// the range, month by month through bounded index ranges.
func (s *Store) usageBuckets(ctx context.Context, q berth.UsageQuery, rollup bool) ([]berth.UsageAgg, error) {
	buckets, _ := berth.UsageBuckets(q.From, q.To, q.GroupBy, 0)
	from, to, now := micros(q.From), micros(q.To), micros(q.Now)
	raw := func(lo, hi, month int64, which string) (string, []any) {
		sel, args := rawPart(berth.UsageQuery{UserID: q.UserID}, "CAST('' AS TEXT)", lo, hi, now, month, which)
		return "SELECT 0 AS rolled, 0 AS bucket, target, a, b, cpu_cores AS c, memory_gb AS m, storage_gb AS s, replicas AS r FROM (" +
			sel + ") p WHERE b > a", args
	}
	var p usageParts
	d1, d2, pieces := dayPieces(from, min(to, now))
	if rollup {
		if d1 < d2 {
			p.add(cumSeriesPart(q, d1, d2))
		}
		pieceParts(&p, pieces, raw)
		p.add(raw(from, to, 0, openIntervals))
	} else {
		p.add(raw(from, to, 0, allIntervals))
	}
	rows, err := s.r(ctx).QueryContext(ctx, s.q(p.union()), p.args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate usage by %s: %w", q.GroupBy, err)
	}
	defer rows.Close()
	sp, series := newBucketSplitter(buckets), map[string][]cumRow{}
	for rows.Next() {
		var rolled, bucket, a, b int64
		var target string
		var v rollupSums
		if err := rows.Scan(&rolled, &bucket, &target, &a, &b, &v.cpu, &v.mem, &v.sto, &v.rep); err != nil {
			return nil, fmt.Errorf("aggregate usage by %s: %w", q.GroupBy, err)
		}
		if rolled == 1 {
			series[target] = append(series[target], cumRow{bucket, v})
		} else {
			sp.split(a, b, target, v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate usage by %s: %w", q.GroupBy, err)
	}
	for target, rs := range series {
		sp.addDays(target, rs, d1, d2)
	}
	return sp.aggs(), nil
}

// bucketSplitter sums usage into a report's days or months.
type bucketSplitter struct {
	buckets  []berth.UsageBucket
	from, to []int64 // µs of each bucket
	sums     map[bucketTarget]*rollupSums
}

type bucketTarget struct {
	i      int
	target string
}

func newBucketSplitter(buckets []berth.UsageBucket) *bucketSplitter {
	sp := &bucketSplitter{buckets: buckets, sums: map[bucketTarget]*rollupSums{}}
	for _, b := range buckets {
		sp.from, sp.to = append(sp.from, micros(b.From)), append(sp.to, micros(b.To))
	}
	return sp
}

func (sp *bucketSplitter) add(i int, target string, v rollupSums) {
	k := bucketTarget{i, target}
	p, ok := sp.sums[k]
	if !ok {
		p = &rollupSums{}
		sp.sums[k] = p
	}
	p.cpu, p.mem, p.sto, p.rep = p.cpu+v.cpu, p.mem+v.mem, p.sto+v.sto, p.rep+v.rep
}

// split adds a shape held over [a, b) to every bucket it overlaps.
func (sp *bucketSplitter) split(a, b int64, target string, shape rollupSums) {
	for i := sort.Search(len(sp.to), func(i int) bool { return sp.to[i] > a }); i < len(sp.to) && sp.from[i] < b; i++ {
		if d := float64(min(b, sp.to[i]) - max(a, sp.from[i])); d > 0 {
			sp.add(i, target, rollupSums{shape.cpu * d, shape.mem * d, shape.sto * d, shape.rep * d})
		}
	}
}

// aggs are the sums in resource-seconds, by bucket then target.
func (sp *bucketSplitter) aggs() []berth.UsageAgg {
	keys := make([]bucketTarget, 0, len(sp.sums))
	for k := range sp.sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(x, y int) bool {
		if keys[x].i != keys[y].i {
			return keys[x].i < keys[y].i
		}
		return keys[x].target < keys[y].target
	})
	const us = 1e6
	out := make([]berth.UsageAgg, 0, len(keys))
	for _, k := range keys {
		v, key := sp.sums[k], sp.buckets[k.i].Key
		out = append(out, berth.UsageAgg{Key: key, Name: key, Target: k.target,
			CPUCoreSec: v.cpu / us, MemoryGBSec: v.mem / us, StorageGBSec: v.sto / us, ReplicaSec: v.rep / us})
	}
	return out
}
