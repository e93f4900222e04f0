package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/berthhq/berth/tracing"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Store queries are traced only inside a traced operation (an API request,
// a traced loop step). A span names the statement's text, never its
// arguments: values, secrets among them, always travel as placeholders.

// startQuery starts a client span for one statement of system
// ("sqlite" or "postgresql").
func startQuery(ctx context.Context, system, query string) (context.Context, trace.Span) {
	op, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	op = strings.ToUpper(op)
	if len(query) > 2000 {
		query = query[:2000]
	}
	return tracing.Tracer().Start(ctx, system+" "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", system), attribute.String("db.operation.name", op),
			attribute.String("db.query.text", query)))
}

func endQuery(span trace.Span, err error) {
	if err != nil && !errors.Is(err, driver.ErrSkip) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// pgTracer is pgx's QueryTracer: one span per statement.
type pgTracer struct{}

type pgSpanKey struct{}

func (pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if !tracing.HasParent(ctx) {
		return ctx
	}
	ctx, span := startQuery(ctx, "postgresql", d.SQL)
	return context.WithValue(ctx, pgSpanKey{}, span)
}

func (pgTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if span, ok := ctx.Value(pgSpanKey{}).(trace.Span); ok {
		endQuery(span, d.Err)
	}
}

// sqliteConnector opens modernc's SQLite connections wrapped in tracedConn.
type sqliteConnector struct {
	drv driver.Driver
	dsn string
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return tracedConn{conn}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// tracedConn passes every call to SQLite's connection, with a span around
// statements run inside a traced operation.
type tracedConn struct{ driver.Conn }

func (c tracedConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, o)
}

func (c tracedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return tracedStmt{st, q}, nil
}

func (c tracedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (r driver.Result, err error) {
	if tracing.HasParent(ctx) {
		var span trace.Span
		ctx, span = startQuery(ctx, "sqlite", q)
		defer func() { endQuery(span, err) }()
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c tracedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (r driver.Rows, err error) {
	if tracing.HasParent(ctx) {
		var span trace.Span
		ctx, span = startQuery(ctx, "sqlite", q)
		defer func() { endQuery(span, err) }()
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c tracedConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c tracedConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c tracedConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

type tracedStmt struct {
	driver.Stmt
	query string
}

func (s tracedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (r driver.Result, err error) {
	if tracing.HasParent(ctx) {
		var span trace.Span
		ctx, span = startQuery(ctx, "sqlite", s.query)
		defer func() { endQuery(span, err) }()
	}
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s tracedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (r driver.Rows, err error) {
	if tracing.HasParent(ctx) {
		var span trace.Span
		ctx, span = startQuery(ctx, "sqlite", s.query)
		defer func() { endQuery(span, err) }()
	}
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}
