package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// queryTracer makes a client span of each SQL statement, COPY and batch
// run through the pool, and of each wait for a pooled connection, under
// the request's span. It is set on the pool only when tracing is on
// (Options.Tracing): pgx then calls it around every statement, and it
// starts a span only under a recording one.
//
// A span is named by the statement's sqlc name ("GetUser", from the
// "-- name: GetUser :one" comment sqlc puts first), else by the first
// word of the SQL ("BEGIN"): never by the text, whose literals could be
// values. Arguments are never recorded.
type queryTracer struct{}

var (
	_ pgx.QueryTracer       = queryTracer{}
	_ pgx.CopyFromTracer    = queryTracer{}
	_ pgx.BatchTracer       = queryTracer{}
	_ pgxpool.AcquireTracer = queryTracer{}
)

// spanKey holds the span a Trace*Start made, for its Trace*End: the span
// in the context may be the parent, which it must not end.
type spanKey struct{}

var dbSystem = attribute.String("db.system.name", "postgresql")

func start(ctx context.Context, name string, attrs ...attribute.KeyValue) context.Context {
	ctx, span := tracing.Start(ctx, name, trace.SpanKindClient, append(attrs, dbSystem)...)
	if span == nil {
		return ctx
	}
	return context.WithValue(ctx, spanKey{}, span)
}

func end(ctx context.Context, err error) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	status := ""
	if pe, ok := err.(*pgconn.PgError); ok {
		// The SQLSTATE names the failure without the data that caused it.
		span.SetAttributes(attribute.String("db.response.status_code", pe.Code))
		status = pe.Code
	}
	tracing.End(span, err, status)
}

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	name := tracing.StatementName(data.SQL)
	return start(ctx, name, attribute.String("db.operation.name", name))
}

func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if span, ok := ctx.Value(spanKey{}).(trace.Span); ok && data.Err == nil {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	}
	end(ctx, data.Err)
}

func (queryTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	return start(ctx, "COPY "+data.TableName.Sanitize(), attribute.String("db.collection.name", data.TableName.Sanitize()))
}

func (queryTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	if span, ok := ctx.Value(spanKey{}).(trace.Span); ok && data.Err == nil {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	}
	end(ctx, data.Err)
}

// A batch is one span; its statements, sent together, are events in it.
func (queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	return start(ctx, "batch", attribute.Int("db.operation.batch.size", data.Batch.Len()))
}

func (queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if span, ok := ctx.Value(spanKey{}).(trace.Span); ok {
		span.AddEvent(tracing.StatementName(data.SQL))
	}
}

func (queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err)
}

// The wait for a pooled connection: long ones are the pool at its limit.
func (queryTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return start(ctx, "pool.acquire")
}

func (queryTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	end(ctx, data.Err)
}
