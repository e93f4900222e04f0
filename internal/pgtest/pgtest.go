// Package pgtest runs a throwaway PostgreSQL server for tests, from
// Debian's binaries (initdb, postgres): one server per test binary, a fresh
// database per test.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// ErrNoPostgres means initdb or postgres is not installed.
var ErrNoPostgres = errors.New("PostgreSQL binaries (initdb, postgres) not found: apt-get install postgresql")

// Server is a running PostgreSQL server owned by the test process.
type Server struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exited
	log  string

	// What Restart needs to start the same server again.
	postgres, data string
	cred           *syscall.Credential

	stopOnce sync.Once
	dbSeq    atomic.Int64
}

// findBin returns the directory holding initdb and postgres: PATH first,
// else the newest /usr/lib/postgresql/*/bin.
func findBin() (string, error) {
	if _, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return "", nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start runs initdb on a temporary directory and postgres on a free
// loopback port, and waits until it accepts connections. As root both run
// as the "postgres" OS user, since postgres refuses to run as root.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	binary := func(name string) string {
		if bin == "" {
			return name
		}
		return filepath.Join(bin, name)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	cred, err := credential(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	data := filepath.Join(dir, "data")
	// #nosec G204 -- the test harness runs the PostgreSQL it found
	initdb := exec.Command(binary("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: initdb: %w: %s", err, tail(string(out)))
	}
	// A free port can be taken between probing and binding: try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		s := &Server{Port: port, dir: dir, postgres: binary("postgres"), data: data, cred: cred}
		err = s.launch()
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// credential returns the OS identity postgres runs as: the postgres user
// (owning dir) when we are root, else ourselves.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres OS user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of the postgres OS user: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of the postgres OS user: %w", err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts postgres on s's data directory and port and waits until it
// accepts connections.
func (s *Server) launch() error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the log the test harness writes
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer logf.Close()
	// #nosec G204 -- the test harness runs the PostgreSQL it found
	cmd := exec.Command(s.postgres, "-D", s.data, "-p", strconv.Itoa(s.Port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies without cleanup, so does postgres.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.log = cmd, done, logPath
	go func() { _ = cmd.Wait(); close(done) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.kill()
		return err
	}
	return nil
}

// Restart stops the server as `pg_ctl stop -m fast` does (SIGINT: clients
// are disconnected, the data is checkpointed), calls whileDown, then starts
// it again on the same data directory and port and waits until it accepts
// connections. It must not run concurrently with Stop.
func (s *Server) Restart(whileDown func()) error {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if whileDown != nil {
		whileDown()
	}
	return s.launch()
}

// waitReady polls until the server accepts connections, it exits or the
// deadline passes.
func (s *Server) waitReady(limit time.Duration) error {
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("start postgres: exited: %s", tail(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start postgres: not ready after %s: %w", limit, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for a condition
	}
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// URL returns the postgres:// URL of a database on this server.
func (s *Server) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, dbname)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// LogPath is the file postgres writes its log to (it goes with Stop).
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// Stop shuts the server down, waits for it and removes its files.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.kill()
		_ = os.RemoveAll(s.dir)
	})
}

// NewDatabase creates a fresh, uniquely named database, dropped when the
// test ends, and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbSeq.Add(1))
	if err := s.admin(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.admin(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

func (s *Server) admin(stmt string) error {
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the server of this test binary, starting it on first use.
// Without PostgreSQL the test fails under CI=true and is skipped otherwise.
// Call Main from TestMain so the server is stopped when the tests end.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Start() })
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoPostgres) && os.Getenv("CI") != "true" {
			t.Skipf("skipping: %v", shared.err)
		}
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests and stops the shared server, if one was started:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	os.Exit(code)
}
