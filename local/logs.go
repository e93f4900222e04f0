package local

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

const followInterval = 200 * time.Millisecond

type slotLine struct {
	rec  record
	slot string
}

// ServiceLogs calls fn for the selected lines of every replica slot, in
// time order; with Follow it keeps polling for new lines (across
// rotation) until ctx is done.
func (r *Runtime) ServiceLogs(ctx context.Context, ref berth.ServiceRef, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	if err := berth.ValidateDNSLabel("name", ref.Name); err != nil {
		return err
	}
	if opts.Tail < 0 {
		return berth.Invalid("tail", "must not be negative, got %d", opts.Tail)
	}
	dir := filepath.Join(r.serviceDir(ref.Name), "logs")
	r.mu.Lock()
	_, known := r.services[ref.Name]
	r.mu.Unlock()
	if !known {
		// Logs outlive a berth restart until the service is deleted.
		if _, err := os.Stat(dir); err != nil {
			return berth.NotFound("service", ref.Name)
		}
	}
	return readLogDir(ctx, dir, opts, fn, func(err error) error {
		return berth.Wrap(err, berth.ESERVICE, "read logs of %s", ref.Name)
	})
}

// EnvironmentLogs reads the output of an environment's process, the same
// way ServiceLogs reads a service's (its one slot is named "env").
func (r *Runtime) EnvironmentLogs(ctx context.Context, env *berth.Environment, opts berth.LogOptions, fn func(berth.LogLine) error) error {
	if opts.Tail < 0 {
		return berth.Invalid("tail", "must not be negative, got %d", opts.Tail)
	}
	dir := filepath.Join(r.envDir(env.ID), "logs")
	if _, err := os.Stat(dir); err != nil {
		return berth.NotFound("environment", env.ID)
	}
	return readLogDir(ctx, dir, opts, fn, func(err error) error {
		return berth.Wrap(err, berth.EENVIRONMENT, "read logs of %s", env.ID)
	})
}

// readLogDir calls fn for the selected lines of every slot's log in dir, in
// time order; with Follow it keeps polling for new lines (across rotation)
// until ctx is done. wrap names what was read in errors.
func readLogDir(ctx context.Context, dir string, opts berth.LogOptions, fn func(berth.LogLine) error, wrap func(error) error) error {
	type cursor struct {
		ino uint64
		off int64
	}
	cursors := map[string]*cursor{}
	keep := func(rec record) bool { return opts.Since.IsZero() || !rec.Time.Before(opts.Since) }
	emit := func(lines []slotLine) error {
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].rec.Time.Before(lines[j].rec.Time) })
		for _, l := range lines {
			if err := fn(berth.LogLine{Time: l.rec.Time, Replica: l.slot, Stream: l.rec.Stream, Line: l.rec.Line}); err != nil {
				return err
			}
		}
		return nil
	}

	var lines []slotLine
	for _, slot := range logSlots(dir, opts.Replica) {
		path := filepath.Join(dir, slot+".log")
		old, _, _, err := readRecords(path+".1", 0)
		if err != nil {
			return wrap(err)
		}
		cur, off, ino, err := readRecords(path, 0)
		if err != nil {
			return wrap(err)
		}
		cursors[slot] = &cursor{ino: ino, off: off}
		recs := append(old, cur...)
		if opts.Previous {
			recs = previousInstance(recs)
		}
		for _, rec := range recs {
			if keep(rec) {
				lines = append(lines, slotLine{rec, slot})
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].rec.Time.Before(lines[j].rec.Time) })
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	if err := emit(lines); err != nil {
		return err
	}
	if !opts.Follow || opts.Previous {
		return nil // a previous instance has nothing more to say
	}

	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var fresh []slotLine
		for _, slot := range logSlots(dir, opts.Replica) {
			path := filepath.Join(dir, slot+".log")
			c := cursors[slot]
			if c == nil {
				c = &cursor{}
				cursors[slot] = c
			}
			if ino, _, ok := inode(path); ok && c.ino != 0 && ino != c.ino {
				// Rotated: finish the old file under its new name first.
				if oldIno, _, ok := inode(path + ".1"); ok && oldIno == c.ino {
					recs, _, _, _ := readRecords(path+".1", c.off)
					for _, rec := range recs {
						if keep(rec) {
							fresh = append(fresh, slotLine{rec, slot})
						}
					}
				}
				c.ino, c.off = ino, 0
			}
			recs, off, ino, err := readRecords(path, c.off)
			if err != nil {
				continue
			}
			if c.ino == 0 || c.ino == ino {
				c.ino, c.off = ino, off
			}
			for _, rec := range recs {
				if keep(rec) {
					fresh = append(fresh, slotLine{rec, slot})
				}
			}
		}
		if err := emit(fresh); err != nil {
			return err
		}
	}
}

// logSlots lists the replica slots that have a log, or just the one asked for.
func logSlots(dir, only string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		slot, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || (only != "" && slot != only) {
			continue
		}
		out = append(out, slot)
	}
	return out
}

// previousInstance keeps the records of the instance before the latest one.
func previousInstance(recs []record) []record {
	latest := 0
	for _, r := range recs {
		latest = max(latest, r.Instance)
	}
	prev := 0
	for _, r := range recs {
		if r.Instance < latest {
			prev = max(prev, r.Instance)
		}
	}
	var out []record
	for _, r := range recs {
		if prev > 0 && r.Instance == prev {
			out = append(out, r)
		}
	}
	return out
}

var _ berth.EnvironmentLogger = (*Runtime)(nil)
