package jaegertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/toolcache"
)

// Server is a running Jaeger.
type Server struct {
	OTLP  string // OTLP/HTTP receiver: http://127.0.0.1:port (OTEL_EXPORTER_OTLP_ENDPOINT)
	Query string // HTTP query API and UI: http://127.0.0.1:port
	*toolcache.Process
}

var binary = toolcache.Binary{Tool: Tool}

// Start runs a fresh Jaeger for the test, stopped when it ends. It builds
// the binary on first use when it is not cached.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary.Path(t)
	return toolcache.StartRetrying(t, "jaeger", func() (*Server, error) { return start(bin, t.TempDir()) })
}

func start(bin, dir string) (*Server, error) {
	ports, err := toolcache.FreePorts(3)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfg, []byte(config(ports)), 0o600); err != nil {
		return nil, err
	}
	p, err := toolcache.StartProcess(dir, "jaeger", bin, "--config", "file:"+cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{OTLP: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Query: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), Process: p}
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Log())
	}
	return s, nil
}

// config is Jaeger v2 with an OTLP/HTTP receiver, memory storage and the
// query service, on loopback; its own telemetry off.
func config(ports []int) string {
	return fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%[2]d
    grpc:
      endpoint: 127.0.0.1:%[3]d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%[1]d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, ports[0], ports[1], ports[2])
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.Done():
			return errors.New("jaeger exited while starting")
		default:
		}
		resp, err := http.Get(s.Query + "/api/services") // #nosec G107 -- the harness's own loopback Jaeger
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("jaeger not ready after %s", timeout)
}

// Trace is one trace as Jaeger's HTTP query API returns it.
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
}

// Span is one span of a Trace.
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	Tags          []Tag       `json:"tags"`
	ProcessID     string      `json:"processID"`
}

// Reference links a span to its parent.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Tag is a span attribute.
type Tag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Process is the resource that emitted spans.
type Process struct {
	ServiceName string `json:"serviceName"`
	Tags        []Tag  `json:"tags"`
}

// Tag returns the value of the span's attribute key ("" when absent).
func (sp Span) Tag(key string) string {
	for _, t := range sp.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// Traces returns the traces of service whose root operation is operation
// ("" for any), with the raw JSON Jaeger answered.
func (s *Server) Traces(ctx context.Context, service, operation string) ([]Trace, []byte, error) {
	q := url.Values{"service": {service}, "limit": {"100"}, "lookback": {"1h"}}
	if operation != "" {
		q.Set("operation", operation)
	}
	return s.get(ctx, "/api/traces?"+q.Encode())
}

// Trace returns one trace by id, with the raw JSON Jaeger answered.
func (s *Server) Trace(ctx context.Context, id string) (*Trace, []byte, error) {
	ts, raw, err := s.get(ctx, "/api/traces/"+url.PathEscape(id))
	if err != nil {
		return nil, raw, err
	}
	if len(ts) != 1 {
		return nil, raw, fmt.Errorf("trace %s: jaeger returned %d traces", id, len(ts))
	}
	return &ts[0], raw, nil
}

func (s *Server) get(ctx context.Context, path string) ([]Trace, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Query+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, raw, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, raw, fmt.Errorf("jaeger %s: %s: %s", path, resp.Status, raw)
	}
	var body struct {
		Data []Trace `json:"data"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, raw, fmt.Errorf("jaeger %s: %w", path, err)
	}
	return body.Data, raw, nil
}
