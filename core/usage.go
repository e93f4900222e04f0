package core

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// Metering (docs/usage.md). The store writes usage intervals in the same
// transaction as the state they meter; the leader's sync advances their
// heartbeat (usageHeartbeat), and cuts out the time no leader watched.

// UsageRequest is the query of GET /api/v1/usage.
type UsageRequest struct {
	From, To time.Time // zero: the last 30 days up to now
	GroupBy  string    // "" → user
	UserID   string    // "" → everyone (admins), the caller (others)
}

// maxUsageBuckets bounds a day/month report (ten years of days).
const maxUsageBuckets = 3660

// staleAfter is how long an open interval may go without a heartbeat
// before, at a start of berth, the gap is taken as berth having been down
// (three sync periods).
func (c *Core) staleAfter() time.Duration { return 3 * c.interval }

// usageHeartbeat advances the heartbeat of open intervals. At start (cut)
// an interval nobody has seen for staleAfter is closed at its last
// heartbeat and reopened now: the time no berth ran is not metered (the
// local runtime's workloads die with berth). The leader's periodic
// heartbeat cuts nothing: across a leader change the surviving replica's
// workloads ran on, and their time counts.
func (c *Core) usageHeartbeat(ctx context.Context, cut bool) {
	stale := time.Duration(0)
	if cut {
		stale = c.staleAfter()
	}
	n, err := c.store.UsageHeartbeat(ctx, c.now().UTC(), stale)
	if err != nil {
		c.log.Error("usage heartbeat", "err", err)
		return
	}
	if n > 0 {
		c.log.Info("usage: time while berth was down is not metered; intervals cut at their last heartbeat", "intervals", n)
	}
}

// Usage reports metered usage and its cost. Non-admins get their own only.
func (c *Core) Usage(ctx context.Context, req UsageRequest) (*berth.UsageReport, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role != berth.RoleAdmin {
		if req.UserID != "" && req.UserID != a.UserID {
			return nil, berth.Errorf(berth.EFORBIDDEN, "userId: only an admin may read another user's usage")
		}
		req.UserID = a.UserID
	}
	now := c.now().UTC()
	if req.To.IsZero() {
		req.To = now
	}
	if req.From.IsZero() {
		req.From = req.To.AddDate(0, 0, -30)
	}
	req.From, req.To = req.From.UTC(), req.To.UTC()
	if !req.From.Before(req.To) {
		return nil, berth.Invalid("from", "must be before to (%s)", req.To.Format(time.RFC3339))
	}
	if req.GroupBy == "" {
		req.GroupBy = berth.GroupByUser
	}
	rep := &berth.UsageReport{Usage: []berth.UsageRow{}, Currency: c.Prices(c.def).Currency, From: req.From, To: req.To, GroupBy: req.GroupBy}
	switch req.GroupBy {
	case berth.GroupByUser, berth.GroupByEnvironment, berth.GroupByService, berth.GroupByTarget:
		aggs, err := c.store.UsageAggregate(ctx, berth.UsageQuery{From: req.From, To: req.To, Now: now, GroupBy: req.GroupBy, UserID: req.UserID})
		if err != nil {
			return nil, err
		}
		rep.Usage = c.usageRows(ctx, req.GroupBy, aggs)
	case berth.GroupByDay, berth.GroupByMonth:
		if err := c.usageBuckets(ctx, req, now, rep); err != nil {
			return nil, err
		}
	default:
		return nil, berth.Invalid("groupBy", "%q is not one of user, environment, service, target, day, month", req.GroupBy)
	}
	for _, r := range rep.Usage {
		rep.Total.CPUCoreHours += r.CPUCoreHours
		rep.Total.MemoryGBHours += r.MemoryGBHours
		rep.Total.StorageGBHours += r.StorageGBHours
		rep.Total.RunningHours += r.RunningHours
		rep.Total.Cost += r.Cost
	}
	rep.Total.Key, rep.Total.Name = "total", "total"
	return rep, nil
}

