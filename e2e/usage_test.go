package e2e

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// syncPeriod is BERTH_SYNC_INTERVAL of the harness: the heartbeat of
// usage intervals, and the uncertainty docs/usage.md promises.
const syncPeriod = 200 * time.Millisecond

// envSeconds is the running seconds /api/v1/usage reports for one
// environment since from.
func envSeconds(t *testing.T, b *Berth, token, id string, from time.Time) (running, storageGBs float64) {
	t.Helper()
	code, m := b.Do(token, "GET", "/api/v1/usage?groupBy=environment&from="+from.UTC().Format(time.RFC3339Nano), nil)
	if code != 200 {
		t.Fatalf("usage: %d %v", code, m)
	}
	rows, _ := m["usage"].([]any)
	for _, r := range rows {
		row := r.(map[string]any)
		if row["key"] == id {
			return row["runningHours"].(float64) * 3600, row["storageGBHours"].(float64) * 3600
		}
	}
	return 0, 0
}

// waitStored waits until the stored status (the list, not a live GET) is want
// and returns the moment it was first seen.
func waitStored(t *testing.T, b *Berth, id, want string) time.Time {
	t.Helper()
	var seen time.Time
	Eventually(t, 60*time.Second, id+" stored as "+want, func() (bool, string) {
		code, m := b.Do(b.Token(), "GET", "/api/v1/environments?pageSize=100", nil)
		envs, _ := m["environments"].([]any)
		for _, e := range envs {
			env := e.(map[string]any)
			if env["id"] == id && env["status"] == want {
				seen = time.Now()
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d %v", code, m)
	})
	return seen
}

// TestUsageSurvivesSIGKILL: an environment runs, berth is SIGKILLed (its
// workspaces die with it) and restarted after a few seconds. The usage
// report then holds the time before the kill and the time since the
// restart, each exact within one sync period (plus the time it takes to
// observe it from here), and not the downtime. From outside: the test's
// own clock, and the usage_intervals rows in the SQLite file (no resource
// with two open intervals, none overlapping).
func TestUsageSurvivesSIGKILL(t *testing.T) {
	b := StartBerth(t, "", "")
	t0 := time.Now().Add(-time.Second)
	m := b.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "metered", "cpuCores": 2})
	id := str(m, "environment", "id")
	tRun := waitStored(t, b, id, "RUNNING")
	time.Sleep(3 * time.Second) // the interval to keep; nothing to await
	before, _ := envSeconds(t, b, b.Token(), id, t0)
	tKill := time.Now()
	b.Kill()
	time.Sleep(4 * time.Second) // downtime that must not be metered
	tRestart := time.Now()
	b.Restart()
	tUp := time.Now() // berth printed that it is up
	Eventually(t, 60*time.Second, "the workspace runs again", func() (bool, string) {
		return len(processesOfEnv(id)) == 1, fmt.Sprint(processesOfEnv(id))
	})
	time.Sleep(2 * time.Second)
	tQuery := time.Now()
	got, _ := envSeconds(t, b, b.Token(), id, t0)
	// What ran: tRun..tKill and tRestart..tQuery (the restarted berth
	// counts from its first heartbeat, a sync period after it is up).
	slack := 2*syncPeriod + 300*time.Millisecond
	upper := tKill.Sub(tRun) + tQuery.Sub(tRestart) + slack
	lower := tKill.Sub(tRun) - syncPeriod - slack + tQuery.Sub(tUp) - slack
	if got > upper.Seconds() || got < lower.Seconds() {
		t.Fatalf("running seconds %.3f, want within [%.3f, %.3f] (before the kill %.3f s reported; downtime %.1f s must not count)",
			got, lower.Seconds(), upper.Seconds(), before, tRestart.Sub(tKill).Seconds())
	}
	t.Logf("running seconds %.3f; ran %.3f s before the kill, %.3f s since berth was up again; down %.3f s (%.3f s until up)",
		got, tKill.Sub(tRun).Seconds(), tQuery.Sub(tUp).Seconds(), tRestart.Sub(tKill).Seconds(), tUp.Sub(tKill).Seconds())
	if down := tRestart.Sub(tKill); got > (tQuery.Sub(tRun) - down + slack).Seconds() {
		t.Fatalf("running seconds %.3f include the %.1f s berth was down", got, down.Seconds())
	}
	sqlDB, err := sql.Open("sqlite", filepath.Join(b.DataDir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	checkIntervals(t, sqlDB)
}

// TestUsageLeaderChange: two replicas on PostgreSQL; the leader is killed
// and the other takes over the heartbeat. The environment (on the replica
// that stays) ran all along: the report equals the wall time since it ran
// within one sync period (plus observation), so nothing is lost across the
// leaderless gap nor counted twice; in SQL no resource has two open or
// overlapping intervals.
func TestUsageLeaderChange(t *testing.T) {
	db := postgresURL(t)
	a := StartBerth(t, "", db, sharedKey)
	b := StartBerth(t, "", db, sharedKey)
	leading := func(x *Berth) bool {
		code, m := x.Do(x.Token(), "GET", "/api/v1/status", nil)
		return code == 200 && m["leader"] == true
	}
	Eventually(t, 30*time.Second, "one leader", func() (bool, string) { return leading(a) != leading(b), "" })
	lead, other := a, b
	if leading(b) {
		lead, other = b, a
	}
	t0 := time.Now().Add(-time.Second)
	// Created on the replica that stays, so its workspace keeps running.
	m := other.MustDo(201, "POST", "/api/v1/environments", map[string]any{"name": "metered", "cpuCores": 2})
	id := str(m, "environment", "id")
	tRun := waitStored(t, other, id, "RUNNING")
	time.Sleep(2 * time.Second)
	tKill := time.Now()
	lead.Kill()
	Eventually(t, 30*time.Second, "the other replica leads", func() (bool, string) { return leading(other), "" })
	time.Sleep(2 * time.Second)
	tQuery := time.Now()
	got, _ := envSeconds(t, other, other.Token(), id, t0)
	slack := 2*syncPeriod + 300*time.Millisecond
	if got > (tQuery.Sub(tRun) + slack).Seconds() {
		t.Fatalf("running seconds %.3f exceed the %.3f s the environment has run: counted twice", got, tQuery.Sub(tRun).Seconds())
	}
	t.Logf("running seconds %.3f; wall time since running %.3f s, before the change %.3f s", got, tQuery.Sub(tRun).Seconds(), tKill.Sub(tRun).Seconds())
	if got < (tQuery.Sub(tRun) - syncPeriod - slack).Seconds() {
		t.Fatalf("running seconds %.3f lost time of the %.3f s it ran (%.3f s before the leader change)", got, tQuery.Sub(tRun).Seconds(), tKill.Sub(tRun).Seconds())
	}
	sqlDB, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	checkIntervals(t, sqlDB)
}

// checkIntervals reads usage_intervals from outside: per resource at most
// one open interval, and no two intervals of one resource overlap.
func checkIntervals(t *testing.T, db *sql.DB) {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT kind, resource_id FROM usage_intervals WHERE ended_at IS NULL
		GROUP BY kind, resource_id HAVING COUNT(*) > 1) x`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("resources with several open intervals: %d (%v)", n, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM usage_intervals a JOIN usage_intervals b
		ON a.kind = b.kind AND a.resource_id = b.resource_id AND a.id < b.id
		AND a.started_at < COALESCE(b.ended_at, 9223372036854775807) AND b.started_at < COALESCE(a.ended_at, 9223372036854775807)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("overlapping intervals: %d (%v)", n, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM usage_intervals`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("no usage intervals at all (%v)", err)
	}
}
