package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pct is the nearest-rank percentile of xs.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func secs(from, to time.Time) (float64, bool) {
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	return to.Sub(from).Seconds(), true
}

// window is a stretch of time a failure belongs to.
type window struct {
	from, to time.Time
}

func (w window) has(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

// classify sorts failed requests: in flight on the killed replica (sent
// before it was gone, unanswered), refused by a replica that was down
// (nothing sent), during a PostgreSQL outage (from its stop until both
// replicas are ready again), and every other one, which berth should not
// have failed.
func classify(res *haResult) (classes map[string]int, other []*record) {
	classes = map[string]int{}
	var pgWin []window
	for _, p := range res.pg {
		pgWin = append(pgWin, window{p.stopAt, latest(p.readyAt).Add(time.Second)})
	}
	for _, r := range res.records {
		if !r.failed() {
			continue
		}
		class := ""
		for _, w := range pgWin {
			if w.has(r.start) || w.has(r.end) {
				class = "during a PostgreSQL outage"
			}
		}
		for _, k := range res.kills {
			if class != "" || r.replica != k.victim.name {
				continue
			}
			// Sent before the victim was gone (the kernel still accepted
			// on its sockets between the signal and its exit), unanswered.
			if r.start.Before(k.goneAt) && !r.end.Before(k.at) && r.status == 0 && !r.refused {
				class = "in flight on the killed replica"
			} else if r.refused && ((window{k.at, k.readyAt}).has(r.start) || (window{k.at, k.readyAt}).has(r.end)) {
				// Refused while down, or a connect begun before the kill
				// (queued on a full backlog) that the dead socket refused.
				class = "refused by the killed replica while down (nothing sent)"
			}
		}
		if class == "" {
			class = "other"
			other = append(other, r)
		}
		classes[class]++
	}
	return classes, other
}

// latencies of answered reads on the survivor while the other replica is
// down and the takeover runs (kill → loops run), against the steady state
// (no kill, restart or outage within 5 s), in ms.
func latencies(res *haResult) (steady, failover, pgAfter []float64) {
	var busy, fo, after []window
	for _, k := range res.kills {
		busy = append(busy, window{k.at.Add(-5 * time.Second), k.readyAt.Add(5 * time.Second)})
		end := k.loopsAt
		if end.IsZero() {
			end = k.readyAt
		}
		fo = append(fo, window{k.at, end})
	}
	for _, p := range res.pg {
		busy = append(busy, window{p.stopAt.Add(-5 * time.Second), latest(p.readyAt).Add(15 * time.Second)})
		after = append(after, window{latest(p.readyAt), latest(p.readyAt).Add(10 * time.Second)})
	}
	in := func(ws []window, r *record) bool {
		for _, w := range ws {
			if w.has(r.start) {
				return true
			}
		}
		return false
	}
	for _, r := range res.records {
		if r.write || !r.ok() {
			continue
		}
		ms := float64(r.end.Sub(r.start).Microseconds()) / 1000
		survivor := false
		for i, k := range res.kills {
			if fo[i].has(r.start) && r.replica == k.survivor.name {
				survivor = true
			}
		}
		switch {
		case survivor:
			failover = append(failover, ms)
		case in(after, r):
			pgAfter = append(pgAfter, ms)
		case !in(busy, r):
			steady = append(steady, ms)
		}
	}
	return steady, failover, pgAfter
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func printSummary(o options, ha *haResult, kr *kubeResult, loads []float64) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "\nbench-chaos (berth %s; load average 1 min: median %.1f, max %.1f over %d samples)\n",
		o.berth, median(loads), slices.Max(loads), len(loads))
	if ha != nil {
		printHA(w, o, ha)
	}
	if kr != nil {
		printKube(w, o, kr)
	}
}

