package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/internal/testutil"
)

// TestShutdownDelay: after SIGTERM, a berth with shutdownDelay answers
// /readyz with 503 "shutting down" while it still accepts new connections
// and serves them; then it drains and exits cleanly.
func TestShutdownDelay(t *testing.T) {
	t.Parallel()
	b := StartBerth(t, "", "", "BERTH_SHUTDOWN_DELAY=3s")
	token := b.Token()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(path string) (int, []byte, error) {
		req, _ := http.NewRequest("GET", b.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := fresh.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp.StatusCode, raw, err
	}
	testutil.Eventually(t, 5*time.Second, "/readyz says shutting down", func() (bool, string) {
		code, raw, err := get("/readyz")
		return code == 503 && err == nil && containsStatus(raw, "shutting down"), fmt.Sprintf("%d %s %v", code, raw, err)
	})
	// Still serving, on a new connection, after /readyz said so.
	if code, raw, err := get("/api/v1/services"); err != nil || code != 200 {
		t.Fatalf("a request on a new connection while shutting down: %d %s %v", code, raw, err)
	}
	select {
	case <-b.done:
	case <-time.After(45 * time.Second):
		t.Fatal("berth did not exit after its shutdown delay and drain")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0:\n%s", code, b.stderr.String())
	}
}

func containsStatus(raw []byte, status string) bool {
	var r api.Ready
	return json.Unmarshal(raw, &r) == nil && r.Status == status
}

// TestRollingRestartLosesNoRequest is a rolling update as Kubernetes runs
// one, without a kubelet (the tests' nodes are fake): two replicas on one
// PostgreSQL behind a balancer that sends requests only to replicas whose
// /readyz answers 200, polled every 100 ms as endpoints follow readiness.
// Clients send requests all along while each replica in turn gets SIGTERM,
// exits and is started again. With the shutdown delay, no request fails:
// the balancer stops using a replica before it closes its listener.
func TestRollingRestartLosesNoRequest(t *testing.T) {
	t.Parallel()
	db := postgresURL(t)
	env := []string{sharedKey, "BERTH_SHUTDOWN_DELAY=3s"}
	replicas := []*Berth{StartBerth(t, "", db, env...), StartBerth(t, "", db, env...)}
	token := replicas[0].Token() // sessions live in the database: valid on both
	lb := newReadyBalancer(t, replicas[0].URL, replicas[1].URL)

	ctx, cancel := context.WithCancel(t.Context())
	var ok, failed atomic.Int64
	var failures testutil.SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", lb.URL+"/api/v1/services", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					fmt.Fprintf(&failures, "%v\n", err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					fmt.Fprintf(&failures, "status %d\n", resp.StatusCode)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i, r := range replicas {
		before := ok.Load()
		r.Stop() // SIGTERM, and wait for the exit
		r.Restart()
		lb.set(i, r.URL)
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("replica %d back behind the balancer", i), func() (bool, string) {
			return lb.ready(i), "not ready"
		})
		if ok.Load() == before {
			t.Errorf("no request was answered while replica %d restarted", i)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d requests answered during the rolling restart, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the rolling restart:\n%s", failed.Load(), failures.String())
	}
}

// readyBalancer proxies each request to a random replica whose /readyz
// last answered 200. It never retries: a request sent to a replica that
// closed its listener fails, as it would through a Kubernetes Service.
type readyBalancer struct {
	*httptest.Server
	mu       sync.Mutex
	backends []*url.URL
	readyAt  []bool
}

func newReadyBalancer(t *testing.T, urls ...string) *readyBalancer {
	lb := &readyBalancer{readyAt: make([]bool, len(urls))}
	for i, u := range urls {
		lb.backends = append(lb.backends, nil)
		lb.set(i, u)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(lb.pick()) },
		// A request the balancer could not deliver is a failed request.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	lb.Server = httptest.NewServer(proxy)
	t.Cleanup(lb.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i := range urls {
		go lb.poll(ctx, i)
	}
	for i := range urls {
		testutil.Eventually(t, 10*time.Second, "replica ready behind the balancer", func() (bool, string) { return lb.ready(i), "not ready" })
	}
	return lb
}

func (lb *readyBalancer) set(i int, raw string) {
	u, _ := url.Parse(raw)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.backends[i], lb.readyAt[i] = u, false
}

func (lb *readyBalancer) ready(i int) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.readyAt[i]
}

func (lb *readyBalancer) pick() *url.URL {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var ready []*url.URL
	for i, u := range lb.backends {
		if lb.readyAt[i] {
			ready = append(ready, u)
		}
	}
	if len(ready) == 0 {
		return &url.URL{Scheme: "http", Host: "127.0.0.1:1"} // nothing ready: the request fails
	}
	return ready[rand.IntN(len(ready))] // #nosec G404 -- load spreading, not security
}

// poll follows replica i's readiness every 100 ms, as endpoints follow
// readiness probes: a 503 or a refused connection takes it out, a probe
// that merely times out (a loaded machine) leaves it as it was.
func (lb *readyBalancer) poll(ctx context.Context, i int) {
	hc := &http.Client{Timeout: 3 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		lb.mu.Lock()
		u := lb.backends[i]
		lb.mu.Unlock()
		resp, err := hc.Get(u.String() + "/readyz")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			up := err == nil && resp.StatusCode == 200
			lb.mu.Lock()
			if lb.backends[i] == u {
				lb.readyAt[i] = up
			}
			lb.mu.Unlock()
		}
		if err == nil {
			_ = resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
