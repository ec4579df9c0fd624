// Package sqlite stores roster's users in SQLite through the pure-Go
// modernc.org/sqlite driver, so that roster builds without cgo.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/batch"
	"github.com/rosterhq/roster/internal/broadcast"
	"github.com/rosterhq/roster/internal/outage"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/migrations"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is a SQLite database holding roster's users. It keeps two pools: all
// writes go through a single connection, so that writers queue in Go instead
// of failing with "database is locked", while reads run in parallel, which
// WAL mode allows alongside the writer.
type DB struct {
	write *sql.DB
	read  *sql.DB
	wq    *sqlitedb.Queries
	rq    *sqlitedb.Queries
	// commits wakes the Listen calls after each committed change.
	commits broadcast.Group
	outage  *outage.Log
	tracing bool // see Options.Tracing
	// creates commits concurrent creates together (users.go).
	creates *batch.Batcher[pendingCreate, error]
}

// Options configure a DB.
type Options struct {
	// Tracing makes a span of each SQL statement, BEGIN and COMMIT under
	// the caller's recording span (tracing.go). Off, sqlc's queries run
	// on the pools with nothing in between.
	Tracing bool
}

// Open opens the SQLite database at path, creating the file if needed, and
// checks that it can be used. It does not migrate.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	write, err := openPool(ctx, path, 1, true)
	if err != nil {
		return nil, err
	}
	// The write pool is opened first so that its connection switches a new
	// file to WAL before any reader exists.
	read, err := openPool(ctx, path, max(4, runtime.NumCPU()), false)
	if err != nil {
		_ = write.Close()
		return nil, err
	}
	db := &DB{write: write, read: read, outage: outage.New("database", nil), tracing: opts.Tracing}
	db.wq, db.rq = db.queries(write), db.queries(read)
	db.creates = db.newCreates()
	return db, nil
}

func openPool(ctx context.Context, path string, conns int, writer bool) (*sql.DB, error) {
	name, err := dsn(path, writer)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	// database/sql keeps only two idle connections by default; the rest
	// would be closed and reopened, pragmas and all, on every burst.
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return db, nil
}

// dsn returns the driver's name for the database at path: a "file:" URI,
// which escapes any character of the path that would otherwise be read as
// URI syntax, with the pragmas every connection needs. As in PocketBase,
// busy_timeout comes first so the pragmas after it wait for locks instead
// of failing.
func dsn(path string, writer bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("open sqlite %q: %w", path, err)
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // a Windows volume: file:///C:/...
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if writer {
		// Transactions take the write lock when they begin, not at their
		// first write, where SQLite could no longer wait for it.
		q.Set("_txlock", "immediate")
	} else {
		// A write through the read pool would bypass the single writer.
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String(), nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// Migrator returns a goose provider for the SQLite migrations. It migrates
// through the write pool, whose single connection keeps migrations and
// request writes apart. The provider borrows the DB's write pool: close the
// DB, not the provider.
func (db *DB) Migrator() (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, migrations.SQLite,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("sqlite migrator: %w", err)
	}
	return p, nil
}

// Stats returns the statistics of the read pool, where requests may wait.
func (db *DB) Stats() sql.DBStats { return db.read.Stats() }

// WriteStats returns the statistics of the single-connection write pool;
// its WaitCount and WaitDuration show how much writers queue.
func (db *DB) WriteStats() sql.DBStats { return db.write.Stats() }

// inTx runs fn in a transaction on the write connection, which begins
// IMMEDIATE (see dsn): it holds the write lock from the start.
func (db *DB) inTx(ctx context.Context, fn func(q *sqlitedb.Queries) error) error {
	return db.inRawTx(ctx, func(_ *sql.Tx, q *sqlitedb.Queries) error { return fn(q) })
}

// inRawTx is inTx for fn that also needs the transaction itself.
func (db *DB) inRawTx(ctx context.Context, fn func(tx *sql.Tx, q *sqlitedb.Queries) error) error {
	tx, err := db.begin(ctx, db.write)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx, db.queries(tx)); err != nil {
		return err
	}
	if err := db.commit(ctx, tx); err != nil {
		return err
	}
	db.outage.Up() // a write went through: any outage is over
	return nil
}
