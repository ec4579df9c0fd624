package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"

	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/internal/tracing"
)

// tracedDBTX runs sqlc's queries on a pool or transaction and makes a
// client span of each statement under the caller's recording span, as
// pgx's tracer does for PostgreSQL (internal/postgres/tracing.go). It is
// put between sqlc and database/sql only when tracing is on
// (Options.Tracing); off, the queries run on the pools directly.
//
// A span is named by the statement's sqlc name (tracing.StatementName),
// never by its text; arguments are never recorded. database/sql gives no
// hook at a result set's end, so the span of a query that returns rows
// covers its preparation and its first step, which in SQLite does the
// search, and any sort, up to the first row; reading the rest of the rows
// is the caller's time.
type tracedDBTX struct{ sqlitedb.DBTX }

var dbSystem = attribute.String("db.system.name", "sqlite")

// startStmt starts the span of the statement query, only under a
// recording span: otherwise it returns ctx and nil, having done nothing
// else, not even read the statement's name.
func startStmt(ctx context.Context, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return startSpan(ctx, tracing.StatementName(query))
}

// startSpan starts a statement span named name, only under a recording
// span.
func startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return tracing.Start(ctx, name, trace.SpanKindClient, dbSystem, attribute.String("db.operation.name", name))
}

// endStmt ends span, nil when startStmt made none. A SQLite error is
// described by its extended result code (2067 is a unique constraint),
// which names the failure without the data that caused it.
func endStmt(span trace.Span, err error) {
	if span == nil {
		return
	}
	status := ""
	var se *sqlite.Error
	if errors.As(err, &se) {
		status = strconv.Itoa(se.Code())
		span.SetAttributes(attribute.String("db.response.status_code", status))
	}
	tracing.End(span, err, status)
}

func (t tracedDBTX) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := startStmt(ctx, query)
	res, err := t.DBTX.ExecContext(ctx, query, args...)
	if span != nil && err == nil {
		if n, err := res.RowsAffected(); err == nil {
			span.SetAttributes(attribute.Int64("db.response.returned_rows", n))
		}
	}
	endStmt(span, err)
	return res, err
}

func (t tracedDBTX) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := startStmt(ctx, query)
	rows, err := t.DBTX.QueryContext(ctx, query, args...)
	endStmt(span, err)
	return rows, err
}

// QueryRowContext's error, if any, is the query's; no row is not an
// error here (it is reported by Scan).
func (t tracedDBTX) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, span := startStmt(ctx, query)
	row := t.DBTX.QueryRowContext(ctx, query, args...)
	endStmt(span, row.Err())
	return row
}

// queries returns sqlc's queries on x, traced when tracing is on.
func (db *DB) queries(x sqlitedb.DBTX) *sqlitedb.Queries {
	if db.tracing {
		x = tracedDBTX{x}
	}
	return sqlitedb.New(x)
}

// begin begins a transaction on pool. Traced, its BEGIN span covers the
// wait for the pool's connection and, on the write pool, for the write
// lock (BEGIN IMMEDIATE): long ones are writers queuing.
func (db *DB) begin(ctx context.Context, pool *sql.DB) (*sql.Tx, error) {
	if !db.tracing {
		return pool.BeginTx(ctx, nil)
	}
	_, span := startSpan(ctx, "BEGIN")
	tx, err := pool.BeginTx(ctx, nil)
	endStmt(span, err)
	return tx, err
}

// commit commits tx; traced, its COMMIT span covers the WAL write.
func (db *DB) commit(ctx context.Context, tx *sql.Tx) error {
	if !db.tracing {
		return tx.Commit()
	}
	_, span := startSpan(ctx, "COMMIT")
	err := tx.Commit()
	endStmt(span, err)
	return err
}
