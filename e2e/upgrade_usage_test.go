package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
)

// usageRelease is the last landed release before migrations 0012 and 0013
// (usage's running totals and their rolled_up mark): it meters and keeps the
// monthly roll-ups but not the running totals. It stays pinned while berth
// supports upgrading from it: a release with 0013 marks its own closes, so
// it could not play the old replica here.
const usageRelease = "d3f60da445e568963cd41c3199393f2b26068fa6"

// TestRollingUpgradeUsage: a berth of that release meters a service while a
// berth of this commit migrates the same PostgreSQL and runs beside it; the
// old one scales the service (closing intervals without marking them rolled
// up) and then stops. The new leader's heartbeat rolls those intervals up,
// and every report (by user, service, target, day and month: the running
// totals and the monthly roll-ups) then equals the sum of the intervals,
// computed in SQL.
func TestRollingUpgradeUsage(t *testing.T) {
	pg := postgresURL(t)
	old := binaryAt(t, usageRelease)
	oldDir := t.TempDir()
	ob := startBinary(t, old, oldDir, pg)
	start := time.Now().UTC().Add(-time.Minute)
	ob.put("/api/v1/services/metered", `{"command": ["sleep", "3600"], "replicas": 1}`)
	nb := StartBerth(t, "", pg, "BERTH_SECRET_KEY="+keyOf(t, oldDir))
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{2, 1, 3, 0} {
		time.Sleep(2 * time.Second)
		if code, out := ob.do("POST", "/api/v1/services/metered/scale", fmt.Sprintf(`{"replicas": %d}`, n)); code != 200 {
			t.Fatalf("old berth: scale to %d: %d %s", n, code, out)
		}
	}
	var unrolled int
	testutil.Eventually(t, 30*time.Second, "the old berth closes intervals the running totals do not hold", func() (bool, string) {
		must(db.QueryRow(`SELECT COUNT(*) FROM usage_intervals WHERE ended_at IS NOT NULL AND rolled_up = 0`).Scan(&unrolled))
		return unrolled >= 3, fmt.Sprint(unrolled, " closed intervals not rolled up")
	})
	ob.stop()
	testutil.Eventually(t, 60*time.Second, "the new leader's heartbeat rolls them up", func() (bool, string) {
		must(db.QueryRow(`SELECT COUNT(*) FROM usage_intervals WHERE ended_at IS NOT NULL AND rolled_up = 0`).Scan(&unrolled))
		return unrolled == 0, fmt.Sprint(unrolled, " closed intervals not rolled up")
	})

	// The intervals' own sum at a moment (an interval may still be open).
	rawAt := func(at time.Time) float64 {
		var v float64
		must(db.QueryRow(`SELECT COALESCE(SUM(replicas * cpu_cores * (LEAST(COALESCE(ended_at, $1), $1) - started_at)), 0) / 3600e6
			FROM usage_intervals WHERE started_at < $1`, at.UnixMicro()).Scan(&v))
		return v
	}
	end := time.Now().UTC().Add(time.Minute)
	for _, g := range []string{"user", "service", "target", "day", "month"} {
		q := url.Values{"from": {start.Format(time.RFC3339)}, "to": {end.Format(time.RFC3339)}, "groupBy": {g}}
		before := time.Now()
		code, body := nb.DoRaw(nb.Token(), "GET", "/api/v1/usage?"+q.Encode(), nil)
		after := time.Now()
		if code != 200 {
			t.Fatalf("usage by %s: %d %s", g, code, body)
		}
		var r struct {
			Total struct {
				CPU float64 `json:"cpuCoreHours"`
			} `json:"total"`
		}
		must(json.Unmarshal(body, &r))
		lo, hi := rawAt(before), rawAt(after)
		if lo == 0 || r.Total.CPU < lo-1e-9 || r.Total.CPU > hi+1e-9 {
			t.Errorf("usage by %s: %.9f core-hours; the intervals hold %.9f to %.9f over the request", g, r.Total.CPU, lo, hi)
		}
	}
}
