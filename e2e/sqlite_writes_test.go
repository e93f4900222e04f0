package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sqlWrite is one write request of TestSQLiteConcurrentWrites and its answer.
type sqlWrite struct {
	id       string // X-Request-ID, the audit row's request_id
	what     string
	code     int
	body     string
	err      error
	duration time.Duration
}

// doWithID sends a JSON request with the given X-Request-ID, for use from
// many goroutines (no t.Fatal).
func (b *Berth) doWithID(token, id, method, path string, body any) (int, string, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, b.URL+path, bytes.NewReader(j))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// TestSQLiteConcurrentWrites: a team's first install is SQLite, and
// concurrent writes must queue, not fail. One berth on SQLite creates
// sqlwServices services (a running replica each, so the status sync and the
// sampler write too) from 16 clients at once, then 16 clients update and
// scale them while 4 clients read. Every request must succeed (before:
// "database is locked" after the busy timeout, under starvation), and every
// acknowledged write must have exactly one audit row with its request id,
// checked in SQL (before: entries lost to the audit write's timeout).
func TestSQLiteConcurrentWrites(t *testing.T) {
	const (
		writers = 16
		readers = 4
		rounds  = 4 // updates per writer after the creates: PUT then scale, alternating
	)
	n := sqlwServices
	b := StartBerth(t, "", "", "BERTH_SYNC_INTERVAL=1s", "BERTH_METRICS_INTERVAL=1s")
	token := b.Token()

	var (
		mu     sync.Mutex
		writes []sqlWrite
	)
	run := func(id, what, method, path string, body any) {
		t0 := time.Now()
		code, raw, err := b.doWithID(token, id, method, path, body)
		mu.Lock()
		writes = append(writes, sqlWrite{id: id, what: what, code: code, body: raw, err: err, duration: time.Since(t0)})
		mu.Unlock()
	}
	parallel := func(jobs, workers int, job func(i int)) {
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range next {
					job(i)
				}
			})
		}
		for i := range jobs {
			next <- i
		}
		close(next)
		wg.Wait()
	}

	// Readers run throughout: lists and single services, as a dashboard would.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	var readFails []string
	for r := range readers {
		rwg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("/api/v1/services?pageSize=100&page=%d", 1+i%5)
				if r%2 == 1 {
					path = fmt.Sprintf("/api/v1/services/svc-%d", i%n)
				}
				code, raw, err := b.doWithID(token, "", "GET", path, nil)
				if err != nil || (code != 200 && code != 404) {
					mu.Lock()
					readFails = append(readFails, fmt.Sprintf("GET %s: %d %v %.200s", path, code, err, raw))
					mu.Unlock()
				}
			}
		})
	}

	t0 := time.Now()
	parallel(n, writers, func(i int) {
		run(fmt.Sprintf("sqlw-create-%d", i), "create", "PUT", fmt.Sprintf("/api/v1/services/svc-%d", i),
			map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1})
	})
	tCreated := time.Since(t0)
	parallel(writers*rounds, writers, func(j int) {
		i := (j * 37) % n // spread over the services, each touched once
		if j%2 == 0 {
			run(fmt.Sprintf("sqlw-update-%d", j), "update", "PUT", fmt.Sprintf("/api/v1/services/svc-%d", i),
				map[string]any{"command": []string{"sleep", "3600"}, "replicas": 1, "env": map[string]string{"ROUND": fmt.Sprint(j)}})
			return
		}
		run(fmt.Sprintf("sqlw-scale-%d", j), "scale", "POST", fmt.Sprintf("/api/v1/services/svc-%d/scale", i), map[string]any{"replicas": 2})
	})
	close(stop)
	rwg.Wait()
	t.Logf("%d creates from %d clients in %.1fs; %d updates and scales after", n, writers, tCreated.Seconds(), writers*rounds)

	failed := 0
	durs := map[string][]time.Duration{}
	for _, w := range writes {
		durs[w.what] = append(durs[w.what], w.duration)
		if w.err != nil || w.code >= 300 {
			if failed < 10 {
				t.Errorf("%s %s: %d %v %.300s", w.what, w.id, w.code, w.err, w.body)
			}
			failed++
		}
	}
	for _, what := range []string{"create", "update", "scale"} {
		d := durs[what]
		slices.Sort(d)
		if len(d) > 0 {
			t.Logf("%s: %d requests, p50 %v, p99 %v, max %v", what, len(d), d[len(d)/2].Round(time.Millisecond),
				d[len(d)*99/100].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d writes failed", failed, len(writes))
	}
	if len(readFails) > 0 {
		t.Errorf("%d reads failed, first: %s", len(readFails), readFails[0])
	}

	// From outside berth: the audit log in SQL. The answer is held until
	// the entry is written, so every acknowledged write has its row now.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.DataDir, "berth.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT request_id, COUNT(*), MIN(status) FROM audit_log WHERE request_id LIKE 'sqlw-%' GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type entry struct {
		n      int
		status string
	}
	audit := map[string]entry{}
	for rows.Next() {
		var id string
		var e entry
		if err := rows.Scan(&id, &e.n, &e.status); err != nil {
			t.Fatal(err)
		}
		audit[id] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, w := range writes {
		if w.err != nil || w.code >= 300 {
			continue // not acknowledged
		}
		e := audit[w.id]
		if e.n != 1 || e.status != "completed" {
			if missing < 10 {
				t.Errorf("acknowledged %s %s has %d audit rows (status %q), want exactly 1 completed", w.what, w.id, e.n, e.status)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged writes without exactly one audit row", missing)
	}
	if log := b.stderr.String(); strings.Contains(log, "database is locked") {
		i := strings.Index(log, "database is locked")
		t.Errorf("berth logged \"database is locked\": %s", log[max(0, i-300):i+20])
	}
}

// sqlwServices is how many services TestSQLiteConcurrentWrites creates:
// about what the benchmark had when it first saw "database is locked".
var sqlwServices = 500
