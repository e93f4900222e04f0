package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/events"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/metrics"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/web"
	"github.com/berthhq/berth/wshub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// httpServer is the API server with what closes with it.
type httpServer struct {
	srv *http.Server
	api *httpapi.Server
}

// buildSampler makes the metrics sampler (run in loops) and the /metrics
// registry. Local targets are measured from /proc, Kubernetes targets
// through Prometheus when one is configured.
func buildSampler(ctx context.Context, b *base, ts *targets, bus events.Bus, leading func() bool, loops *errgroup.Group) (*metrics.Sampler, *prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	workloads := metrics.NewCollector(b.logger, ts.runtimes...) // under cAdvisor's names
	workloads.HideEnvironments = b.cfg.MetricsToken == ""       // an open /metrics names no user's environment
	// The Go collector's defaults plus the memory limit and GOGC in force (memoryLimit).
	goRuntime := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/(gomemlimit:bytes|gogc:percent)$`)}))
	reg.MustRegister(goRuntime, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), workloads)
	d := b.cfg.d
	sampler, err := metrics.New(metrics.Config{Store: b.st, Runtimes: ts.runtimes, Sources: ts.usage, Leading: leading,
		Interval: d.metrics, Retention: metrics.Retention{Raw: d.metricsRaw, Minute: d.metricsMinute, Hour: d.metricsHour},
		Publisher: bus, Logger: b.logger.With("loop", "metrics")})
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	loops.Go(func() error { return sampler.Run(ctx) })
	return sampler, reg, nil
}

// buildServer wires the WebSocket hub and the HTTP API.
func buildServer(ctx context.Context, b *base, ts *targets, c *core.Core, bus events.Bus, leading func() bool, loops *errgroup.Group) (*httpServer, error) {
	sampler, reg, err := buildSampler(ctx, b, ts, bus, leading, loops)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(c.Collectors()...) // the reconcile loop's drift counter
	cfg := b.cfg
	if cfg.MetricsToken != "" {
		reg.MustRegister(c.UsageCollector()) // per-user usage names users: only behind the token
	}
	var limiter *auth.Limiter
	if cfg.RateLimit > 0 {
		limiter = auth.NewLimiter(cfg.RateLimit, int(cfg.RateLimit*2)+1)
	}
	b.accounts.Events = bus // revocations close WebSockets on every replica
	proxies, err := httpapi.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	hub := wshub.New(wshub.Config{Source: bus, Tickets: b.st, Logs: httpapi.FollowLogs(c), MaxClients: cfg.WSMaxClients,
		MaxPerUser: cfg.WSMaxClientsPerUser, Check: b.accounts.Check,
		OriginPatterns: wshub.OriginHosts(cfg.AllowedOrigins), Logger: b.logger.With("component", "ws")})
	chatEngine, err := buildChat(b, c, b.st, httpapi.SamplerUsage(sampler))
	if err != nil {
		return nil, err
	}
	reg.MustRegister(statusCollector(ts, c, sampler, hub, leading))
	api := httpapi.NewServer(httpapi.Deps{Events: bus, Hub: hub, Usage: httpapi.SamplerUsage(sampler), Sampler: sampler,
		Core: c, Accounts: b.accounts, Audit: b.st, ActivityKey: secret.DeriveKey(b.master, "activity"), Logger: b.logger,
		Leading: leading, Version: version, Started: time.Now(), Limiter: limiter, AllowedOrigins: cfg.AllowedOrigins,
		Registry: reg, MetricsHistory: sampler.History(), UI: web.Handler(), EnvProxy: core.NewEnvProxy(c, b.accounts, b.st),
		AuthFailures: perMinute(cfg.AuthFailureLimit), TrustedProxies: proxies, BodyTimeout: cfg.d.body,
		MetricsToken: cfg.MetricsToken,
		Chat:         chatEngine,
		Pprof:        cfg.Pprof,
	})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: cfg.d.header, IdleTimeout: cfg.d.idle,
		ErrorLog: slog.NewLogLogger(b.logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(api.CloseStreams)
	return &httpServer{srv: srv, api: api}, nil
}

// announce prints where berth runs and, on the first start, the admin's
// password.
func announce(e *cliEnv, b *base, nTargets int) {
	fmt.Fprintf(e.stdout, "berth %s is running at %s (store: %s, data: %s)\n", version, b.url, b.st.Kind(), b.dataDir)
	fmt.Fprintf(e.stdout, "Dashboard: open %s/ in a browser\n", b.url)
	if b.first != "" {
		fmt.Fprintf(e.stdout, "First start: log in as admin with password %s (shown once; change it or set BERTH_ADMIN_PASSWORD)\n", b.first)
		fmt.Fprintf(e.stdout, "  berth login --server %s --username admin\n", b.url)
	}
	b.logger.Info("berth started", "url", b.url, "store", b.st.Kind(), "targets", nTargets)
}

// run serves on ln until ctx is done, keeps serving for delay while
// /readyz says it is shutting down, drains requests for up to 30 s, then
// calls stopLoops (which cancels and joins the background loops).
func (s *httpServer) run(ctx context.Context, ln net.Listener, logger *slog.Logger, delay time.Duration, stopLoops func()) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopLoops()
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	if delay > 0 {
		s.api.Drain()
		logger.Info("shutting down: not ready, still serving until load balancers stop sending", "shutdownDelay", delay)
		time.Sleep(delay)
	}
	logger.Info("shutting down: draining requests for up to 30s")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		logger.Warn("drain incomplete", "err", err)
	}
	<-errc // Serve has returned
	stopLoops()
	logger.Info("background loops stopped")
	return nil
}
