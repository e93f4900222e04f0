package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestWorkloadUIDs: one uid per key, the lowest free one of the range,
// the same on every later call and after reopening (checked in SQL), never
// shared, also when allocated concurrently; an exhausted range is an error
// that records nothing.
func TestWorkloadUIDs(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const lo, hi = 2_000_000, 2_000_019
		a, err := s.WorkloadUID(ctx, "usr-a", lo, hi)
		if err != nil || a != lo {
			t.Fatalf("first uid = %d, %v; want %d", a, err, lo)
		}
		b, err := s.WorkloadUID(ctx, "usr-b", lo, hi)
		if err != nil || b != lo+1 {
			t.Fatalf("second uid = %d, %v; want %d", b, err, lo+1)
		}
		if again, err := s.WorkloadUID(ctx, "usr-a", lo, hi); err != nil || again != a {
			t.Errorf("usr-a again = %d, %v; want %d", again, err, a)
		}
		// A uid taken outside berth's view of the range (another target's
		// range) is skipped; a key keeps its uid whatever range asks.
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO workload_uids (user_id, uid, created_at) VALUES ('usr-x', 2000002, 0)`); err != nil {
			t.Fatal(err)
		}
		if c, err := s.WorkloadUID(ctx, "usr-c", lo, hi); err != nil || c != lo+3 {
			t.Errorf("usr-c = %d, %v; want %d (2000002 is taken)", c, err, lo+3)
		}
		if x, err := s.WorkloadUID(ctx, "usr-x", 3_000_000, 3_000_010); err != nil || x != 2000002 {
			t.Errorf("usr-x from another range = %d, %v; want its recorded 2000002", x, err)
		}

		var wg sync.WaitGroup
		got := make([]uint32, 16)
		errs := make([]error, 16)
		for i := range got {
			wg.Go(func() { got[i], errs[i] = s.WorkloadUID(ctx, fmt.Sprintf("usr-p%d", i), lo, hi) })
		}
		wg.Wait()
		seen := map[uint32]bool{a: true, b: true, lo + 2: true, lo + 3: true}
		for i, u := range got {
			if errs[i] != nil {
				t.Errorf("concurrent %d: %v", i, errs[i])
				continue
			}
			if seen[u] || u < lo || u > hi {
				t.Errorf("concurrent %d got uid %d: shared or outside the range", i, u)
			}
			seen[u] = true
		}
		if _, err := s.WorkloadUID(ctx, "usr-late", lo, hi); berth.ErrorCode(err) != berth.EUNAVAILABLE {
			t.Errorf("exhausted range: %v, want UNAVAILABLE", err)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM workload_uids`).Scan(&n); err != nil || n != 20 {
			t.Errorf("rows = %d, %v; want 20 (nothing recorded for the refused key)", n, err)
		}
		if _, err := s.WorkloadUID(ctx, "", lo, hi); berth.ErrorCode(err) != berth.EINVALID {
			t.Errorf("empty key: %v", err)
		}
		if _, err := s.WorkloadUID(ctx, "usr-z", 0, 10); berth.ErrorCode(err) != berth.EINVALID {
			t.Errorf("range with uid 0: %v", err)
		}
	})
}

// TestDatabaseFilesPrivate: the SQLite database and its -wal and -shm are
// 0600, also those an older berth left readable.
func TestDatabaseFilesPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := store.Open(ctx, path, storetest.NewSealer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WorkloadUID(ctx, "usr-a", 2_000_000, 2_000_010); err != nil { // a write: -wal and -shm exist
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: %v", when, err)
			} else if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s is %04o, want 0600", when, filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	check("new database")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Chmod(p, 0o644)
	}
	s2, err := store.Open(ctx, path, storetest.NewSealer())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check("reopened")
	if uid, err := s2.WorkloadUID(ctx, "usr-a", 2_000_000, 2_000_010); err != nil || uid != 2_000_000 {
		t.Errorf("usr-a after reopening = %d, %v", uid, err)
	}
	s.Close()
}
