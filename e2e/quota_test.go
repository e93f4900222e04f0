package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

const sharedKey = "BERTH_SECRET_KEY=ZTJlLXNoYXJlZC1rZXktb2YtMzItYnl0ZXMtLS0tLS0="

// TestQuotaRacePostgresReplicas: twenty parallel environment creates of one
// user, spread over TWO berth replicas on one PostgreSQL database, that
// together ask for 40 cores under an 8-core quota: exactly four get 201 and
// sixteen 403 QUOTA_EXCEEDED naming the limit, the use and the need. From
// outside: four rows in SQL, four workspace processes, none for a refusal.
func TestQuotaRacePostgresReplicas(t *testing.T) {
	db := postgresURL(t)
	a := StartBerth(t, "", db, sharedKey)
	b := StartBerth(t, "", db, sharedKey)
	sqlDB, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	quotaRace(t, []*Berth{a, b}, sqlDB, "$1")
}

// TestQuotaRaceSQLite: the same race on one berth over SQLite.
func TestQuotaRaceSQLite(t *testing.T) {
	b := StartBerth(t, "", "")
	sqlDB, err := sql.Open("sqlite", filepath.Join(b.DataDir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	quotaRace(t, []*Berth{b}, sqlDB, "?")
}

var quotaMsg = regexp.MustCompile(`cpuCores: (\d+) of 8 in use, this environment needs 2`)

func quotaRace(t *testing.T, replicas []*Berth, sqlDB *sql.DB, ph string) {
	first := replicas[0]
	u := first.MustDo(201, "POST", "/api/v1/users", map[string]string{"username": "quinn", "password": "quinn-password-1", "role": "operator"})
	uid := str(u, "user", "id")
	first.MustDo(200, "PUT", "/api/v1/quotas/users/"+uid, map[string]any{"cpuCores": 8})
	tokens := make([]string, len(replicas))
	for i, r := range replicas {
		tokens[i] = r.Login("quinn", "quinn-password-1")
	}
	type answer struct {
		code int
		m    map[string]any
	}
	answers := make([]answer, 20)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := replicas[i%len(replicas)]
			code, m := r.Do(tokens[i%len(replicas)], "POST", "/api/v1/environments", map[string]any{"name": fmt.Sprintf("q%d", i), "cpuCores": 2})
			answers[i] = answer{code, m}
		}()
	}
	close(start)
	wg.Wait()
	var ids []string
	var via []int // the replica that created each id: a local target's workload lives on its replica
	for i, a := range answers {
		switch a.code {
		case 201:
			ids = append(ids, str(a.m, "environment", "id"))
			via = append(via, i%len(replicas))
		case 403:
			if a.m["error"] != "QUOTA_EXCEEDED" || !quotaMsg.MatchString(fmt.Sprint(a.m["message"])) {
				t.Errorf("create %d refused as %v", i, a.m)
			}
		default:
			t.Errorf("create %d: %d %v", i, a.code, a.m)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("%d creates got through an 8-core quota at 2 cores each, want exactly 4", len(ids))
	}
	var rows, open int
	if err := sqlDB.QueryRow("SELECT COUNT(*) FROM environments WHERE user_id = "+ph, uid).Scan(&rows); err != nil || rows != 4 {
		t.Fatalf("environment rows of quinn: %d (%v), want 4", rows, err)
	}
	if err := sqlDB.QueryRow("SELECT COUNT(*) FROM usage_intervals WHERE user_id = "+ph+" AND ended_at IS NULL", uid).Scan(&open); err != nil || open != 4 {
		t.Fatalf("open usage intervals of quinn: %d (%v), want 4", open, err)
	}
	// The four run (a workspace process each); nothing else of quinn's does.
	Eventually(t, 60*time.Second, "the four workspaces run", func() (bool, string) {
		got := envProcsUnder(replicas)
		return len(got) == 4, fmt.Sprintf("workspace processes by environment: %v", got)
	})
	got := envProcsUnder(replicas)
	for _, id := range ids {
		if len(got[id]) != 1 {
			t.Errorf("environment %s has processes %v", id, got[id])
		}
	}
	me := mustAs(t, first, tokens[0], 200, "GET", "/api/v1/quotas/me")
	if num(me, "used", "cpuCores") != 8 || num(me, "limits", "cpuCores") != 8 || num(me, "used", "environments") != 4 {
		t.Fatalf("quotas/me: %v", me)
	}
	// Lowering the quota below use stops nothing and blocks new use.
	first.MustDo(200, "PUT", "/api/v1/quotas/users/"+uid, map[string]any{"cpuCores": 4})
	code, m := first.Do(tokens[0], "POST", "/api/v1/environments", map[string]any{"name": "more", "cpuCores": 1})
	if code != 403 || m["error"] != "QUOTA_EXCEEDED" || !strings.HasSuffix(fmt.Sprint(m["message"]), "cpuCores: 8 of 4 in use, this environment needs 1") {
		t.Fatalf("create over a lowered quota: %d %v", code, m)
	}
	if n := len(envProcsUnder(replicas)); n != 4 {
		t.Fatalf("after lowering the quota %d workspaces run, want 4", n)
	}
	// Stopping frees cores; starting again needs them: 6 of 4 in use.
	// Through the replica that created it: each replica runs its own local
	// target, so only that one can stop its workspace.
	own, tok := replicas[via[0]], tokens[via[0]]
	mustAs(t, own, tok, 200, "POST", "/api/v1/environments/"+ids[0]+"/stop")
	code, m = own.Do(tok, "POST", "/api/v1/environments/"+ids[0]+"/start", nil)
	if code != 403 || !strings.HasSuffix(fmt.Sprint(m["message"]), "cpuCores: 6 of 4 in use, this environment needs 2") {
		t.Fatalf("start over quota: %d %v", code, m)
	}
	var stopped bool
	if err := sqlDB.QueryRow("SELECT stopped FROM environments WHERE id = "+ph, ids[0]).Scan(&stopped); err != nil || !stopped {
		t.Fatalf("a refused start changed the record: stopped=%v (%v)", stopped, err)
	}
	if p := envProcsUnder(replicas)[ids[0]]; len(p) != 0 {
		t.Fatalf("a refused start left processes %v", p)
	}
}

// envProcsUnder maps environment ids to the pids of workspace processes
// of these berths (their workload dirs), read from /proc.
func envProcsUnder(bs []*Berth) map[string][]int {
	out := map[string][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cl, []byte("\x00__berth-exec\x00")) {
			continue
		}
		id, mine := "", false
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("BERTH_ENVIRONMENT_ID=")); ok {
				id = string(v)
			}
			for _, b := range bs {
				if bytes.Contains(kv, []byte(workloadDirFor(b.DataDir)+"/")) {
					mine = true
				}
			}
		}
		if id != "" && mine {
			out[id] = append(out[id], pid)
		}
	}
	for _, p := range out {
		sort.Ints(p)
	}
	return out
}

// mustAs sends a request with token and fails unless the status is want.
func mustAs(t *testing.T, b *Berth, token string, want int, method, path string) map[string]any {
	t.Helper()
	code, m := b.Do(token, method, path, nil)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, m)
	}
	return m
}
