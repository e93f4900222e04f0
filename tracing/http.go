package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// Transport wraps an HTTP client's transport (client-go's, through
// rest.Config.Wrap) with client spans, for requests made inside a traced
// operation only. otelhttp records method, URL (credentials removed),
// status and peer; never headers or bodies.
func Transport(system string) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(rt,
			otelhttp.WithFilter(func(r *http.Request) bool { return HasParent(r.Context()) }),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return system + " " + r.Method + " " + r.URL.Path
			}))
	}
}
