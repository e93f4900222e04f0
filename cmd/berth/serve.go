package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/leader"
	"github.com/berthhq/berth/loki"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/tracing"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newServeCmd(e *cliEnv) *cobra.Command {
	var configPath, listen, dataDir string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the berth server: API, background loops and the local runtime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			getenv, err := layeredEnv(e.getenv, ".env")
			if err != nil {
				return err
			}
			cfg, err := loadServerConfig(getenv, configPath)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if dataDir != "" {
				cfg.DataDir = dataDir
			}
			return serve(cmd.Context(), cfg, getenv, e)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "berth.yaml to read (default ./berth.yaml when present; env BERTH_CONFIG_FILE)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (env BERTH_LISTEN, or HOST and PORT; default 127.0.0.1:8080)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "where berth keeps its database, key and workloads (env BERTH_DATA_DIR; default ./berth-data)")
	return cmd
}

// serve runs berth until ctx is done, then drains for up to 30 s and joins
// every goroutine it started before the store closes.
func serve(ctx context.Context, cfg *serverConfig, getenv func(string) string, e *cliEnv) error {
	logger, err := newLogger(cfg.LogLevel, e.stderr)
	if err != nil {
		return err
	}
	if err := applyMemoryLimit(cfg, getenv, logger); err != nil {
		return err
	}
	// OTEL_* (process environment) turn tracing on; off, spans are no-ops.
	stopTracing, err := tracing.Setup(ctx, version)
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, logger)
	b, err := openBase(ctx, cfg, getenv, logger)
	if err != nil {
		return err
	}
	defer func() { b.close(); logger.Info("store closed") }()
	// Every background goroutine runs in loops and is joined before the
	// store closes, on every return path.
	ctx, cancel := context.WithCancel(ctx)
	var loops errgroup.Group
	defer func() { cancel(); _ = loops.Wait() }()
	// Replicas sharing PostgreSQL elect one to run the background loops
	// (sync, auto-stop, metrics writes, orphan cleanup); on SQLite this
	// process always leads.
	elector := leader.New(b.st, "background-loops", 5*time.Second, logger.With("component", "leader"))
	loops.Go(func() error { elector.Run(ctx); return nil })

	ts, err := buildTargets(ctx, b, elector.Leading, &loops)
	if err != nil {
		return err
	}
	defer ts.closeLocals(logger) // processes stop with berth; after a restart the store brings them back
	// Events cross replicas through LISTEN/NOTIFY on PostgreSQL; in-process on SQLite.
	bus, err := events.Open(ctx, b.st.Kind(), b.dbURL, logger.With("component", "events"))
	if err != nil {
		return fmt.Errorf("event bus: %w", err)
	}
	defer bus.Close()
	c, err := buildCore(ctx, b, ts, bus, elector.Leading)
	if err != nil {
		return err
	}
	defer c.Stop()
	srv, err := buildServer(ctx, b, ts, c, bus, elector.Leading, &loops)
	if err != nil {
		return err
	}
	announce(e, b, len(ts.runtimes))
	// The loops are joined once requests are drained, before core, the
	// local runtimes, the bus and the store close (the defers above).
	return srv.run(ctx, b.ln, logger, cfg.d.shutdown, func() { cancel(); _ = loops.Wait() })
}

// newLogger is berth's JSON logger at the configured level, secrets redacted.
func newLogger(levelName string, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(strings.ToUpper(levelName))); err != nil && levelName != "" {
		return nil, fmt.Errorf("logLevel: %q is not one of debug, info, warn, error", levelName)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: secret.RedactAttr})
	return slog.New(tracing.LogHandler(h)), nil // trace_id and span_id on lines logged inside a span
}

// flushTraces sends the spans still buffered, for up to 5 s.
func flushTraces(stop func(context.Context) error, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		logger.Warn("flush traces", "err", err)
	}
}

// base is what every builder uses: the configuration, the private data dir,
// the master key and the store.
type base struct {
	cfg          *serverConfig
	getenv       func(string) string
	logger       *slog.Logger
	dataDir      string
	workloadRoot string
	master       []byte
	dbURL        string
	st           *store.Store
	accounts     *core.Accounts
	first        string // the admin's first password, shown once
	ln           net.Listener
	url          string // the listener's
	public       string // publicURL, else url
}

