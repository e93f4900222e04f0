package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// record is one request of the load, as its client saw it.
type record struct {
	kind       string // list, get, audit, logs, apply, scale
	method     string
	path       string
	replica    string
	start, end time.Time
	status     int // 0: no answer
	err        string
	refused    bool // the connection was refused: nothing was sent
	// abandoned: the load ended while it was in flight (its client gave
	// up): not a failure, but a write of unknown fate, as any unanswered one
	abandoned bool
	write     bool
	reqID     string
	svc       string
	value     int    // scale: replicas asked; apply: CHAOS_SEQ sent
	body      string // a failed answer's body (its start)
}

func (r *record) ok() bool { return r.status >= 200 && r.status < 300 }

// failed: no answer, or an answer berth should not give to this load
// (every request of it is valid: any 4xx or 5xx is a failure).
func (r *record) failed() bool { return !r.ok() && !r.abandoned }

// loadSvc is a service the load writes to: one client owns it.
type loadSvc struct {
	name  string
	owner *replica // the replica whose local target runs it
}

// load runs the clients and keeps every record.
type load struct {
	token    string
	replicas []*replica
	seq      atomic.Int64
	think    time.Duration

	mu      sync.Mutex
	records []*record
}

func (l *load) add(r *record) {
	l.mu.Lock()
	l.records = append(l.records, r)
	l.mu.Unlock()
}

func (l *load) snapshot() []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*record(nil), l.records...)
}

// do sends one request to rep and records it. X-Request-ID names it, so
// its audit row and audit event can be found.
func (l *load) do(ctx context.Context, rep *replica, rec *record, method, path string, body any) {
	rec.replica, rec.method, rec.path = rep.name, method, path
	rec.reqID = fmt.Sprintf("chaos-%d", l.seq.Add(1))
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, rep.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", rec.reqID)
	rec.start = time.Now()
	resp, err := rep.http.Do(req)
	if err == nil {
		// Acknowledged means the whole answer arrived.
		var b []byte
		b, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err == nil {
			rec.status = resp.StatusCode
			if !rec.ok() {
				rec.body = string(bytes.TrimSpace(b[:min(len(b), 400)]))
			}
		}
	}
	rec.end = time.Now()
	if err != nil {
		rec.err = err.Error()
		rec.refused = errors.Is(err, syscall.ECONNREFUSED)
	} else if !rec.ok() {
		rec.err = resp.Status
	}
	switch {
	case ctx.Err() == nil || rec.ok():
		l.add(rec)
	case rec.write:
		// The server may still apply it: its fate is unknown, so it
		// excuses a store holding its value (lostWrites).
		rec.abandoned = true
		l.add(rec)
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// reader lists, reads one service or the audit log through either replica,
// as a load balancer would spread them; a refused connection (that replica
// is down: nothing was sent) is retried once on the other.
func (l *load) reader(ctx context.Context, svcs []loadSvc, id int) {
	rng := seeded(id, 7)
	for ctx.Err() == nil {
		kind := []string{"list", "list", "get", "audit"}[rng.IntN(4)]
		path := "/api/v1/services?pageSize=100"
		switch kind {
		case "get":
			path = "/api/v1/services/" + svcs[rng.IntN(len(svcs))].name
		case "audit":
			path = "/api/v1/logs?pageSize=20" // the audit log
		}
		first := rng.IntN(len(l.replicas))
		for try := range len(l.replicas) {
			rep := l.replicas[(first+try)%len(l.replicas)]
			rec := &record{kind: kind}
			l.do(ctx, rep, rec, "GET", path, nil)
			if !rec.refused {
				break
			}
		}
		pause(ctx, l.think)
	}
}

// logReader reads the last lines of its services' logs from the replica
// that runs them.
func (l *load) logReader(ctx context.Context, svcs []loadSvc, id int) {
	rng := seeded(id, 11)
	for ctx.Err() == nil {
		s := svcs[rng.IntN(len(svcs))]
		rec := &record{kind: "logs", svc: s.name}
		l.do(ctx, s.owner, rec, "GET", "/api/v1/services/"+s.name+"/logs?tail=20", nil)
		if rec.refused {
			pause(ctx, 500*time.Millisecond) // its replica is down: so are its workloads
		}
		pause(ctx, l.think)
	}
}

// scaler scales its own services between 1 and 3 replicas through the
// replica whose local target runs them.
func (l *load) scaler(ctx context.Context, svcs []loadSvc, id int) {
	rng := seeded(id, 13)
	for ctx.Err() == nil {
		s := svcs[rng.IntN(len(svcs))]
		n := 1 + rng.IntN(3)
		rec := &record{kind: "scale", write: true, svc: s.name, value: n}
		l.do(ctx, s.owner, rec, "POST", "/api/v1/services/"+s.name+"/scale", map[string]int{"replicas": n})
		if rec.refused {
			pause(ctx, 500*time.Millisecond)
		}
		pause(ctx, 4*l.think)
	}
}

// applier applies a new revision of its own services (CHAOS_SEQ changes):
// a rolling update of their processes.
func (l *load) applier(ctx context.Context, svcs []loadSvc, id int) {
	rng := seeded(id, 17)
	for ctx.Err() == nil {
		s := svcs[rng.IntN(len(svcs))]
		seq := int(l.seq.Add(1))
		rec := &record{kind: "apply", write: true, svc: s.name, value: seq}
		l.do(ctx, s.owner, rec, "PUT", "/api/v1/services/"+s.name, serviceSpec(s, seq, 1))
		if rec.refused {
			pause(ctx, 500*time.Millisecond)
		}
		pause(ctx, 4*l.think)
	}
}

// serviceSpec is a service of the load: a shell that prints a line every
// two seconds. CHAOS_SERVICE finds its processes in /proc; CHAOS_SEQ tells
// the revision they run.
func serviceSpec(s loadSvc, seq, replicas int) map[string]any {
	return map[string]any{
		"target":   s.owner.target,
		"command":  []string{"/bin/sh", "-c", `while :; do echo "tick $CHAOS_SEQ"; sleep 2; done`},
		"env":      map[string]string{"CHAOS_SERVICE": s.name, "CHAOS_SEQ": strconv.Itoa(seq)},
		"replicas": replicas,
	}
}

// seeded is a client's reproducible stream of choices (what to read or
// write next), not anything secret.
func seeded(id int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(id), stream)) // #nosec G115 G404 -- a small client number seeds the load's choices; nothing secret
}
