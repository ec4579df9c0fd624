package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/roster"
)

// errAcquireTimeout: no connection could be had within the acquire
// timeout, because every one is busy or because none can be opened.
var errAcquireTimeout = errors.New("no connection within the acquire timeout")

// unavailable reports whether err means the database cannot be reached or
// cannot serve now — refused or broken connections, a server shutting
// down, restarting or out of connection slots, no connection in time —
// rather than a bug or a bad request. Such a request may succeed if
// retried shortly.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", // admin_shutdown: pg_ctl stop, a terminated backend
			"57P02", // crash_shutdown: another backend crashed
			"57P03", // cannot_connect_now: starting up, shutting down, in recovery
			"53300", // too_many_connections
			"25006": // read_only_sql_transaction: a demoted primary, or a standby (see check)
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var (
		ce *pgconn.ConnectError
		oe *net.OpError
	)
	return errors.As(err, &ce) || errors.As(err, &oe) ||
		errors.Is(err, errAcquireTimeout) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// callerError is an error of a callback the caller gave a store method (an
// import's reader, an export's writer): it may be a network error of the
// HTTP client, which says nothing about the database.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

func fromCaller(err error) error {
	if err == nil {
		return nil
	}
	return &callerError{err}
}

// check is where every database error passes: one that means the database
// is unavailable becomes roster.Unavailable (503 for the client) and is
// logged once per burst; a success, or any answer from the database,
// ends an outage. Errors after ctx ended are the caller's doing and pass
// unchanged, as do the caller's own.
func (db *DB) check(ctx context.Context, err error) error {
	var ce *callerError
	switch {
	case ctx.Err() != nil && err != nil, errors.As(err, &ce):
		return err
	case err != nil && unavailable(err):
		db.outage.Down(err)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "25006" {
			// The server no longer takes writes (demoted, or a failover
			// made another host the primary): its connections are all
			// wrong now, not just this one. New ones go where the URL's
			// target_session_attrs=read-write finds the primary.
			db.pool.Reset()
		}
		return roster.Unavailable(err)
	}
	db.outage.Up()
	return err
}

// use runs fn on a connection borrowed for its duration, and checks what
// it returns.
func (db *DB) use(ctx context.Context, fn func(conn *pgxpool.Conn) error) error {
	return db.useOn(ctx, db.pool, fn)
}

// useOn is use on pool: the primary's or a replica's.
func (db *DB) useOn(ctx context.Context, pool *pgxpool.Pool, fn func(conn *pgxpool.Conn) error) error {
	conn, err := db.acquireFrom(ctx, pool)
	if err != nil {
		return db.check(ctx, err)
	}
	defer conn.Release()
	return db.check(ctx, fn(conn))
}

// SetLogger sets where outages of the database are logged (once per
// burst, see internal/outage).
func (db *DB) SetLogger(l *slog.Logger) { db.outage.SetLogger(l) }
