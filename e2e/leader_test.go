package e2e

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to look at the locks from outside
)

// TestLeaderAcrossReplicas: two berth replicas on one PostgreSQL elect one
// to run the background loops (/api/v1/status says which; one advisory
// lock is granted, seen with SQL); when the leader dies, the other takes
// over.
func TestLeaderAcrossReplicas(t *testing.T) {
	db := postgresURL(t)
	key := "BERTH_SECRET_KEY=ZTJlLXNoYXJlZC1rZXktb2YtMzItYnl0ZXMtLS0tLS0="
	a := StartBerth(t, "", db, key)
	b := StartBerth(t, "", db, key)
	leading := func(x *Berth) bool {
		code, st := doAs[api.Status](x, x.Token(), "GET", "/api/v1/status", nil)
		return code == 200 && st.Leader
	}
	Eventually(t, 30*time.Second, "exactly one leader", func() (bool, string) {
		la, lb := leading(a), leading(b)
		return la != lb, fmt.Sprintf("a %v, b %v", la, lb)
	})
	sqlDB, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var locks int
	if err := sqlDB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&locks); err != nil || locks != 1 {
		t.Fatalf("advisory locks granted: %d (%v), want 1", locks, err)
	}
	lead, other := a, b
	if leading(b) {
		lead, other = b, a
	}
	lead.Kill()
	Eventually(t, 30*time.Second, "the other replica leads", func() (bool, string) {
		return leading(other), "not yet"
	})
}
