package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/aci"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/kube"
	"github.com/berthhq/berth/leader"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/loki"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/web"
	"github.com/berthhq/berth/wshub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
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

// serve runs berth until ctx is done, then drains for up to 30 s.
func serve(ctx context.Context, cfg *serverConfig, getenv func(string) string, e *cliEnv) error {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil && cfg.LogLevel != "" {
		return fmt.Errorf("logLevel: %q is not one of debug, info, warn, error", cfg.LogLevel)
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: secret.RedactAttr}))

	// Nothing berth creates is for other users: its data dir is 0700 (also
	// one made by an older berth), database and key 0600. Workloads reach
	// only their own directories, under the workload dir.
	syscall.Umask(0o077)
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return fmt.Errorf("make data dir private: %w", err)
	}
	workloadRoot, err := filepath.Abs(cmp.Or(cfg.WorkloadDir, dataDir+"-workloads"))
	if err != nil {
		return fmt.Errorf("workload dir: %w", err)
	}
	master, err := secret.LoadKey(getenv, filepath.Join(dataDir, "secret.key"))
	if err != nil {
		return fmt.Errorf("load secret key: %w", err)
	}
	sealer, err := secret.NewSealer(secret.DeriveKey(master, "seal"))
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = filepath.Join(dataDir, "berth.db")
	}
	st, err := store.Open(ctx, dbURL, sealer)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Replicas sharing PostgreSQL elect one to run the background loops
	// (sync, auto-stop, metrics writes, orphan cleanup); on SQLite this
	// process always leads.
	elector := leader.New(st, "background-loops", 5*time.Second, logger.With("component", "leader"))
	go elector.Run(ctx)

	tokens := &auth.Tokens{Key: secret.DeriveKey(master, "jwt"), TTL: durationOr(cfg.SessionTTL, time.Hour)}
	accounts := &core.Accounts{Store: st, Tokens: tokens, LoginFailures: perMinute(cfg.LoginFailureLimit)}
	firstPassword, err := accounts.Bootstrap(ctx, getenv("BERTH_ADMIN_PASSWORD"))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = url
	}

	var runtimes []berth.Runtime
	var locals []*local.Runtime
	var aciCfgs []aci.Config
	usage := map[string]metrics.Source{}      // by target; local targets measure themselves
	orphanGrace := map[string]time.Duration{} // targets whose orphans core removes
	for _, t := range cfg.Targets {
		if t.Disabled {
			continue
		}
		switch t.Type {
		case "kubernetes":
			images := map[string]string{}
			for name, tpl := range t.Templates {
				if tpl.Image != "" {
					images[name] = tpl.Image
				}
			}
			rt, err := kube.New(kube.Config{Target: t.Name, Region: t.Region, Kubeconfig: t.Kubeconfig,
				Context: t.Context, Namespaces: t.Namespaces, DefaultNamespace: t.DefaultNamespace,
				EnvNamespace: t.EnvironmentNamespace, WorkspaceImage: t.Image, Templates: images,
				WorkspacePath: t.WorkspacePath, IDEPort: t.IDEPort, StorageClass: t.StorageClass,
				URLTemplate: t.URLTemplate, AgentBaseURL: cfg.PublicURL,
				IngressHost: t.IngressHost, IngressClassName: t.IngressClassName, IngressTLSSecret: t.IngressTLSSecret,
				WorkspaceFSGroup: t.WorkspaceFSGroup, ImagePullSecrets: t.ImagePullSecrets})
			if err != nil {
				return fmt.Errorf("target %s: %w", t.Name, err)
			}
			rt.Start(ctx) // informers; reads wait for their sync, so a down cluster does not stop berth
			runtimes = append(runtimes, rt)
			if u := cmp.Or(t.PrometheusURL, cfg.PrometheusURL); u != "" {
				src, err := metrics.NewPromSource(t.Name, metrics.PromConfig{URL: u, Pods: metrics.PodsKubernetes,
					EnvNamespace: rt.EnvNamespace()})
				if err != nil {
					return fmt.Errorf("target %s: %w", t.Name, err)
				}
				usage[t.Name] = src
			}
			if t.CleanupOrphans {
				grace, err := time.ParseDuration(cmp.Or(t.OrphanGrace, "1h"))
				if err != nil {
					return fmt.Errorf("target %s: orphanGrace: %q is not a duration (e.g. 1h)", t.Name, t.OrphanGrace)
				}
				orphanGrace[t.Name] = grace
			}
		case "aci":
			tc := t.TargetConfig
			tc.Name = t.Name
			for name, tpl := range t.Templates {
				if tpl.Image != "" {
					if tc.Templates == nil {
						tc.Templates = map[string]string{}
					}
					tc.Templates[name] = tpl.Image
				}
			}
			c, err := tc.Config(getenv)
			if err != nil {
				return fmt.Errorf("target %s: %w", t.Name, err)
			}
			aciCfgs = append(aciCfgs, c)
		case "local":
			tmpl := map[string]local.Template{}
			for name, tc := range t.Templates {
				tmpl[name] = local.Template{Command: tc.Command, Env: tc.Env}
			}
			uidMin, uidMax, _ := parseUIDRange(t.UIDRange) // checked by loadServerConfig
			wdir := t.WorkloadDir
			if wdir == "" {
				// The root is passed through (0711), never listed.
				if err := os.MkdirAll(workloadRoot, 0o711); err != nil {
					return fmt.Errorf("create workload dir: %w", err)
				}
				if err := os.Chmod(workloadRoot, 0o711); err != nil {
					return fmt.Errorf("create workload dir: %w", err)
				}
				wdir = filepath.Join(workloadRoot, t.Name)
			}
			rt, err := local.New(local.Config{Name: t.Name, DataDir: filepath.Join(dataDir, "targets", t.Name),
				Templates: tmpl, Logger: logger.With("target", t.Name),
				UIDs: st, UIDMin: uidMin, UIDMax: uidMax, WorkloadDir: wdir})
			if err != nil {
				return fmt.Errorf("target %s: %w", t.Name, err)
			}
			locals = append(locals, rt)
			runtimes = append(runtimes, rt)
			if st.Kind() == store.Postgres {
				// The local runtime runs processes on this host from the shared
				// desired state: every replica with it runs the same services.
				logger.Warn("a local target on a shared PostgreSQL store: every berth replica that has it runs its services on its own host; "+
					"with several replicas, give local targets to one of them only (disabled: true on the others)", "target", t.Name)
			}
		}
	}
	// Dev8's AZURE_* variables make ACI targets when berth.yaml names none.
	if len(aciCfgs) == 0 {
		if aciCfgs, err = aci.ConfigsFromEnv(getenv); err != nil {
			return fmt.Errorf("azure targets: %w", err)
		}
	}
	known := func(ctx context.Context, id string) (bool, error) {
		_, err := st.GetEnvironment(ctx, id)
		if berth.IsCode(err, berth.ENOTFOUND) {
			return false, nil
		}
		return err == nil, err
	}
	for _, c := range aciCfgs {
		c.Known, c.Logger = known, logger.With("target", c.Name)
		if c.InstallationID == "" {
			// Stable across restarts and shared by replicas (they share the key).
			c.InstallationID = hex.EncodeToString(secret.DeriveKey(master, "installation")[:6])
		}
		if c.AgentBaseURL == "" {
			c.AgentBaseURL = publicURL
		}
		rt, err := aci.New(c)
		if err != nil {
			return fmt.Errorf("target %s: %w", c.Name, err)
		}
		runtimes = append(runtimes, rt)
		go rt.RunCleanup(ctx, 5*time.Minute, elector.Leading) // returns at once unless cleanupOrphans is on
	}
	// Processes stop with berth; after a restart the store brings them back.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, rt := range locals {
			if err := rt.Close(ctx); err != nil {
				logger.Error("stop local runtime", "err", err)
			}
		}
	}()

	// Events cross replicas through LISTEN/NOTIFY on PostgreSQL; in-process on SQLite.
	bus, err := events.Open(ctx, st.Kind(), dbURL, logger.With("component", "events"))
	if err != nil {
		return fmt.Errorf("event bus: %w", err)
	}
	defer bus.Close()

	// LOKI_URL: service logs come from Loki (LogQL), one selector per target.
	var logSources map[string]berth.ServiceLogger
	if cfg.LokiURL != "" {
		lc, err := loki.New(cfg.LokiURL)
		if err != nil {
			return fmt.Errorf("lokiURL: %w", err)
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
		if logSources, err = loki.Sources(lc, infos, selectors); err != nil {
			return fmt.Errorf("loki: %w", err)
		}
	}

	activityKey := secret.DeriveKey(master, "activity")
	// Each environment's proxy secret is its own HKDF sub-key: knowing one
	// says nothing of another's, and nothing needs storing.
	proxySecret := func(id string) string {
		return base64.RawURLEncoding.EncodeToString(secret.DeriveKey(master, secret.PurposeProxy+"/"+id))
	}
	c, err := core.New(core.Config{Events: bus, LogSources: logSources, Leading: elector.Leading,
		Store: st, Runtimes: runtimes, DefaultTarget: cfg.DefaultTarget, MaxReplicas: cfg.MaxReplicas,
		ActivityToken: func(id string) string { return auth.ActivityToken(activityKey, id) },
		PublicURL:     publicURL, SyncInterval: durationOr(cfg.SyncInterval, 2*time.Second), Logger: logger,
		OrphanGrace: orphanGrace, OrphanInterval: durationOr(cfg.OrphanInterval, time.Minute),
		Policies:    cfg.policies(),
		ProxySecret: proxySecret, EnvDomain: cfg.EnvDomain,
	})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer c.Stop()

	reg := prometheus.NewRegistry()
	workloads := metrics.NewCollector(logger, runtimes...) // under cAdvisor's names
	workloads.HideEnvironments = cfg.MetricsToken == ""    // an open /metrics names no user's environment
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), workloads)
	reg.MustRegister(c.Collectors()...) // the reconcile loop's drift counter

	// Local targets are measured from /proc, Kubernetes targets through
	// Prometheus (PROMETHEUS_URL) when one is configured.
	sampler, err := metrics.New(metrics.Config{Store: st, Runtimes: runtimes, Sources: usage, Leading: elector.Leading, Interval: durationOr(cfg.MetricsInterval, 15*time.Second),
		Retention: metrics.Retention{Raw: durationOr(cfg.MetricsRawRetention, 0), Minute: durationOr(cfg.MetricsMinuteRetention, 0),
			Hour: durationOr(cfg.MetricsHourRetention, 0)}, Publisher: bus, Logger: logger.With("loop", "metrics")})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	go sampler.Run(ctx)
	var limiter *auth.Limiter
	if cfg.RateLimit > 0 {
		limiter = auth.NewLimiter(cfg.RateLimit, int(cfg.RateLimit*2)+1)
	}
	accounts.Events = bus // revocations close WebSockets on every replica
	proxies, err := httpapi.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	hub := wshub.New(wshub.Config{Source: bus, Tickets: st, Logs: httpapi.FollowLogs(c), MaxClients: cfg.WSMaxClients,
		MaxPerUser: cfg.WSMaxClientsPerUser, Check: accounts.Check,
		OriginPatterns: wshub.OriginHosts(cfg.AllowedOrigins), Logger: logger.With("component", "ws")})
	api := httpapi.NewServer(httpapi.Deps{Events: bus, Hub: hub, Usage: httpapi.SamplerUsage(sampler), Sampler: sampler,
		Core: c, Accounts: accounts, Audit: st, ActivityKey: activityKey, Logger: logger, Leading: elector.Leading,
		Version: version, Started: time.Now(), Limiter: limiter, AllowedOrigins: cfg.AllowedOrigins, Registry: reg,
		MetricsHistory: sampler.History(), UI: web.Handler(), EnvProxy: core.NewEnvProxy(c, accounts, st),
		AuthFailures: perMinute(cfg.AuthFailureLimit), TrustedProxies: proxies,
		BodyTimeout: durationOr(cfg.BodyTimeout, 30*time.Second), MetricsToken: cfg.MetricsToken,
	})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: durationOr(cfg.HeaderTimeout, 10*time.Second),
		IdleTimeout: durationOr(cfg.IdleTimeout, 2*time.Minute),
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(api.CloseStreams)

	fmt.Fprintf(e.stdout, "berth %s is running at %s (store: %s, data: %s)\n", version, url, st.Kind(), dataDir)
	fmt.Fprintf(e.stdout, "Dashboard: open %s/ in a browser\n", url)
	if firstPassword != "" {
		fmt.Fprintf(e.stdout, "First start: log in as admin with password %s (shown once; change it or set BERTH_ADMIN_PASSWORD)\n", firstPassword)
		fmt.Fprintf(e.stdout, "  berth login --server %s --username admin\n", url)
	}
	logger.Info("berth started", "url", url, "store", st.Kind(), "targets", len(runtimes))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining requests for up to 30s")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("drain incomplete", "err", err)
	}
	return nil
}

// perMinute is a limiter of n events per minute with bursts of n (nil when
// n <= 0: off).
func perMinute(n float64) *auth.Limiter {
	if n <= 0 {
		return nil
	}
	return auth.NewLimiter(n/60, int(n))
}
