package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil"
)

// TestMigrateStore: a berth that ran on SQLite (a service with a secret,
// API keys, a second user, audit entries, metrics history) is copied to a
// fresh PostgreSQL database with `berth migrate-store`; every table's row
// count is the same on both sides (counted with SQL, outside berth); a
// rerun only verifies; berth started on PostgreSQL gives the same API
// answers, brings the service back with its secret in the process's
// environment (/proc), and still serves the metrics history. Once the
// target holds other data, a new run is refused.
func TestMigrateStore(t *testing.T) {
	pg := postgresURL(t)
	b := StartBerth(t, "", "", "BERTH_METRICS_INTERVAL=1s")
	b.MustDo(201, "PUT", "/api/v1/services/keeper", keeperSpec())
	for i := range 3 {
		b.MustDo(201, "POST", "/api/v1/apikeys", map[string]any{"name": fmt.Sprint("k", i), "role": "viewer"})
	}
	b.MustDo(201, "POST", "/api/v1/users", map[string]any{"username": "mover", "password": "mover-password-1", "role": "operator"})
	testutil.Eventually(t, 30*time.Second, "keeper runs and has metrics history", func() (bool, string) {
		c := sqlCounts(t, "sqlite", b.DataDir, "")
		return len(processesOf("keeper")) == 1 && c["metric_points"] > 0, fmt.Sprint(c)
	})
	want := stableAnswers(t, b)
	_, keys := b.DoRaw(b.Token(), "GET", "/api/v1/apikeys", nil)
	b.Stop()
	src := sqlCounts(t, "sqlite", b.DataDir, "")

	from := "sqlite://" + filepath.Join(b.DataDir, "berth.db")
	out, errOut, err := runBerthCmd(t, nil, "migrate-store", "--from", from, "--to", pg, "--data-dir", b.DataDir)
	if err != nil {
		t.Fatalf("migrate-store: %v\n%s%s", err, out, errOut)
	}
	t.Log(out)
	if strings.Contains(out+errOut, "e2e-pg-password") {
		t.Error("migrate-store printed the database password")
	}
	dst := sqlCounts(t, "postgres", "", pg)
	for table, n := range src {
		if table == "schema_migrations" || table == "sqlite_sequence" || table == "ws_tickets" {
			continue
		}
		if dst[table] != n {
			t.Errorf("%s: %d rows on SQLite, %d on PostgreSQL", table, n, dst[table])
		}
	}
	if out, _, err := runBerthCmd(t, nil, "migrate-store", "--from", from, "--to", pg, "--data-dir", b.DataDir); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("rerun: err %v, %s", err, out)
	}

	p := StartBerth(t, b.DataDir, pg)
	if got := stableAnswers(t, p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("answers on PostgreSQL differ:\n got %v\nwant %v", got, want)
	}
	if _, got := p.DoRaw(p.Token(), "GET", "/api/v1/apikeys", nil); !bytes.Equal(got, keys) {
		t.Errorf("API keys differ:\n got %s\nwant %s", got, keys)
	}
	testutil.Eventually(t, 30*time.Second, "keeper back with its secret", func() (bool, string) {
		pids := processesOf("keeper")
		if len(pids) != 1 {
			return false, fmt.Sprint(pids)
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
		return bytes.Contains(environ, []byte("KEEPER_TOKEN=e2e-SECRET-keeper-token")), "secret missing"
	})
	m := p.MustDo(200, "GET", "/api/v1/services/keeper/metrics?range=1h", nil)
	if !strings.Contains(fmt.Sprint(m), "cpu") {
		t.Errorf("metrics history after the move: %v", m)
	}
	p.MustDo(201, "POST", "/api/v1/apikeys", map[string]any{"name": "after", "role": "viewer"})
	if _, e, err := runBerthCmd(t, nil, "migrate-store", "--from", from, "--to", pg, "--data-dir", b.DataDir); err == nil || !strings.Contains(e, "already holds other data") {
		t.Errorf("migrate into a target with other data: err %v, %s", err, e)
	}
}
