package httpapi

import (
	"net/http"

	"github.com/berthhq/berth/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// startSpan starts the request's server span, named by its route and a
// child of the caller's W3C traceparent when it sent one (and tracing is
// on). Its attributes are the route, method, status, request id and
// caller: never the query string, a header or the body.
func startSpan(r *http.Request, rt route) (*http.Request, trace.Span) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := tracing.Tracer().Start(ctx, rt.method+" "+rt.path, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", rt.method), attribute.String("http.route", rt.path)))
	return r.WithContext(ctx), span
}

func endSpan(span trace.Span, code int, st *reqState) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", code), attribute.String("berth.request_id", st.id))
	if st.actor.UserID != "" {
		span.SetAttributes(attribute.String("enduser.id", st.actor.UserID))
	}
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}
