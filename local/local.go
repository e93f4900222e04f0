// Package local is the runtime that runs services and dev environments as
// supervised child processes on this host.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth"
)

// Config configures a local runtime.
type Config struct {
	Name          string              // target name, default "local"
	DataDir       string              // all state lives below: services/, environments/, run/
	BerthBinary   string              // berth binary for the default environment template (default os.Executable())
	Templates     map[string]Template // environment templates; "default" is built in unless overridden
	MaxLogBytes   int64               // per log file before rotation (default 10 MiB; one rotated file kept)
	BackoffBase   time.Duration       // crash restart backoff start (default 1s)
	BackoffMax    time.Duration       // crash restart backoff cap (default 1m)
	StopGrace     time.Duration       // SIGTERM → SIGKILL grace (default 10s)
	ProbeInterval time.Duration       // health probe period (default 1s)
	ReadyTimeout  time.Duration       // how long a rolling update waits for a new replica (default 2m)
	Logger        *slog.Logger

	// Isolation, when berth runs as root and UIDs is set: each berth user's
	// workloads run as that user's own uid (gid of the same number, no
	// supplementary groups, no_new_privs), recorded in UIDs and allocated
	// from UIDMin..UIDMax (default DefaultUIDMin..DefaultUIDMax). Not root:
	// workloads run as berth's user and the target reports SingleTenant.
	UIDs           berth.UIDStore
	UIDMin, UIDMax uint32
	// WorkloadDir holds what workloads reach: services' config, work and home
	// directories, environments' workspace and home (default DataDir). With
	// isolation each workload's directory is its uid's, 0700, and the
	// directories above it 0711; DataDir keeps berth's logs and pid files.
	WorkloadDir string
}

// Template is the command of an environment. $PORT, $WORKSPACE and $HOME in
// Command and Env values are expanded by berth; other $ references are kept.
type Template struct {
	Command []string
	Env     map[string]string
}

const (
	settleTime       = 300 * time.Millisecond // no health check: ready when still running after this
	backoffResetTime = 30 * time.Second       // a process up this long resets its backoff
	maxLineBytes     = 64 << 10
)

// Runtime runs services and environments as child processes.
type Runtime struct {
	cfg Config
	log *slog.Logger

	isolate bool // workloads run as their users' own uids

	mu       sync.Mutex
	services map[string]*service
	envs     map[string]*environment
	closed   bool

	idMu sync.Mutex
	ids  map[string]identity // by owner
}

var (
	_ berth.Runtime       = (*Runtime)(nil)
	_ berth.ServiceLogger = (*Runtime)(nil)
	_ berth.UsageReporter = (*Runtime)(nil)
	_ berth.Inventorier   = (*Runtime)(nil)
)

// New prepares DataDir and kills processes left behind by a previous berth
// that died without stopping them, so what the caller re-applies runs once.
func New(cfg Config) (*Runtime, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("local runtime: DataDir is required")
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	if cfg.BerthBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local runtime: find berth binary: %w", err)
		}
		cfg.BerthBinary = exe
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = 10 << 20
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UIDMin == 0 && cfg.UIDMax == 0 {
		cfg.UIDMin, cfg.UIDMax = DefaultUIDMin, DefaultUIDMax
	}
	if cfg.UIDMin == 0 || cfg.UIDMax < cfg.UIDMin {
		return nil, berth.Invalid("uidRange", "%d-%d is not a range of non-root uids", cfg.UIDMin, cfg.UIDMax)
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("local runtime: data dir: %w", err)
	}
	cfg.DataDir = abs
	for _, d := range []string{"services", "environments", "run"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("local runtime: create data dir: %w", err)
		}
	}
	if cfg.WorkloadDir == "" {
		cfg.WorkloadDir = abs
	}
	if cfg.WorkloadDir, err = filepath.Abs(cfg.WorkloadDir); err != nil {
		return nil, fmt.Errorf("local runtime: workload dir: %w", err)
	}
	r := &Runtime{
		cfg:      cfg,
		log:      cfg.Logger.With("target", cfg.Name),
		services: map[string]*service{},
		envs:     map[string]*environment{},
		ids:      map[string]identity{},
		isolate:  os.Geteuid() == 0 && cfg.UIDs != nil,
	}
	switch {
	case os.Geteuid() != 0:
		r.log.Warn("berth does not run as root and cannot run workloads as their users' own uids: " +
			"every workload runs as berth's user, so only admins may create or change services and environments on this target")
	case !r.isolate:
		r.log.Warn("no uid store configured: workloads run as root")
	}
	if cfg.WorkloadDir != abs {
		if err := r.sharedDir(cfg.WorkloadDir); err != nil {
			return nil, fmt.Errorf("local runtime: %w", err)
		}
	}
	for _, d := range []string{"services", "environments"} {
		if err := r.sharedDir(filepath.Join(cfg.WorkloadDir, d)); err != nil {
			return nil, fmt.Errorf("local runtime: %w", err)
		}
	}
	if r.isolate {
		r.checkReachable("the workload directory", cfg.WorkloadDir)
		r.checkReachable("berth's binary (it starts every workload)", cfg.BerthBinary)
	}
	if err := r.killLeftovers(); err != nil {
		return nil, err
	}
	return r, nil
}

// Info describes the target.
func (r *Runtime) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: r.cfg.Name, Provider: berth.ProviderLocal, SingleTenant: os.Geteuid() != 0}
}

// Ping always succeeds: this host is reachable.
func (r *Runtime) Ping(context.Context) error { return nil }

// Close stops every process gracefully (in parallel) and forgets the desired
// state; the caller re-applies it after a restart.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	svcs := make([]*service, 0, len(r.services))
	for _, s := range r.services {
		svcs = append(svcs, s)
	}
	envs := make([]*environment, 0, len(r.envs))
	for _, e := range r.envs {
		envs = append(envs, e)
	}
	r.services = map[string]*service{}
	r.envs = map[string]*environment{}
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, s := range svcs {
			wg.Go(s.shutdown)
		}
		for _, e := range envs {
			wg.Go(e.shutdown)
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close local runtime: %w", ctx.Err())
	}
}

func (r *Runtime) errClosed() error {
	return berth.Errorf(berth.EUNAVAILABLE, "target %q is shutting down", r.cfg.Name)
}

// processEnv builds a child's environment: only a few harmless variables of
// berth's own environment (never its secrets), then extra in sorted order.
func processEnv(extra map[string]string) []string {
	m := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "LANG", "TMPDIR", "USER"} {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

// freePort asks the kernel for a free loopback port. It is free when
// returned; the child binds it a moment later.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("allocate port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// envKey turns a port name into the suffix of PORT_<NAME>.
func envKey(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validateID(field, id string) error {
	if !safeID.MatchString(id) {
		return berth.Invalid(field, "%q must be 1-128 letters, digits, '.', '_' or '-'", id)
	}
	return nil
}