func printHA(w *tabwriter.Writer, o options, ha *haResult) {
	var lock, lead, loops, ready, back []float64
	survivors := 0
	for _, k := range ha.kills {
		if v, ok := secs(k.at, k.lockAt); ok {
			lock = append(lock, v)
		}
		if v, ok := secs(k.at, k.leaderAt); ok {
			lead = append(lead, v)
		}
		if v, ok := secs(k.at, k.loopsAt); ok {
			loops = append(loops, v)
		}
		if v, ok := secs(k.restartAt, k.readyAt); ok {
			ready = append(ready, v)
		}
		if v, ok := secs(k.restartAt, k.backAt); ok {
			back = append(back, v)
		}
		survivors += k.survivors
	}
	fmt.Fprintf(w, "\nHA: 2 replicas on PostgreSQL, 20 clients (6 readers via either replica, 2 log readers, 4 scalers, 4 appliers, 4 WebSocket subscribers), %d services\n", ha.services)
	fmt.Fprintf(w, "leader SIGKILLed every %s for %s: %d kills\n", o.every, o.duration, len(ha.kills))
	fmt.Fprintln(w, "failover (from the SIGKILL)\tp50\tp99\tmax\tseen in")
	row := func(name string, xs []float64, how string) {
		fmt.Fprintf(w, "%s\t%.2fs\t%.2fs\t%.2fs\t%s (%d of %d)\n", name, pct(xs, 0.5), pct(xs, 0.99), slices.Max(append(xs, 0)), how, len(xs), len(ha.kills))
	}
	row("  leader lock taken by the other", lock, "pg_locks")
	row("  other replica says it leads", lead, "its /metrics berth_leader")
	row("  its loops run (= failover time)", loops, "usage_intervals.last_seen, SQL")
	row("  killed replica restarted → ready", ready, "its /readyz")
	row("  killed replica restarted → its local workloads run", back, "/proc")
	fmt.Fprintf(w, "workloads of a killed replica alive 2 s after the kill\t%d\n", survivors)

	classes, other := classify(ha)
	total, writes, acked := len(ha.records), 0, 0
	for _, r := range ha.records {
		if r.write {
			writes++
			if r.ok() {
				acked++
			}
		}
	}
	fmt.Fprintf(w, "\nrequests\t%d (%d writes, %d acknowledged)\n", total, writes, acked)
	keys := make([]string, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  failed: %s\t%d\n", k, classes[k])
	}
	fmt.Fprintf(w, "  failed otherwise (must be 0)\t%d\n", len(other))
	if len(other) > 0 {
		_ = w.Flush() // the lines below are printed past the table
		fmt.Println("  each, with what the replicas logged (its request id; the replica it was sent to from 2 s before to 2 s after):")
		for _, r := range other {
			explain(os.Stdout, r, ha.logs)
		}
	}
	steady, fo, pgAfter := latencies(ha)
	fmt.Fprintln(w, "\nread latency (answered)\tp50\tp99\tn\tp50 ratio\tp99 ratio")
	fmt.Fprintf(w, "  steady\t%.1fms\t%.1fms\t%d\t\t\n", pct(steady, .5), pct(steady, .99), len(steady))
	fmt.Fprintf(w, "  survivor during failover\t%.1fms\t%.1fms\t%d\t%s\t%s\n", pct(fo, .5), pct(fo, .99), len(fo),
		ratio(pct(fo, .5), pct(steady, .5)), ratio(pct(fo, .99), pct(steady, .99)))
	if len(ha.pg) > 0 {
		fmt.Fprintf(w, "  10 s after PostgreSQL is back\t%.1fms\t%.1fms\t%d\t%s\t%s\n", pct(pgAfter, .5), pct(pgAfter, .99), len(pgAfter),
			ratio(pct(pgAfter, .5), pct(steady, .5)), ratio(pct(pgAfter, .99), pct(steady, .99)))
	}

	fmt.Fprintf(w, "\nworkloads: store against /proc after the load (settled in %.1fs)\n", ha.settle.Seconds())
	fmt.Fprintf(w, "  duplicate / missing / stale revision / orphan (must be 0)\t%d / %d / %d / %d\n", ha.diff.duplicate, ha.diff.missing, ha.diff.stale, ha.diff.orphan)
	if len(ha.diff.detail) > 0 {
		fmt.Fprintf(w, "    %s\n", firstN(ha.diff.detail, 6))
	}
	fmt.Fprintf(w, "acknowledged writes the store does not hold (must be 0)\t%d\n", len(ha.lost))
	fmt.Fprintf(w, "acknowledged writes overwritten later by an earlier write its client had given up on\t%d\n", len(ha.overwritten))
	if len(ha.lost)+len(ha.overwritten) > 0 {
		_ = w.Flush() // the lines below are printed past the table
		for _, lw := range append(slices.Clone(ha.lost), ha.overwritten...) {
			fmt.Printf("    %s\n", lw.text)
			explain(os.Stdout, lw.acked, ha.logs)
			if lw.older != nil {
				explain(os.Stdout, lw.older, ha.logs)
			}
		}
	}
	fmt.Fprintf(w, "writes answered with an error whose change the store holds\t%d\n", len(ha.failedStored))
	if len(ha.failedStored) > 0 {
		fmt.Fprintf(w, "    %s\n", firstN(ha.failedStored, 6))
	}
	fmt.Fprintf(w, "acknowledged writes without their audit row (must be 0)\t%d\n", len(ha.unaud))
	if len(ha.unaud) > 0 {
		_ = w.Flush() // the lines below are printed past the table
		for _, r := range ha.unaud {
			explain(os.Stdout, r, ha.logs)
		}
	}
	var ackedWrites []*record
	end := time.Time{}
	for _, r := range ha.records {
		if r.end.After(end) {
			end = r.end
		}
	}
	for _, r := range ha.records {
		if r.write && r.ok() {
			ackedWrites = append(ackedWrites, r)
		}
	}
	missedClients, missedEvents, conns, resyncs := 0, 0, 0, 0
	var missedDetail []string
	for _, s := range ha.subs {
		m := s.missed(ackedWrites)
		s.mu.Lock()
		conns += s.connect
		resyncs += s.resyncs
		s.mu.Unlock()
		if len(m) > 0 {
			missedClients++
			missedEvents += len(m)
			for _, r := range m {
				missedDetail = append(missedDetail, fmt.Sprintf("client %d: %s %s via %s at +%.1fs", s.id, r.kind, r.svc, r.replica, r.start.Sub(begin).Seconds()))
			}
		}
	}
	fmt.Fprintf(w, "WebSocket: %d subscribers, %d connections, %d resync events; clients that missed a resync (must be 0)\t%d (%d events)\n",
		len(ha.subs), conns, resyncs, missedClients, missedEvents)
	if len(missedDetail) > 0 {
		fmt.Fprintf(w, "    %s\n", firstN(missedDetail, 6))
	}

	if len(ha.pg) > 0 {
		var notReady, readyAgain, leadAgain, loopsAgain []float64
		var never []string
		for _, p := range ha.pg {
			for _, t := range p.notReady {
				notReady = append(notReady, t.Sub(p.stopAt).Seconds())
			}
			if v, ok := secs(p.upAt, latest(p.readyAt)); ok && len(p.readyAt) == 2 {
				readyAgain = append(readyAgain, v)
			}
			if v, ok := secs(p.upAt, p.leaderAt); ok {
				leadAgain = append(leadAgain, v)
			}
			if v, ok := secs(p.upAt, p.loopsAt); ok {
				loopsAgain = append(loopsAgain, v)
			}
			never = append(never, p.readyNotSeenFor...)
		}
		fmt.Fprintf(w, "\nPostgreSQL restarted %d times under the load (fast shutdown, down %s, same port and data)\tmedian\tmax\tn\n", len(ha.pg), o.pgDown)
		fmt.Fprintf(w, "  stop → /readyz not ready\t%.2fs\t%.2fs\t%d\n", median(notReady), slices.Max(append(notReady, 0)), len(notReady))
		fmt.Fprintf(w, "  back → both replicas' /readyz ready\t%.2fs\t%.2fs\t%d\n", median(readyAgain), slices.Max(append(readyAgain, 0)), len(readyAgain))
		fmt.Fprintf(w, "  back → a replica leads\t%.2fs\t%.2fs\t%d\n", median(leadAgain), slices.Max(append(leadAgain, 0)), len(leadAgain))
		fmt.Fprintf(w, "  back → the leader's loops run\t%.2fs\t%.2fs\t%d\n", median(loopsAgain), slices.Max(append(loopsAgain, 0)), len(loopsAgain))
		if len(never) > 0 {
			fmt.Fprintf(w, "  replicas never seen not ready while it was down\t%s\n", strings.Join(never, ", "))
		}
	}
}
