package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// logLine is one line a replica logged (berth logs JSON lines; the
// benchmark adds its own markers in the same shape: level BENCH).
type logLine struct {
	replica string
	at      time.Time
	level   string
	reqID   string
	raw     string
}

// replicaLogs are the lines of every replica's berth.log, oldest first.
type replicaLogs struct {
	byReplica map[string][]logLine
	byReqID   map[string][]logLine
}

// readLogs parses the replicas' logs (a line that is not JSON, such as a
// panic's stack, takes the time of the line before it).
func readLogs(reps []*replica) (*replicaLogs, error) {
	rl := &replicaLogs{byReplica: map[string][]logLine{}, byReqID: map[string][]logLine{}}
	for _, r := range reps {
		f, err := os.Open(filepath.Join(r.dir, "berth.log")) // #nosec G304 -- the log this benchmark writes
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var prev time.Time
		for sc.Scan() {
			l := logLine{replica: r.name, raw: sc.Text(), at: prev}
			var j struct {
				Time      time.Time `json:"time"`
				Level     string    `json:"level"`
				RequestID string    `json:"request_id"`
			}
			if json.Unmarshal(sc.Bytes(), &j) == nil && !j.Time.IsZero() {
				l.at, l.level, l.reqID = j.Time, j.Level, j.RequestID
				prev = j.Time
			}
			rl.byReplica[r.name] = append(rl.byReplica[r.name], l)
			if l.reqID != "" {
				rl.byReqID[l.reqID] = append(rl.byReqID[l.reqID], l)
			}
		}
		err = sc.Err()
		_ = f.Close()
		slices.SortStableFunc(rl.byReplica[r.name], func(a, b logLine) int { return a.at.Compare(b.at) })
		if err != nil {
			return nil, fmt.Errorf("read %s's log: %w", r.name, err)
		}
	}
	return rl, nil
}

// around are the lines replica logged from from to to that are not
// request lines at debug level (those name their request), at most n.
func (rl *replicaLogs) around(replica string, from, to time.Time, n int) []logLine {
	lines := rl.byReplica[replica]
	i, _ := slices.BinarySearchFunc(lines, from, func(l logLine, t time.Time) int { return l.at.Compare(t) })
	var out []logLine
	for ; i < len(lines) && !lines[i].at.After(to) && len(out) < n; i++ {
		if lines[i].level == "DEBUG" {
			continue
		}
		out = append(out, lines[i])
	}
	return out
}

// explain prints a failed request next to what the replicas logged: the
// lines naming its request id (any replica), then what the replica it was
// sent to logged from 2 s before it to 2 s after its end (not its debug
// lines).
func explain(w io.Writer, r *record, rl *replicaLogs) {
	fmt.Fprintf(w, "  %s %s %s on %s at +%.3fs (%s) took %.3fs: status %d, %s\n", r.reqID, r.method, r.path, r.replica,
		r.start.Sub(begin).Seconds(), r.start.UTC().Format("15:04:05.000"), r.end.Sub(r.start).Seconds(), r.status, r.err)
	if r.body != "" {
		fmt.Fprintf(w, "      body: %s\n", r.body)
	}
	if rl == nil {
		return
	}
	own := rl.byReqID[r.reqID]
	if len(own) == 0 {
		fmt.Fprintln(w, "      no replica logged this request id")
	}
	for _, l := range own {
		fmt.Fprintf(w, "      [%s] %s\n", l.replica, clip(l.raw))
	}
	for _, l := range rl.around(r.replica, r.start.Add(-2*time.Second), r.end.Add(2*time.Second), 12) {
		if l.reqID == r.reqID {
			continue
		}
		fmt.Fprintf(w, "      [%s, %+.3fs] %s\n", l.replica, l.at.Sub(r.start).Seconds(), clip(l.raw))
	}
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// mark writes a line of the benchmark's own into a replica's log (a start
// or a kill), in berth's shape, so that the log tells what happened to it.
func (r *replica) mark(msg string) {
	f, err := os.OpenFile(filepath.Join(r.dir, "berth.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the log this benchmark writes
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(map[string]string{"time": time.Now().Format(time.RFC3339Nano), "level": "BENCH", "msg": msg})
	_, _ = f.Write(append(b, '\n'))
}
