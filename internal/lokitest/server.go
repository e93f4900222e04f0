package lokitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/toolcache"
	"github.com/coder/websocket"
)

// Server is a running Loki.
type Server struct {
	URL string // http://127.0.0.1:port
	*toolcache.Process
}

var binary = toolcache.Binary{Tool: Tool}

// Start runs a fresh Loki for the test, stopped when it ends (tests may
// Stop it earlier to see Loki go away). It builds the binary on first use
// when it is not cached.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary.Path(t)
	return toolcache.StartRetrying(t, "loki", func() (*Server, error) { return start(bin, t.TempDir()) })
}

func start(bin, dir string) (*Server, error) {
	ports, err := toolcache.FreePorts(3)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(cfg, []byte(config(dir, ports)), 0o600); err != nil {
		return nil, err
	}
	p, err := toolcache.StartProcess(dir, "loki", bin, "-config.file="+cfg, "-target=all")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Process: p}
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Log())
	}
	return s, nil
}

// config is single-binary Loki on loopback: filesystem storage, in-memory
// ring, no auth, no caches, ready as soon as its modules run (about 1 s).
func config(dir string, ports []int) string {
	return fmt.Sprintf(`auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: %[2]d
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: %[3]d
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: %[1]s/data
  storage:
    filesystem:
      chunks_directory: %[1]s/data/chunks
      rules_directory: %[1]s/data/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
memberlist:
  bind_addr: [127.0.0.1]
  bind_port: %[4]d
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
# One query, one querier request: split or sharded, the frontend cancels
# the sub-queries a limit made moot, and each cancellation costs the querier
# a reconnect to the scheduler (queries then stall for up to seconds).
query_range:
  cache_results: false
  parallelise_shardable_queries: false
limits_config:
  split_queries_by_interval: 0
# The frontend and querier reach the scheduler at a fixed address: found
# through its ring instead, they connect only after 10 s, and earlier ones
# are refused for good while the scheduler joins.
frontend:
  scheduler_address: 127.0.0.1:%[3]d
frontend_worker:
  scheduler_address: 127.0.0.1:%[3]d
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
analytics:
  reporting_enabled: false
`, dir, ports[0], ports[1], ports[2])
}

// waitReady polls /ready, then a query: the query path must answer too.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	probes := []string{s.URL + "/ready", s.URL + "/loki/api/v1/query_range?" + url.Values{"query": {`{service_name="probe"}`}, "limit": {"1"}}.Encode()}
	var last string
	for len(probes) > 0 && time.Now().Before(deadline) {
		select {
		case <-s.Done():
			return fmt.Errorf("loki exited before it was ready: %v", s.Cmd.ProcessState)
		default:
		}
		resp, err := hc.Get(probes[0])
		if err != nil {
			last = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				probes = probes[1:]
				continue
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(probes) > 0 {
		return fmt.Errorf("loki at %s not ready after %s: %s", s.URL, timeout, last)
	}
	// A tail opened before the querier reaches the ingester misses lines
	// pushed until it reconnects (every 10 s): wait until one works.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for ctx.Err() == nil {
		if last = s.probeTail(ctx); last == "" {
			return nil
		}
	}
	return fmt.Errorf("loki at %s: tail not working after %s: %s", s.URL, timeout, last)
}

// probeTail opens a tail and pushes a line every 100 ms until one pushed
// well after the tail opened (so not from its replay of history) arrives.
// It answers "" on success, else what went wrong.
func (s *Server) probeTail(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	labels := map[string]string{"service_name": "lokitest-probe"}
	q := url.Values{"query": {`{service_name="lokitest-probe"}`}, "start": {strconv.FormatInt(time.Now().UnixNano(), 10)}}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/loki/api/v1/tail?"+q.Encode(), nil)
	if err != nil {
		return "tail: " + err.Error()
	}
	defer conn.CloseNow()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			_ = s.Push(ctx, labels, Line{Time: time.Now(), Line: fmt.Sprintf("probe %d", i)})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return "tail: " + err.Error()
		}
		for i := 3; i < 50; i++ {
			if strings.Contains(string(data), fmt.Sprintf(`"probe %d"`, i)) {
				return ""
			}
		}
	}
}

// Line is a log line to push, at a time.
type Line struct {
	Time time.Time
	Line string
}

// Push sends lines of one stream through Loki's push API.
func (s *Server) Push(ctx context.Context, labels map[string]string, lines ...Line) error {
	values := make([][2]string, len(lines))
	for i, l := range lines {
		values[i] = [2]string{strconv.FormatInt(l.Time.UnixNano(), 10), l.Line}
	}
	body, err := json.Marshal(map[string]any{"streams": []any{map[string]any{"stream": labels, "values": values}}})
	if err != nil {
		return err
	}
	// A Loki that just became ready has been seen to drop the first push's
	// connection under load: retry what never got an answer, briefly.
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/loki/api/v1/push", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		if attempt == 4 || ctx.Err() != nil {
			return fmt.Errorf("push to loki: %w", err)
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return fmt.Errorf("push to loki: %s: %s", resp.Status, strings.TrimSpace(string(b[:n])))
	}
	return nil
}

// Log is the end of Loki's own log, for failure messages.
func (s *Server) Log() string {
	b := s.Process.Log()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return b
}
