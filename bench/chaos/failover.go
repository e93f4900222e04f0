package main

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// kill is one round of the HA phase: the leader SIGKILLed, the other
// replica taking over, the killed one restarted once it did.
type kill struct {
	victim, survivor *replica
	at               time.Time // SIGKILL sent
	goneAt           time.Time // the victim reaped: no write of its own can land after
	lockAt           time.Time // another session holds the leader lock (pg_locks)
	leaderAt         time.Time // the survivor's /metrics says berth_leader 1
	loopsAt          time.Time // every open usage interval heartbeated after the kill: the leader's sync ran
	survivors        int       // the victim's workloads still running 2 s after the kill
	restartAt        time.Time
	readyAt          time.Time     // the restarted replica's /readyz answers 200
	backAt           time.Time     // every service of its local target runs a process again (/proc); read after back is closed
	back             chan struct{} // closed once backAt is known (or 2 minutes passed)
}

// lockKey is the advisory lock key of berth's leader election (store/leader.go:
// fnv-64a of "berth:" + name), split as pg_locks shows it.
func lockKey() (classid, objid uint32) {
	h := fnv.New64a()
	_, _ = h.Write([]byte("berth:background-loops"))
	k := h.Sum64()
	return uint32(k >> 32), uint32(k) // #nosec G115 -- halves of the key, as pg_locks splits it
}

// lockHolder is the backend pid holding the leader lock, 0 when nobody does.
func lockHolder(ctx context.Context, db *sql.DB) (int, error) {
	c, o := lockKey()
	var pid int
	err := db.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = $1 AND objid = $2 AND objsubid = 1`, int64(c), int64(o)).Scan(&pid)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return pid, err
}

// heartbeatAfter: every open usage interval was heartbeated after t (the
// leader's sync loop runs; a write of the load touches only its own).
func heartbeatAfter(ctx context.Context, db *sql.DB, t time.Time) (bool, error) {
	var oldest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT min(last_seen) FROM usage_intervals WHERE ended_at IS NULL`).Scan(&oldest); err != nil {
		return false, err
	}
	return oldest.Valid && oldest.Int64 > t.UnixMicro(), nil
}

// leader is the replica whose /metrics says it leads.
func leader(ctx context.Context, reps []*replica) *replica {
	for _, r := range reps {
		if ok, err := r.leading(ctx); err == nil && ok {
			return r
		}
	}
	return nil
}

// waitLeader waits until one replica leads.
func waitLeader(ctx context.Context, reps []*replica, limit time.Duration) (*replica, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if l := leader(ctx, reps); l != nil {
			return l, nil
		}
		pause(ctx, 100*time.Millisecond)
	}
	return nil, fmt.Errorf("no leader after %s", limit)
}

// killLeader SIGKILLs the leader, watches the takeover from outside (SQL and
// the survivor's /metrics), counts the victim's surviving workloads, then
// restarts it and waits for it to be ready.
func killLeader(ctx context.Context, db *sql.DB, reps []*replica, step func(string, ...any)) (*kill, error) {
	victim, err := waitLeader(ctx, reps, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	k := &kill{victim: victim}
	for _, r := range reps {
		if r != victim {
			k.survivor = r
		}
	}
	before, _ := lockHolder(ctx, db)
	k.at, k.goneAt = victim.kill()
	survivors := make(chan int, 1)
	go func() {
		pause(ctx, 2*time.Second)
		survivors <- countTarget(victim.target)
	}()
	// Each signal is watched on its own: on a loaded machine one slow
	// answer (a /metrics scrape) must not delay noticing another.
	deadline := k.at.Add(90 * time.Second)
	watch := func(at *time.Time, check func() bool) {
		for time.Now().Before(deadline) {
			if check() {
				*at = time.Now() // when the answer came: an upper bound, never flattering
				return
			}
			pause(ctx, 50*time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		watch(&k.lockAt, func() bool {
			pid, err := lockHolder(ctx, db)
			return err == nil && pid != 0 && pid != before
		})
	})
	wg.Go(func() {
		watch(&k.leaderAt, func() bool { ok, err := k.survivor.leading(ctx); return err == nil && ok })
	})
	wg.Go(func() {
		watch(&k.loopsAt, func() bool { ok, err := heartbeatAfter(ctx, db, k.goneAt); return err == nil && ok })
	})
	wg.Wait()
	if k.loopsAt.IsZero() {
		step("kill %s: the survivor's loops did not run within 90 s", victim.name)
	}
	k.survivors = <-survivors
	k.restartAt = time.Now()
	if err := victim.start(); err != nil {
		return k, err
	}
	if k.readyAt, err = victim.waitReady(ctx, 90*time.Second); err != nil {
		return k, err
	}
	// Its workloads coming back is timed aside: the kills keep their pace.
	k.back = make(chan struct{})
	go func() {
		defer close(k.back)
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); pause(ctx, 100*time.Millisecond) {
			if back, err := targetRunning(ctx, db, victim.target); err == nil && back {
				k.backAt = time.Now()
				return
			}
		}
	}()
	return k, nil
}

// countTarget counts the running workloads of the services whose names say
// they run on target (the load names them after it).
func countTarget(target string) int {
	n := 0
	for _, w := range processTable() {
		if len(w.service) > len(target) && w.service[:len(target)] == target {
			n++
		}
	}
	return n
}

// targetRunning: every stored service of target that should run has at
// least one running process.
func targetRunning(ctx context.Context, db *sql.DB, target string) (bool, error) {
	stored, err := storedServices(ctx, db)
	if err != nil {
		return false, err
	}
	running := map[string]bool{}
	for _, w := range processTable() {
		running[w.service] = true
	}
	for _, s := range stored {
		if s.target == target && !s.stopped && s.replicas > 0 && !running[s.name] {
			return false, nil
		}
	}
	return true, nil
}

// pgRestart is one PostgreSQL restart under load.
type pgRestart struct {
	stopAt, upAt    time.Time
	notReady        map[string]time.Time // first /readyz 503 after the stop, per replica
	readyAt         map[string]time.Time // first /readyz 200 after PostgreSQL is back, per replica
	leaderAt        time.Time            // a replica's /metrics says it leads again
	loopsAt         time.Time            // every open usage interval heartbeated after PostgreSQL was back
	readyNotSeenFor []string             // replicas never seen not-ready while PostgreSQL was down
}

// watchReady polls each replica's /readyz until stop closes, recording the
// first not-ready answer after since and the first ready one after upAt().
func watchReady(ctx context.Context, reps []*replica, pr *pgRestart, mu *sync.Mutex, up func() time.Time, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		for _, r := range reps {
			ok := r.ready(ctx)
			now := time.Now()
			u := up()
			mu.Lock()
			if !ok {
				if _, seen := pr.notReady[r.name]; !seen && u.IsZero() {
					pr.notReady[r.name] = now
				}
			} else if !u.IsZero() && now.After(u) {
				if _, seen := pr.readyAt[r.name]; !seen {
					pr.readyAt[r.name] = now
				}
			}
			mu.Unlock()
		}
	}
}
