package pgtest_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/berthhq/berth/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestDatabasesAreIsolated(t *testing.T) {
	srv := pgtest.Shared(t)
	ctx := context.Background()
	a, b := open(t, srv.NewDatabase(t)), open(t, srv.NewDatabase(t))
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count in a = %d, %v; want 1", n, err)
	}
	var exists bool
	if err := b.QueryRowContext(ctx, "SELECT to_regclass('t') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("table created in database a is visible in database b")
	}
}

func TestStartStop(t *testing.T) {
	pgtest.Shared(t) // skips (or fails under CI) without binaries, like Start
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, srv.URL("postgres"))
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	srv.Stop()
	if err := open(t, srv.URL("postgres")).Ping(); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRestart: a restarted server answers on the same port with the data
// written before, and does not answer while it is down.
func TestRestart(t *testing.T) {
	pgtest.Shared(t)
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx := context.Background()
	db := open(t, srv.URL("postgres"))
	if _, err := db.ExecContext(ctx, "CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('before')"); err != nil {
		t.Fatal(err)
	}
	port := srv.Port
	downErr := error(nil)
	if err := srv.Restart(func() { downErr = open(t, srv.URL("postgres")).PingContext(ctx) }); err != nil {
		t.Fatal(err)
	}
	if downErr == nil {
		t.Error("the server answered while it was down")
	}
	if srv.Port != port {
		t.Errorf("port after restart = %d, want %d", srv.Port, port)
	}
	var v string
	if err := open(t, srv.URL("postgres")).QueryRowContext(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "before" {
		t.Fatalf("row after restart = %q, %v; want \"before\"", v, err)
	}
}
