// Package store implements berth.Store on database/sql for SQLite
// (modernc.org/sqlite, the single-node default) and PostgreSQL (pgx, for
// several replicas) from one code base: queries are written once with '?'
// placeholders and rebound for PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Kinds of database a Store runs on.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is berth.Store on SQLite or PostgreSQL.
type Store struct {
	// db is where writes and transactions run. On SQLite it holds ONE
	// connection: SQLite has a single writer lock, and writers that wait
	// for it in SQLite's busy handler (it polls, up to 100 ms apart) lose
	// it again and again to newcomers, so under load some waited past the
	// busy timeout ("database is locked") or past the audit write's
	// deadline. With one connection, writers queue in Go instead, each
	// until its own context ends. On PostgreSQL it is the one pool.
	db *sql.DB
	// w is db with writers taking turns (writer.go).
	w writer
	// rdb is where reads outside a transaction run: on SQLite a pool of
	// query_only connections (WAL readers neither wait for the writer nor
	// make it wait); on PostgreSQL db itself.
	rdb    *sql.DB
	kind   string
	sealer berth.Sealer
	// clock stamps usage intervals (SetClock; time.Now by default).
	clock func() time.Time
	// seriesIDs are the metric series' ids PutMetrics has met.
	seriesIDs seriesIDs
}

var _ berth.Store = (*Store)(nil)

// Open connects to the database named by url and applies pending migrations.
// A url starting with postgres:// or postgresql:// is PostgreSQL; anything
// else is the path of a SQLite file (its directory is created 0700).
// sealer encrypts secrets at rest.
func Open(ctx context.Context, url string, sealer berth.Sealer) (*Store, error) {
	if sealer == nil {
		return nil, errors.New("open store: a sealer is required")
	}
	return open(ctx, url, sealer, true)
}

// OpenExisting connects to an existing berth database without migrating
// it and without a sealer (sealed values stay sealed): for backups and the
// source of migrate-store, which must not change the database they read.
func OpenExisting(ctx context.Context, url string) (*Store, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s, err := open(ctx, url, noSealer{}, false)
	if err != nil {
		return nil, err
	}
	if _, err := s.SchemaVersions(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open store: not a berth database: %w", err)
	}
	return s, nil
}

type noSealer struct{}

func (noSealer) Seal([]byte) ([]byte, error) {
	return nil, errors.New("this store was opened without the secret key")
}
func (noSealer) Open([]byte) ([]byte, error) {
	return nil, errors.New("this store was opened without the secret key")
}

func open(ctx context.Context, url string, sealer berth.Sealer, migrate bool) (*Store, error) {
	s := &Store{sealer: sealer, clock: time.Now}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		s.kind = Postgres
		pc, err := pgx.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err) // pgx never echoes the password
		}
		pc.Tracer = pgTracer{}
		s.db = stdlib.OpenDB(*pc)
		s.rdb = s.db
	} else {
		s.kind = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "file:")
		if path == "" {
			return nil, errors.New("open store: empty database path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if err := privateDBFiles(path); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.db, s.rdb = openSQLite(path)
	}
	// The writer first: on a new SQLite file it switches the journal to
	// WAL, which a query_only reader could not.
	if err := s.db.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open %s store: %w", s.kind, err)
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open %s store: %w", s.kind, err)
	}
	s.w = newWriter(s.db, s.kind == SQLite)
	if !migrate {
		return s, nil
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open %s store: %w", s.kind, err)
	}
	return s, nil
}

// busyTimeout is how long a SQLite statement waits in SQLite's busy
// handler for a lock another connection holds (a variable for tests).
var busyTimeout = 10 * time.Second

// sqliteReaders bounds the SQLite read pool: modernc's SQLite runs on the
// CPU of its caller, so more readers than a few per core only queue there.
func sqliteReaders() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// openSQLite opens the writer (one connection) and the readers of the
// SQLite file at path. busy_timeout still covers another process (berth
// backup) and the readers' brief waits on the WAL index; _txlock=immediate
// takes the write lock at BEGIN, so a transaction that reads first never
// fails upgrading its read lock.
func openSQLite(path string) (writer, readers *sql.DB) {
	dsn := "file:" + uriPath(path) + "?_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	writer = sql.OpenDB(sqliteConnector{drv: &sqlite.Driver{}, dsn: dsn + "&_txlock=immediate"})
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	// query_only: a write sent to a reader by mistake fails at once
	// instead of competing with the writer for the lock.
	readers = sql.OpenDB(sqliteConnector{drv: &sqlite.Driver{}, dsn: dsn + "&_pragma=query_only(1)"})
	readers.SetMaxOpenConns(sqliteReaders())
	readers.SetMaxIdleConns(sqliteReaders())
	readers.SetConnMaxIdleTime(time.Minute) // each holds a page cache: quiet, it goes
	return writer, readers
}

// uriPath escapes what a SQLite URI filename would read as its query or
// fragment, so that a data dir named like "a#1" (a Go subtest's TempDir)
// opens that very file, not a truncated path elsewhere.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// privateDBFiles makes the SQLite file and its -wal and -shm 0600, those of
// an older berth included: SQLite gives -wal and -shm the mode of the
// database file, so a database created 0600 keeps them private too.
func privateDBFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the database path is berth's own configuration
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	_ = f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("make %s private: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// Kind returns "sqlite" or "postgres".
func (s *Store) Kind() string { return s.kind }

// DB returns the underlying database, for tests and maintenance.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	// The readers: a ping must not queue behind SQLite's writes.
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.kind, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// q rewrites '?' placeholders for the dialect. Queries in this package
// never hold a literal '?'.
func (s *Store) q(query string) string {
	if s.kind != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

// txKey carries the transaction of SerializeUser in a context, per store.
type txKey struct{ s *Store }

// x is what a store method runs its statements on: the transaction ctx
// carries (inside SerializeUser), else the database (its writer).
func (s *Store) x(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return tx
	}
	return s.w
}

// r is what a store method only reads with: the transaction ctx carries
// (so a read sees that transaction's writes), else the readers, which
// never queue behind SQLite's writer.
func (s *Store) r(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return tx
	}
	return s.rdb
}

// inTx runs fn in a transaction, committing when it returns nil. Inside
// the transaction ctx carries, fn runs in that one (committed by its owner).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return fn(tx)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	// A call's audit entry commits with its first change (berth.AuditIntent).
	settle, err := s.auditWithChange(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	err = tx.Commit()
	settle(err == nil)
	return err
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// pageClause returns the LIMIT/OFFSET suffix and its arguments.
func pageClause(offset, limit int) (string, []any) {
	if offset < 0 {
		offset = 0
	}
	switch {
	case limit > 0:
		return " LIMIT ? OFFSET ?", []any{limit, offset}
	case offset > 0:
		return " LIMIT ? OFFSET ?", []any{int64(1) << 62, offset}
	}
	return "", nil
}

// Times are stored as UTC Unix microseconds: both databases then return
// identical values and compare them as plain integers.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// norm is t as the store returns it, so callers hold what a read gives back.
func norm(t time.Time) time.Time { return fromMicros(micros(t)) }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

// seal encrypts the JSON of v; nil when v is empty so rows without secrets
// hold NULL.
func (s *Store) seal(plain []byte) ([]byte, error) {
	if plain == nil {
		return nil, nil
	}
	b, err := s.sealer.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	return b, nil
}

func (s *Store) open(sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	b, err := s.sealer.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("open sealed secrets: %w", err)
	}
	return b, nil
}

func now() time.Time { return norm(time.Now()) }
