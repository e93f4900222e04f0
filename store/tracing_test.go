package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/store"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestQueryTracing: inside a traced operation every statement of both
// stores (pgx's tracer on PostgreSQL, the traced driver on SQLite) is a
// client span under the caller's, naming the statement's text and never an
// argument (the secret and the image stay out); outside one, the store
// starts no trace.
func TestQueryTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	system := map[string]string{store.SQLite: "sqlite", store.Postgres: "postgresql"}
	eachKind(t, func(t *testing.T, s *store.Store) {
		before := len(rec.Ended())
		svc, rev := newService("local", "", "traced")
		must(t, s.CreateService(ctx, svc, rev)) // no parent span: no trace
		if n := len(rec.Ended()) - before; n != 0 {
			t.Fatalf("%d spans recorded without a parent", n)
		}
		pctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
		svc2, rev2 := newService("local", "", "traced-2")
		svc2.Spec.Image = "registry.example/IMAGE-ARG:1"
		must(t, s.CreateService(pctx, svc2, rev2))
		_, err := s.GetService(pctx, svc2.Ref())
		must(t, err)
		parent.End()
		var inserts, selects int
		for _, sp := range rec.Ended()[before:] {
			if sp.Name() == "parent" {
				continue
			}
			if sp.Parent().TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("span %s outside the caller's trace", sp.Name())
			}
			attrs := map[string]string{}
			for _, a := range sp.Attributes() {
				attrs[string(a.Key)] = a.Value.Emit()
				for _, leak := range []string{"hunter2-traced-2", "IMAGE-ARG"} {
					if strings.Contains(a.Value.Emit(), leak) {
						t.Errorf("span %s attribute %s holds an argument: %s", sp.Name(), a.Key, a.Value.Emit())
					}
				}
			}
			if attrs["db.system.name"] != system[s.Kind()] {
				t.Errorf("span %s: db.system.name %q", sp.Name(), attrs["db.system.name"])
			}
			q := attrs["db.query.text"]
			switch {
			case strings.Contains(q, "INSERT INTO services"):
				inserts++
			case strings.HasPrefix(strings.TrimSpace(q), "SELECT") && strings.Contains(q, "FROM services"):
				selects++
			}
		}
		if inserts == 0 || selects == 0 {
			t.Errorf("spans: %d service inserts, %d service selects; want both", inserts, selects)
		}
	})
}
