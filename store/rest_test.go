package store_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// TestSecretsAtRest reads every table with raw SQL and checks that no
// plaintext secret is stored, while the store API returns them.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	const svcSecret, revSecret, envSecret = "svc-plaintext-9f3a", "rev-plaintext-77c1", "env-plaintext-0b2e"
	eachKind(t, func(t *testing.T, s *store.Store) {
		svc, rev := newService("local", "", "api")
		svc.Spec.Secrets = map[string]string{"TOKEN": svcSecret}
		rev.Spec.Secrets = map[string]string{"TOKEN": revSecret}
		must(t, s.CreateService(ctx, svc, rev))
		env := newEnv("env-s", "usr-a", "local", base)
		env.Secrets = berth.EnvSecrets{GithubToken: envSecret, SSHPublicKey: envSecret, GeminiAPIKey: envSecret}
		must(t, s.CreateEnvironment(ctx, env))

		for _, table := range []string{"services", "revisions", "environments"} {
			rows, err := s.DB().QueryContext(ctx, "SELECT * FROM "+table)
			must(t, err)
			cols, err := rows.Columns()
			must(t, err)
			n := 0
			for rows.Next() {
				n++
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				must(t, rows.Scan(ptrs...))
				for i, v := range vals {
					var raw []byte
					switch v := v.(type) {
					case []byte:
						raw = v
					case string:
						raw = []byte(v)
					default:
						raw = fmt.Appendf(nil, "%v", v)
					}
					for _, secret := range []string{svcSecret, revSecret, envSecret} {
						if bytes.Contains(raw, []byte(secret)) {
							t.Errorf("%s.%s holds a plaintext secret", table, cols[i])
						}
					}
				}
			}
			must(t, rows.Err())
			rows.Close()
			if n == 0 {
				t.Fatalf("no rows in %s", table)
			}
		}
		got, err := s.GetService(ctx, svc.Ref())
		must(t, err)
		equal(t, "service secrets", got.Spec.Secrets["TOKEN"], svcSecret)
		r, err := s.GetRevision(ctx, svc.Ref(), 1)
		must(t, err)
		equal(t, "revision secrets", r.Spec.Secrets["TOKEN"], revSecret)
		e, err := s.GetEnvironment(ctx, "env-s")
		must(t, err)
		equal(t, "environment secrets", e.Secrets, env.Secrets)
	})
}

// TestWrongKey checks that a store opened with another key cannot read
// secrets (and says so without leaking them).
func TestWrongKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := store.Open(ctx, path, storetest.NewSealer())
	must(t, err)
	svc, rev := newService("local", "", "web")
	must(t, s.CreateService(ctx, svc, rev))
	must(t, s.Close())
	s, err = store.Open(ctx, path, storetest.NewSealer())
	must(t, err)
	defer s.Close()
	_, err = s.GetService(ctx, svc.Ref())
	if err == nil {
		t.Fatal("reading with another key succeeded")
	}
	if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
		t.Fatalf("error leaks the secret: %v", err)
	}
}

func TestReopenSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "dir", "berth.db")
	sealer := storetest.NewSealer()
	s, err := store.Open(ctx, path, sealer)
	must(t, err)
	equal(t, "kind", s.Kind(), "sqlite")
	must(t, s.CreateUser(ctx, &berth.User{ID: "usr-a", Username: "alice", Role: berth.RoleAdmin}))
	env := newEnv("env-1", "usr-a", "local", base)
	must(t, s.CreateEnvironment(ctx, env))
	var applied int64
	must(t, s.DB().QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&applied))
	must(t, s.Close())

	s, err = store.Open(ctx, path, sealer)
	must(t, err)
	defer s.Close()
	must(t, s.Ping(ctx))
	u, err := s.GetUserByUsername(ctx, "alice")
	must(t, err)
	equal(t, "user id", u.ID, "usr-a")
	got, err := s.GetEnvironment(ctx, "env-1")
	must(t, err)
	equal(t, "environment", got, env)
	var n int
	var again int64
	must(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	must(t, s.DB().QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&again))
	files, err := os.ReadDir("migrations")
	must(t, err)
	equal(t, "migrations recorded", n, len(files))
	equal(t, "applied_at unchanged", again, applied)
}

// TestConcurrentOpenPostgres starts two "replicas" on one database at once:
// the advisory lock makes one migrate and the other see it done.
func TestConcurrentOpenPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(ctx, url, storetest.NewSealer())
			if err == nil {
				equal(t, "kind", s.Kind(), "postgres")
				err = s.Ping(ctx)
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
}

// TestConcurrentWritesSQLite writes from two stores on one file (as two
// processes would) without SQLITE_BUSY.
func TestConcurrentWritesSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "berth.db")
	sealer := storetest.NewSealer()
	var stores []*store.Store
	for range 2 {
		s, err := store.Open(ctx, path, sealer)
		must(t, err)
		defer s.Close()
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc, rev := newService("local", "", fmt.Sprintf("svc-%d", g))
			if err := s.CreateService(ctx, svc, rev); err != nil {
				errs <- err
				return
			}
			for i := range 50 {
				var err error
				switch i % 3 {
				case 0:
					err = s.AppendAudit(ctx, &berth.AuditEntry{Action: "test", Status: berth.AuditCompleted})
				case 1:
					err = s.CreateEnvironment(ctx, newEnv(fmt.Sprintf("env-%d-%d", g, i), "u", "local", time.Now()))
				case 2: // a transaction
					svc.Revision++
					err = s.UpdateService(ctx, svc, &berth.Revision{Number: svc.Revision, Spec: svc.Spec})
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d write %d: %w", g, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, total, err := stores[0].ListAudit(ctx, berth.AuditFilter{})
	must(t, err)
	equal(t, "audit entries", total, 2*17)
}

// TestListPerformance lists 200 of 1,000 rows well within a request budget.
func TestListPerformance(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		for i := range 1000 {
			svc, rev := newService("local", "", fmt.Sprintf("svc-%04d", i))
			must(t, s.CreateService(ctx, svc, rev))
			must(t, s.CreateEnvironment(ctx, newEnv(fmt.Sprintf("env-%04d", i), "u", "local", base.Add(time.Duration(i)*time.Second))))
		}
		start := time.Now()
		svcs, total, err := s.ListServices(ctx, berth.ServiceFilter{Offset: 400, Limit: 200})
		must(t, err)
		equal(t, "services", len(svcs), 200)
		equal(t, "total", total, 1000)
		envs, total, err := s.ListEnvironments(ctx, berth.EnvironmentFilter{UserID: "u", Offset: 400, Limit: 200})
		must(t, err)
		equal(t, "environments", len(envs), 200)
		equal(t, "total", total, 1000)
		equal(t, "first", envs[0].ID, "env-0599")
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("listing took %s", d)
		} else {
			t.Logf("two lists of 200/1000 took %s", d)
		}
	})
}