// usageBuckets asks the store for every day or month of the range in one
// query, and answers a row for each (zero where nothing was held).
func (c *Core) usageBuckets(ctx context.Context, req UsageRequest, now time.Time, rep *berth.UsageReport) error {
	buckets, ok := berth.UsageBuckets(req.From, req.To, req.GroupBy, maxUsageBuckets)
	if !ok {
		return berth.Invalid("from", "the range holds more than %d %ss", maxUsageBuckets, req.GroupBy)
	}
	aggs, err := c.store.UsageAggregate(ctx, berth.UsageQuery{From: req.From, To: req.To, Now: now, GroupBy: req.GroupBy, UserID: req.UserID})
	if err != nil {
		return err
	}
	byKey := map[string]berth.UsageRow{}
	for _, r := range c.usageRows(ctx, req.GroupBy, aggs) {
		byKey[r.Key] = r
	}
	for _, b := range buckets {
		row, ok := byKey[b.Key]
		if !ok {
			row = berth.UsageRow{Key: b.Key}
		}
		row.Name = b.Key
		rep.Usage = append(rep.Usage, row)
	}
	return nil
}

// usageRows turns the store's per-(key, target) sums into rows: hours,
// the cost from each target's price table, readable names.
func (c *Core) usageRows(ctx context.Context, groupBy string, aggs []berth.UsageAgg) []berth.UsageRow {
	byKey := map[string]*berth.UsageRow{}
	var keys []string
	for _, a := range aggs {
		r, ok := byKey[a.Key]
		if !ok {
			r = &berth.UsageRow{Key: a.Key, Name: a.Name}
			byKey[a.Key] = r
			keys = append(keys, a.Key)
		}
		p := c.Prices(a.Target)
		cpuH, memH, stoH := a.CPUCoreSec/3600, a.MemoryGBSec/3600, a.StorageGBSec/3600
		r.CPUCoreHours += cpuH
		r.MemoryGBHours += memH
		r.StorageGBHours += stoH
		r.RunningHours += a.ReplicaSec / 3600
		r.Cost += cpuH*p.CPUCoreHour + memH*p.MemoryGBHour + stoH*p.StorageGBMonth/berth.HoursPerMonth
	}
	sort.Strings(keys)
	names := c.usageNames(ctx, groupBy)
	out := make([]berth.UsageRow, 0, len(keys))
	for _, k := range keys {
		r := byKey[k]
		switch groupBy {
		case berth.GroupByUser:
			r.Name = names[k]
			if r.Name == "" {
				r.Name = k
			}
		case berth.GroupByTarget:
			r.Name = k
		}
		out = append(out, *r)
	}
	return out
}

// usageNames maps user ids to usernames for a by-user report.
func (c *Core) usageNames(ctx context.Context, groupBy string) map[string]string {
	names := map[string]string{}
	if groupBy != berth.GroupByUser {
		return names
	}
	users, err := c.store.ListUsers(ctx)
	if err != nil {
		c.log.Error("usage: list users for names", "err", err)
		return names
	}
	for _, u := range users {
		names[u.ID] = u.Username
	}
	names[berth.System.UserID] = berth.System.Username
	return names
}

// UsageCSV is the report as CSV rows (httpapi writes them).
func UsageCSV(rep *berth.UsageReport) [][]string {
	out := [][]string{{"key", "name", "cpuCoreHours", "memoryGBHours", "storageGBHours", "runningHours", "cost", "currency"}}
	f := func(v float64) string { return fmt.Sprintf("%.6f", v) }
	for _, r := range append(rep.Usage, rep.Total) {
		out = append(out, []string{cell(r.Key), cell(r.Name), f(r.CPUCoreHours), f(r.MemoryGBHours), f(r.StorageGBHours), f(r.RunningHours), f(r.Cost), rep.Currency})
	}
	return out
}

// cell keeps a spreadsheet from reading a user-chosen name as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