// openBase makes the data dir private, loads the key, opens the store,
// bootstraps the admin account and listens. Closing the store closes the
// listener too (base.close).
func openBase(ctx context.Context, cfg *serverConfig, getenv func(string) string, logger *slog.Logger) (*base, error) {
	// Nothing berth creates is for other users: its data dir is 0700 (also
	// one made by an older berth), database and key 0600. Workloads reach
	// only their own directories, under the workload dir.
	syscall.Umask(0o077)
	b := &base{cfg: cfg, getenv: getenv, logger: logger}
	var err error
	if b.dataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(b.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(b.dataDir, 0o700); err != nil { // #nosec G302 -- a directory: 0700 is private to berth
		return nil, fmt.Errorf("make data dir private: %w", err)
	}
	if b.workloadRoot, err = filepath.Abs(cmp.Or(cfg.WorkloadDir, b.dataDir+"-workloads")); err != nil {
		return nil, fmt.Errorf("workload dir: %w", err)
	}
	if b.master, err = secret.LoadKey(getenv, filepath.Join(b.dataDir, "secret.key")); err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	sealer, err := secret.NewSealer(secret.DeriveKey(b.master, "seal"))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	b.dbURL = cmp.Or(cfg.DatabaseURL, filepath.Join(b.dataDir, "berth.db"))
	if b.st, err = store.Open(ctx, b.dbURL, sealer); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	tokens := &auth.Tokens{Key: secret.DeriveKey(b.master, "jwt"), TTL: cfg.d.sessionTTL}
	b.accounts = &core.Accounts{Store: b.st, Tokens: tokens, LoginFailures: perMinute(cfg.LoginFailureLimit)}
	if b.first, err = b.accounts.Bootstrap(ctx, getenv("BERTH_ADMIN_PASSWORD")); err != nil {
		_ = b.st.Close()
		return nil, err
	}
	if b.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		_ = b.st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	b.url = "http://" + b.ln.Addr().String()
	b.public = cmp.Or(cfg.PublicURL, b.url)
	return b, nil
}

func (b *base) close() {
	_ = b.ln.Close()
	_ = b.st.Close()
}

// buildCore wires core to the store, targets and bus and starts its loops
// (core.Stop joins them).
func buildCore(ctx context.Context, b *base, ts *targets, bus events.Bus, leading func() bool) (*core.Core, error) {
	activityKey := secret.DeriveKey(b.master, "activity")
	// Each environment's proxy secret is its own HKDF sub-key: knowing one
	// says nothing of another's, and nothing needs storing.
	proxySecret := func(id string) string {
		return base64.RawURLEncoding.EncodeToString(secret.DeriveKey(b.master, secret.PurposeProxy+"/"+id))
	}
	logSources, err := buildLogSources(b.cfg, ts.runtimes)
	if err != nil {
		return nil, err
	}
	extra := map[string][]berth.Capability{}
	for name := range ts.usage {
		extra[name] = []berth.Capability{berth.CapMetrics}
	}
	cfg := b.cfg
	rec, err := cfg.Recommend.settings(b.getenv, cfg.d)
	if err != nil {
		return nil, err
	}
	dormancy, err := cfg.dormancy()
	if err != nil {
		return nil, err
	}
	c, err := core.New(core.Config{Events: bus, Dormancy: dormancy, LogSources: logSources, ExtraCapabilities: extra, Leading: leading,
		Store: b.st, Runtimes: ts.runtimes, DefaultTarget: cfg.DefaultTarget, MaxReplicas: cfg.MaxReplicas,
		ActivityToken: func(id string) string { return auth.ActivityToken(activityKey, id) },
		PublicURL:     b.public, SyncInterval: cfg.d.sync, Logger: b.logger,
		OrphanGrace: ts.orphanGrace, OrphanInterval: cfg.d.orphan,
		Policies: cfg.policies(), Prices: cfg.prices(), ProxySecret: proxySecret, EnvDomain: cfg.EnvDomain,
		Recommend: rec,
		// Replicas on one PostgreSQL: a target missing here may be another's.
		SharedStore: b.st.Kind() == store.Postgres,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// buildLogSources: with lokiURL, service logs come from Loki (LogQL), one
// selector per target; nil otherwise.
func buildLogSources(cfg *serverConfig, runtimes []berth.Runtime) (map[string]berth.ServiceLogger, error) {
	if cfg.LokiURL == "" {
		return nil, nil
	}
	lc, err := loki.New(cfg.LokiURL)
	if err != nil {
		return nil, fmt.Errorf("lokiURL: %w", err)
	}
	var infos []berth.TargetInfo
	for _, rt := range runtimes {
		infos = append(infos, rt.Info())
	}
	selectors := map[string]string{}
	for _, t := range cfg.Targets {
		if t.LokiSelector != "" {
			selectors[t.Name] = t.LokiSelector
		}
	}
	sources, err := loki.Sources(lc, infos, selectors)
	if err != nil {
		return nil, fmt.Errorf("loki: %w", err)
	}
	return sources, nil
}

// perMinute is a limiter of n events per minute with bursts of n (nil when
// n <= 0: off).
func perMinute(n float64) *auth.Limiter {
	if n <= 0 {
		return nil
	}
	return auth.NewLimiter(n/60, int(n))
}
