// Package workspace is berth's small workspace server (`berth workspace`):
// it serves a workspace directory over HTTP (list, read, write, delete) and
// reports IDE activity to berth, so idle environments can be stopped. It is
// what a local environment runs when code-server is not installed.
package workspace

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultReportEvery = 30 * time.Second
	// firstReport is how soon after start the first report goes out, so berth
	// learns quickly that the workspace is up.
	firstReport = time.Second
	// shutdownGrace bounds how long in-flight requests may finish on shutdown.
	shutdownGrace = 5 * time.Second
	// MaxUpload is the largest body a PUT accepts.
	MaxUpload = 32 << 20
)

// Config configures the workspace server.
type Config struct {
	Addr          string        // listen address, e.g. 127.0.0.1:8081 (Run only)
	Dir           string        // the workspace directory; created if missing
	ActivityURL   string        // POST target for activity reports; empty: no reporting
	ActivityToken string        // bearer token for ActivityURL; never logged
	ReportEvery   time.Duration // 0: DefaultReportEvery
	// Password, when set, is required as the password of HTTP Basic auth
	// (any user name), as code-server's --auth password does; /healthz stays open.
	Password string
	// ProxySecret, when set, must arrive in the ProxySecretHeader of every
	// request but /healthz: berth's proxy adds it after authenticating the
	// user, so nothing else that can reach the port (another local process)
	// gets in. berth sets it (BERTH_PROXY_SECRET) for every environment.
	ProxySecret string
	Client      *http.Client // nil: a client with a 10s timeout
	Logger      *slog.Logger // nil: slog.Default()
}

// Run listens on cfg.Addr and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		return errors.New("run workspace server: no listen address")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("run workspace server: %w", err)
	}
	return Serve(ctx, ln, cfg)
}

// Serve serves the workspace on ln until ctx is done, then shuts down
// gracefully and sends a last activity report. It closes ln.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	defer ln.Close()
	if cfg.Dir == "" {
		return errors.New("serve workspace: no directory")
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = DefaultReportEvery
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil { // #nosec G301 -- the workspace is shared with the developer's tools, which may run as another user
		return fmt.Errorf("serve workspace: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return fmt.Errorf("serve workspace: %w", err)
	}
	defer root.Close()

	act := newActivity()
	srv := &http.Server{
		Handler:           requireProxySecret(cfg.ProxySecret, requirePassword(cfg.Password, newHandler(root, act))),
		ConnContext:       act.connContext,
		ConnState:         act.connState,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	rep := &reporter{cfg: cfg, act: act}

	repCtx, stopReports := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if cfg.ActivityURL != "" {
		wg.Go(func() { rep.loop(repCtx) })
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Logger.Info("workspace server listening", "addr", ln.Addr().String(), "dir", cfg.Dir)

	var serveErr error
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		cancel()
		<-errc
	case err := <-errc:
		serveErr = fmt.Errorf("serve workspace: %w", err)
	}
	stopReports()
	wg.Wait()
	// The server is down, so no connection is open; net/http reports the
	// close of idle connections asynchronously, so do not wait for it.
	act.closeAll()
	if cfg.ActivityURL != "" {
		// A last report so berth sees the final state (no open connections).
		rctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		rep.report(rctx)
		cancel()
	}
	return serveErr
}

// ProxySecretHeader carries the per-environment secret of berth's proxy.
const ProxySecretHeader = "X-Berth-Proxy-Secret" // #nosec G101 -- a header name, not a credential

// requireProxySecret refuses (403, before anything is read or written)
// every request but /healthz that lacks the proxy's secret.
func requireProxySecret(secret string, h http.Handler) http.Handler {
	if secret == "" {
		return h
	}
	want := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			got := sha256.Sum256([]byte(r.Header.Get(ProxySecretHeader)))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				http.Error(w, "this workspace is served through berth: open it from the dashboard (/env/<id>/)", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// requirePassword guards h with HTTP Basic auth when password is set.
func requirePassword(password string, h http.Handler) http.Handler {
	if password == "" {
		return h
	}
	want := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			_, got, ok := r.BasicAuth()
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="berth workspace"`)
				http.Error(w, "password required", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
