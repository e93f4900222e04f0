package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// workload is one running process of a load service, from /proc: the
// process group leader (the supervised process; its children are not
// replicas) whose environment names a service.
type workload struct {
	pid     int
	service string
	seq     string
}

// processTable reads /proc for the load's workloads (berth's own answers
// are not used: this is what runs).
func processTable() []workload {
	var out []workload
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			continue
		}
		env, err := os.ReadFile(filepath.Join(d, "environ")) // #nosec G304 -- /proc, read as root
		if err != nil || !bytes.Contains(env, []byte("CHAOS_SERVICE=")) {
			continue
		}
		w := workload{pid: pid}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("CHAOS_SERVICE=")); ok {
				w.service = string(v)
			}
			if v, ok := bytes.CutPrefix(kv, []byte("CHAOS_SEQ=")); ok {
				w.seq = string(v)
			}
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat")) // #nosec G304 -- /proc, read as root
		if err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie is not running
		}
		out = append(out, w)
	}
	return out
}

// storedService is a service as the store holds it (SQL, not the API).
type storedService struct {
	name, target string
	replicas     int
	stopped      bool
	seq          string
}

func storedServices(ctx context.Context, db *sql.DB) (map[string]storedService, error) {
	rows, err := db.QueryContext(ctx, `SELECT name, target, replicas, stopped, spec FROM services`)
	if err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	defer rows.Close()
	out := map[string]storedService{}
	for rows.Next() {
		var s storedService
		var spec string
		if err := rows.Scan(&s.name, &s.target, &s.replicas, &s.stopped, &spec); err != nil {
			return nil, err
		}
		var sp struct{ Env map[string]string }
		_ = json.Unmarshal([]byte(spec), &sp)
		s.seq = sp.Env["CHAOS_SEQ"]
		out[s.name] = s
	}
	return out, rows.Err()
}

// workloadDiff compares the store with the process table: per service,
// processes beyond its replicas (duplicates), missing ones, processes of
// another revision than the stored one, and processes of no stored service.
type workloadDiff struct {
	duplicate, missing, stale, orphan int
	detail                            []string
}

func (d workloadDiff) clean() bool {
	return d.duplicate == 0 && d.missing == 0 && d.stale == 0 && d.orphan == 0
}

func compareWorkloads(stored map[string]storedService, procs []workload) workloadDiff {
	var d workloadDiff
	byService := map[string][]workload{}
	for _, p := range procs {
		byService[p.service] = append(byService[p.service], p)
	}
	names := make([]string, 0, len(stored))
	for n := range stored {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := stored[n]
		want := s.replicas
		if s.stopped {
			want = 0
		}
		got := byService[n]
		delete(byService, n)
		if len(got) > want {
			d.duplicate += len(got) - want
			d.detail = append(d.detail, fmt.Sprintf("%s: %d processes, %d replicas stored", n, len(got), want))
		}
		if len(got) < want {
			d.missing += want - len(got)
			d.detail = append(d.detail, fmt.Sprintf("%s: %d processes, %d replicas stored", n, len(got), want))
		}
		for _, p := range got {
			if p.seq != s.seq {
				d.stale++
				d.detail = append(d.detail, fmt.Sprintf("%s: pid %d runs CHAOS_SEQ=%s, the store has %s", n, p.pid, p.seq, s.seq))
			}
		}
	}
	for n, ps := range byService {
		d.orphan += len(ps)
		d.detail = append(d.detail, fmt.Sprintf("%s: %d processes of no stored service", n, len(ps)))
	}
	return d
}

// auditedRequests are the request ids that have an audit row.
func auditedRequests(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT request_id FROM audit_log WHERE request_id LIKE 'chaos-%'`)
	if err != nil {
		return nil, fmt.Errorf("read audit rows: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// lostWrite is an acknowledged write whose value the store does not hold.
type lostWrite struct {
	text  string
	acked *record
	// older is an earlier write of the same service, unanswered (its
	// client gave up or its replica died), whose value the store holds:
	// it landed after the acknowledged one.
	older *record
}

// lostWrites: the store must hold what the last acknowledged write of each
// service asked, unless a later write with no answer (in flight when its
// replica died, or abandoned when the load stopped) may have changed it;
// those are the only excuses. An earlier unanswered write that landed after
// the acknowledged one is told apart (overwritten), since its client had
// given up on it before it sent the acknowledged one.
func lostWrites(records []*record, stored map[string]storedService) (lost, overwritten []lostWrite, failedStored []string) {
	type last struct {
		acked   *record
		pending []*record // unanswered writes after the acknowledged one
		earlier []*record // unanswered writes before it
	}
	byKey := map[string]*last{} // service/kind
	sort.Slice(records, func(i, j int) bool { return records[i].start.Before(records[j].start) })
	for _, r := range records {
		if !r.write {
			continue
		}
		key := r.svc + "/" + r.kind
		l := byKey[key]
		if l == nil {
			l = &last{}
			byKey[key] = l
		}
		switch {
		case r.ok():
			l.earlier = append(l.earlier, l.pending...)
			l.acked, l.pending = r, nil
		case !r.refused:
			// Unanswered (in flight when its replica died), or answered
			// with an error: either may have been stored.
			l.pending = append(l.pending, r)
		}
	}
	for key, l := range byKey {
		if l.acked == nil {
			continue
		}
		s, ok := stored[l.acked.svc]
		if !ok {
			lost = append(lost, lostWrite{text: key + ": not in the store", acked: l.acked})
			continue
		}
		have := s.replicas
		if l.acked.kind == "apply" {
			have, _ = strconv.Atoi(s.seq)
		}
		if have == l.acked.value {
			continue
		}
		var by *record
		for _, p := range l.pending {
			if have == p.value {
				by = p
			}
		}
		switch {
		case by == nil:
			lw := lostWrite{text: fmt.Sprintf("%s: acknowledged %d (request %s), the store has %d", key, l.acked.value, l.acked.reqID, have), acked: l.acked}
			for _, e := range l.earlier {
				if e.status == 0 && have == e.value {
					lw.older = e
				}
			}
			if lw.older != nil && l.acked.kind == "apply" {
				// CHAOS_SEQ is unique per request: it was that one.
				lw.text += fmt.Sprintf(", the value of %s (sent at +%.1fs, unanswered: %s)", lw.older.reqID, lw.older.start.Sub(begin).Seconds(), lw.older.err)
				overwritten = append(overwritten, lw)
				continue
			}
			lost = append(lost, lw)
		case by.status != 0:
			// Told it failed, yet stored: reported, not a lost write.
			failedStored = append(failedStored, fmt.Sprintf("%s: %s answered %d %q at +%.1fs, yet the store has its %d",
				key, by.reqID, by.status, by.err, by.start.Sub(begin).Seconds(), have))
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].text < lost[j].text })
	sort.Slice(overwritten, func(i, j int) bool { return overwritten[i].text < overwritten[j].text })
	sort.Strings(failedStored)
	return lost, overwritten, failedStored
}

func firstN(xs []string, n int) string {
	if len(xs) > n {
		return strings.Join(xs[:n], "; ") + fmt.Sprintf("; … (%d more)", len(xs)-n)
	}
	return strings.Join(xs, "; ")
}
