// Package tracing sets up OpenTelemetry for berth from the standard OTEL_*
// variables and holds the small adapters that carry spans through berth's
// log lines, HTTP clients and the Azure SDK. With no OTLP endpoint set it
// installs nothing: every span is then OpenTelemetry's no-op span.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of berth's own spans.
const Scope = "github.com/berthhq/berth"

// Tracer is berth's tracer on the global provider (a no-op one unless Setup
// installed an exporter).
func Tracer() trace.Tracer { return otel.Tracer(Scope) }

// Enabled reports whether the OTEL_* variables ask for traces to be
// exported: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT), OTEL_TRACES_EXPORTER is unset or "otlp",
// and OTEL_SDK_DISABLED is not "true".
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Setup installs the global tracer provider and W3C propagators when
// Enabled(os.Getenv); the exporters read the rest of the standard variables
// themselves (protocol, headers, certificates, timeouts; the sampler is
// OTEL_TRACES_SAMPLER). The returned shutdown flushes pending spans; it is
// a no-op when tracing is off.
func Setup(ctx context.Context, version string) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if !Enabled(os.Getenv) {
		return noop, nil
	}
	exp, err := newExporter(ctx, os.Getenv)
	if err != nil {
		return noop, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(
		attribute.String("service.name", "berth"), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// newExporter is OTLP over gRPC or HTTP/protobuf (the default, as the
// specification says) by OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not one of grpc, http/protobuf", proto)
	}
}

// HasParent reports whether ctx carries a span: berth traces store queries
// and runtime calls only inside a traced operation, so background loops and
// informers' watches do not each start a trace of their own.
func HasParent(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}

// Start starts an internal span of berth's under the one in ctx.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// End records err (when not nil) on span and ends it; use it deferred with
// a named error result.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
