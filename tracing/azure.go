package tracing

import (
	"context"

	aztracing "github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// AzureProvider is the Azure SDK's tracing provider on OpenTelemetry's
// global provider (arm.ClientOptions.TracingProvider): the SDK's operation
// and HTTP spans, started only inside a traced operation of berth's.
func AzureProvider() aztracing.Provider {
	return aztracing.NewProvider(func(name, version string) aztracing.Tracer {
		t := otel.Tracer(name, trace.WithInstrumentationVersion(version))
		start := func(ctx context.Context, spanName string, o *aztracing.SpanOptions) (context.Context, aztracing.Span) {
			if !HasParent(ctx) {
				return ctx, aztracing.Span{}
			}
			var opts []trace.SpanStartOption
			if o != nil {
				opts = append(opts, trace.WithSpanKind(trace.SpanKind(o.Kind)), trace.WithAttributes(azAttrs(o.Attributes)...))
			}
			ctx, span := t.Start(ctx, spanName, opts...)
			return ctx, azSpan(span)
		}
		return aztracing.NewTracer(start, &aztracing.TracerOptions{
			SpanFromContext: func(ctx context.Context) aztracing.Span { return azSpan(trace.SpanFromContext(ctx)) },
		})
	}, nil)
}

func azSpan(s trace.Span) aztracing.Span {
	return aztracing.NewSpan(aztracing.SpanImpl{
		End:           func() { s.End() },
		SetAttributes: func(a ...aztracing.Attribute) { s.SetAttributes(azAttrs(a)...) },
		AddEvent:      func(n string, a ...aztracing.Attribute) { s.AddEvent(n, trace.WithAttributes(azAttrs(a)...)) },
		SetStatus: func(c aztracing.SpanStatus, desc string) {
			switch c {
			case aztracing.SpanStatusError:
				s.SetStatus(codes.Error, desc)
			case aztracing.SpanStatusOK:
				s.SetStatus(codes.Ok, desc)
			}
		},
	})
}

// azAttrs converts the SDK's attributes (strings, integers, booleans and
// floats: what azcore sets).
func azAttrs(in []aztracing.Attribute) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(in))
	for _, a := range in {
		switch v := a.Value.(type) {
		case string:
			out = append(out, attribute.String(a.Key, v))
		case int:
			out = append(out, attribute.Int(a.Key, v))
		case int64:
			out = append(out, attribute.Int64(a.Key, v))
		case bool:
			out = append(out, attribute.Bool(a.Key, v))
		case float64:
			out = append(out, attribute.Float64(a.Key, v))
		}
	}
	return out
}
