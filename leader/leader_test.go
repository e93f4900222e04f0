package leader_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/leader"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// replica is one berth process's store and elector.
type replica struct {
	e      *leader.Elector
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, url string) *replica {
	t.Helper()
	st, err := store.Open(context.Background(), url, storetest.NewSealer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{e: leader.New(st, "loops", 100*time.Millisecond, nil), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); r.e.Run(ctx) }()
	t.Cleanup(func() { r.cancel(); <-r.done })
	return r
}

// waitUntil waits for a condition on the replicas' leadership, reporting
// who leads when it does not come.
func waitUntil(t *testing.T, what string, cond func() bool, rs ...*replica) {
	t.Helper()
	testutil.Eventually(t, testutil.Process, what, func() (bool, string) {
		var leads []string
		for i, r := range rs {
			leads = append(leads, fmt.Sprintf("replica %d leads: %v", i, r.e.Leading()))
		}
		return cond(), strings.Join(leads, ", ")
	})
}

// TestOneLeaderOnPostgres: of two replicas on one database exactly one
// leads (one advisory lock granted, seen from a third session); when the
// leader stops, or its session is killed from outside, the other takes over.
func TestOneLeaderOnPostgres(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := start(t, url), start(t, url)
	waitUntil(t, "one leader", func() bool { return a.e.Leading() != b.e.Leading() }, a, b)
	outside, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	locks := func() int {
		var n int
		if err := outside.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := locks(); n != 1 {
		t.Fatalf("%d advisory locks granted, want 1", n)
	}
	for i := 0; i < 10; i++ { // and it stays that way
		time.Sleep(30 * time.Millisecond)
		if a.e.Leading() == b.e.Leading() {
			t.Fatalf("leading: a %v, b %v", a.e.Leading(), b.e.Leading())
		}
	}

	lead, follow := a, b
	if b.e.Leading() {
		lead, follow = b, a
	}
	// The leader's database session dies (a failover, a network cut).
	if _, err := outside.Exec(`SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the leader notices it lost the lock", func() bool { return !lead.e.Leading() || follow.e.Leading() }, lead, follow)
	waitUntil(t, "exactly one leader again", func() bool { return lead.e.Leading() != follow.e.Leading() && locks() == 1 }, lead, follow)

	// Whoever leads now stops: the other takes over.
	now, other := lead, follow
	if follow.e.Leading() {
		now, other = follow, lead
	}
	now.cancel()
	<-now.done
	waitUntil(t, "the other replica leads", func() bool { return other.e.Leading() && !now.e.Leading() }, other, now)
	if n := locks(); n != 1 {
		t.Errorf("%d advisory locks granted after the hand-over, want 1", n)
	}
}

// TestSQLiteAlwaysLeads: SQLite serves one process, which leads.
func TestSQLiteAlwaysLeads(t *testing.T) {
	r := start(t, filepath.Join(t.TempDir(), "berth.db"))
	waitUntil(t, "leading", r.e.Leading, r)
}
