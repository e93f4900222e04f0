package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/store"
)

// TestWritersQueue: a write transaction holds the database for longer than
// SQLite's busy timeout while 12 writers arrive (audit entries, service
// updates, a quota-serialised update of another user). Each must wait its
// turn and land: before, on SQLite, each failed with "database is locked"
// once the busy timeout passed, which is what 16 concurrent PUTs met under
// load (waiters in SQLite's busy handler poll up to 100 ms apart and lose
// the lock to newcomers). Reads meanwhile answer without waiting for the
// writer.
func TestWritersQueue(t *testing.T) {
	const busy = 200 * time.Millisecond
	defer store.SetBusyTimeout(busy)()
	eachKind(t, func(t *testing.T, s *store.Store) {
		const writers = 12
		var svcs []*berth.Service
		for i := range writers + 1 {
			svc, rev := newService("local", "", fmt.Sprintf("web-%d", i))
			svc.Owner = fmt.Sprintf("usr-%d", i)
			must(t, s.CreateService(ctx, svc, rev))
			svcs = append(svcs, svc)
		}
		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			// On SQLite the transaction takes the one writer lock at BEGIN;
			// on PostgreSQL it holds only its user's lock, which none of the
			// writers below needs.
			holder <- s.SerializeUser(ctx, svcs[0].Owner, func(ctx context.Context) error {
				if _, err := s.GetService(ctx, svcs[0].Ref()); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-holder:
			t.Fatalf("hold the writer: %v", err)
		}

		waits := s.DB().Stats().WaitCount
		errs := make([]error, writers)
		var done atomic.Int64
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				defer done.Add(1)
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				svc := svcs[i+1]
				switch i % 3 {
				case 0:
					errs[i] = s.AppendAudit(ctx, &berth.AuditEntry{Action: "service.update", Resource: svc.Name, RequestID: fmt.Sprint("w-", i)})
				case 1:
					svc.Message = "updated"
					errs[i] = s.UpdateService(ctx, svc, nil)
				default:
					errs[i] = s.SerializeUser(ctx, svc.Owner, func(ctx context.Context) error {
						svc.Message = "updated"
						return s.UpdateService(ctx, svc, nil)
					})
				}
			})
		}
		// Every writer is either done (PostgreSQL: nothing here blocks them;
		// SQLite before: failed) or queued for the writer.
		testutil.Eventually(t, 30*time.Second, "writers done or queued", func() (bool, string) {
			n := done.Load() + s.DB().Stats().WaitCount - waits + s.WritersQueued()
			return n >= writers, fmt.Sprintf("%d of %d done or queued", n, writers)
		})
		// The case under test: the holder keeps the lock past the busy
		// timeout (a long transaction, a loaded machine).
		time.Sleep(2 * busy)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := s.GetService(rctx, svcs[1].Ref()); err != nil {
			t.Errorf("read a service while a write is held: %v", err)
		}
		if _, _, err := s.ListServices(rctx, berth.ServiceFilter{}); err != nil {
			t.Errorf("list services while a write is held: %v", err)
		}
		if _, _, err := s.ListAudit(rctx, berth.AuditFilter{}); err != nil {
			t.Errorf("list audit while a write is held: %v", err)
		}
		close(release)
		must(t, <-holder)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}
		entries, _, err := s.ListAudit(ctx, berth.AuditFilter{})
		must(t, err)
		if len(entries) != writers/3 {
			t.Errorf("%d audit entries, want %d", len(entries), writers/3)
		}
		all, _, err := s.ListServices(ctx, berth.ServiceFilter{})
		must(t, err)
		updated := 0
		for _, svc := range all {
			if svc.Message == "updated" {
				updated++
			}
		}
		if want := writers * 2 / 3; updated != want {
			t.Errorf("%d services updated, want %d", updated, want)
		}
	})
}

// TestSQLiteReadersCannotWrite: the SQLite read pool is query_only, so a
// write sent there by mistake fails at once instead of competing with the
// writer for the lock; reads there see what the writer committed.
func TestSQLiteReadersCannotWrite(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		if s.Kind() != store.SQLite {
			t.Skip("PostgreSQL reads and writes with one pool")
		}
		must(t, s.AppendAudit(ctx, &berth.AuditEntry{Action: "user.create"}))
		var n int
		must(t, s.Readers().QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_log").Scan(&n))
		if n != 1 {
			t.Errorf("readers see %d audit rows, want 1", n)
		}
		_, err := s.Readers().ExecContext(ctx, "DELETE FROM audit_log")
		if err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("a write on the readers: %v, want a read-only error", err)
		}
	})
}

// TestWritersTakeTurns: on SQLite, writers that queue behind a long
// transaction write in the order they came. database/sql alone hands the
// freed connection to a random waiter, so in a long queue some waited many
// times the mean: under load an audit entry waited past its 5 s deadline.
func TestWritersTakeTurns(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		if s.Kind() != store.SQLite {
			t.Skip("PostgreSQL's writers queue in the server, each for the rows and locks it needs")
		}
		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- s.SerializeUser(ctx, "usr-1", func(ctx context.Context) error {
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		base := s.DB().Stats().WaitCount
		const n = 10
		ids, errs := make([]int64, n), make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				e := &berth.AuditEntry{Action: "service.update", RequestID: fmt.Sprint("w-", i)}
				errs[i] = s.AppendAudit(ctx, e)
				ids[i] = e.ID
			})
			// The next one comes only once this one is in line.
			testutil.Eventually(t, 30*time.Second, fmt.Sprintf("writer %d in line", i), func() (bool, string) {
				q := s.WritersQueued() + s.DB().Stats().WaitCount - base
				return q >= int64(i+1), fmt.Sprintf("%d in line", q)
			})
		}
		close(release)
		must(t, <-holder)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("writer %d: %v", i, errs[i])
			}
			if i > 0 && ids[i] < ids[i-1] {
				t.Errorf("writer %d (entry %d) wrote before writer %d (entry %d), which came first", i, ids[i], i-1, ids[i-1])
			}
		}
	})
}
