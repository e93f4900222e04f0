package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://j:4318/v1/traces"}, true},
		{"exporter otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_SDK_DISABLED": "true"}, false},
		{"exporter without endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tracing.Enabled(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSetupOff: with no OTEL_* variable Setup installs nothing: the
// global provider stays OpenTelemetry's no-op one.
func TestSetupOff(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	before := otel.GetTracerProvider()
	stop, err := tracing.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Error("Setup replaced the tracer provider with tracing off")
	}
	_, span := tracing.Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("a span records with tracing off")
	}
}

func recorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec, tp
}

// TestLogHandler: a line logged with a span's context carries its trace
// and span ids; one logged without carries neither.
func TestLogHandler(t *testing.T) {
	_, tp := recorder(t)
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var in, out map[string]any
	_ = json.Unmarshal(lines[0], &in)
	_ = json.Unmarshal(lines[1], &out)
	if in["trace_id"] != span.SpanContext().TraceID().String() || in["span_id"] != span.SpanContext().SpanID().String() || in["component"] != "x" {
		t.Errorf("inside: %s", lines[0])
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("outside: %s", lines[1])
	}
}

// TestTransport: an HTTP call made inside a traced operation gets a client
// span and carries traceparent to the server; one made outside gets
// neither (informers' watches stay untraced).
func TestTransport(t *testing.T) {
	rec, tp := recorder(t)
	otel.SetTextMapPropagator(propagationTC())
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.Header.Get("traceparent")) }))
	defer srv.Close()
	client := &http.Client{Transport: tracing.Transport("kubernetes")(http.DefaultTransport)}
	ctx, parent := tp.Tracer("t").Start(context.Background(), "op")
	for _, c := range []context.Context{ctx, context.Background()} {
		req, _ := http.NewRequestWithContext(c, "GET", srv.URL+"/apis/apps/v1/deployments?token=x", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	parent.End()
	if got[0] == "" || got[1] != "" {
		t.Errorf("traceparent sent: %q", got)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "kubernetes GET /apis/apps/v1/deployments" {
		t.Errorf("spans %q", names)
	}
}

// TestAzureProvider: the Azure SDK's pipeline, given AzureProvider, makes
// its HTTP span under berth's span, and none outside a traced operation.
func TestAzureProvider(t *testing.T) {
	rec, tp := recorder(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client, err := azcore.NewClient("armtest", "v1.0.0", runtime.PipelineOptions{Tracing: runtime.TracingOptions{Namespace: "Microsoft.ContainerInstance"}},
		&policy.ClientOptions{TracingProvider: tracing.AzureProvider(), Transport: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("t").Start(context.Background(), "op")
	for _, c := range []context.Context{ctx, context.Background()} {
		// What a generated client's method does: an operation span, then the pipeline.
		c, endSpan := runtime.StartSpan(c, "ContainerGroupsClient.Get", client.Tracer(), nil)
		req, err := runtime.NewRequest(c, http.MethodGet, srv.URL+"/subscriptions/s/containerGroups?sig=SECRET")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Pipeline().Do(req)
		endSpan(err)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	parent.End()
	var child int
	for _, s := range rec.Ended() {
		if s.Name() == "op" {
			continue
		}
		if s.Parent().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %s not in berth's trace", s.Name())
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "SECRET") {
				t.Errorf("span %s attribute %s = %s", s.Name(), a.Key, a.Value.Emit())
			}
		}
		child++
	}
	if child != 2 {
		t.Errorf("%d Azure SDK spans, want 2: operation and HTTP call, inside the traced operation only", child)
	}
}

func propagationTC() propagation.TextMapPropagator { return propagation.TraceContext{} }
