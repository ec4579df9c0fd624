// Package postgres stores roster's users in PostgreSQL through a pgx
// connection pool.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/rosterhq/roster/internal/batch"
	"github.com/rosterhq/roster/internal/broadcast"
	"github.com/rosterhq/roster/internal/outage"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/migrations"
)

// Options tunes the connection pool. Zero fields take the values of
// DefaultOptions, except MinConns: it defaults only when MaxConns is zero
// too, because a caller that sizes the pool may want no idle connections.
type Options struct {
	MaxConns        int32         // default 20
	MinConns        int32         // default 5
	AcquireTimeout  time.Duration // default 3s
	MaxConnIdleTime time.Duration // default 10m
	MaxConnLifetime time.Duration // default 30m
	// Pooled says the URL goes through a transaction pooler (PgBouncer,
	// pool_mode = transaction), where consecutive transactions of one
	// pooled connection may run on different server sessions, so no
	// session state may be relied on: statements are not prepared (pgx's
	// exec mode unless the URL names another), the migrator refuses to
	// run (its lock is a session advisory lock), and Listen cannot LISTEN
	// through it (see ListenURL).
	Pooled bool
	// ListenURL, when set, is the URL Listen connects to, direct to
	// PostgreSQL: behind a transaction pooler a notification would be
	// delivered to whichever client next borrowed the server session.
	// Without it a Pooled DB's Listen only hears this process's commits,
	// and the feed learns of other instances' events by polling.
	ListenURL string
	// ReadURLs are streaming replicas of the database: list, get and
	// export read from them, round robin; everything else goes to the
	// primary (replicas.go).
	ReadURLs []string
	// ReadWait bounds how long a read that presents a consistency token
	// waits for a replica to replay it before it goes to the primary
	// (default 250ms).
	ReadWait time.Duration
	// Tracing makes a span of each statement, COPY, batch and connection
	// wait under the caller's recording span (tracing.go); off, pgx has
	// no tracer to call.
	Tracing bool
}

// DefaultOptions returns the pool defaults: enough connections for a busy
// instance without exhausting the server's, a few kept warm, a short wait
// for a free one so that overload fails fast instead of piling up
// requests, and recycling so that connections follow failovers and DNS
// changes.
func DefaultOptions() Options {
	return Options{
		MaxConns:        20,
		MinConns:        5,
		AcquireTimeout:  3 * time.Second,
		MaxConnIdleTime: 10 * time.Minute,
		MaxConnLifetime: 30 * time.Minute,
		ReadWait:        defaultReadWait,
	}
}

func (o Options) withDefaults() (Options, error) {
	def := DefaultOptions()
	if o.MaxConns == 0 && o.MinConns == 0 {
		o.MinConns = def.MinConns
	}
	if o.MaxConns == 0 {
		o.MaxConns = def.MaxConns
	}
	if o.AcquireTimeout == 0 {
		o.AcquireTimeout = def.AcquireTimeout
	}
	if o.MaxConnIdleTime == 0 {
		o.MaxConnIdleTime = def.MaxConnIdleTime
	}
	if o.MaxConnLifetime == 0 {
		o.MaxConnLifetime = def.MaxConnLifetime
	}
	if o.ReadWait == 0 {
		o.ReadWait = def.ReadWait
	}
	switch {
	case o.MaxConns < 1 || o.MinConns < 0 || o.MinConns > o.MaxConns:
		return o, fmt.Errorf("pool sizes must satisfy 0 <= MinConns (%d) <= MaxConns (%d), MaxConns >= 1", o.MinConns, o.MaxConns)
	case o.AcquireTimeout < 0 || o.MaxConnIdleTime < 0 || o.MaxConnLifetime < 0 || o.ReadWait < 0:
		return o, errors.New("pool durations must not be negative")
	}
	return o, nil
}

// connectTimeout is the least time a new connection gets to be set up,
// unless the URL's connect_timeout says otherwise.
const connectTimeout = 5 * time.Second

// DB is a PostgreSQL database holding roster's users.
type DB struct {
	pool           *pgxpool.Pool
	acquireTimeout time.Duration
	// sqlDB adapts the pool to database/sql for goose. It holds no
	// connections of its own: each is borrowed from pool and returned.
	sqlDB *sql.DB
	// commits wakes this process's Listen calls after each committed
	// transaction (see inRawTx).
	commits broadcast.Group
	outage  *outage.Log
	probing chan struct{} // held by a Ping on a connection of its own
	// pooled: the URL goes through a transaction pooler (Options.Pooled).
	pooled bool
	// listenConfig is Listen's connection (Options.ListenURL); nil: the
	// pool's.
	listenConfig *pgx.ConnConfig
	reads        readers // concurrent reads, coalesced (coalesce.go)
	// creates commits concurrent creates together (users.go).
	creates *batch.Batcher[pgdb.CreateUserWithEventParams, created]
	// replicas serve reads (replicas.go); readWait bounds a read's wait
	// for one to replay its token.
	replicas []*replica
	readWait time.Duration
	// next is the round robin over replicas.
	next atomic.Uint32
	// replicaReads and primaryReads count where reads went while
	// replicas are configured (primaryReads: a replica was behind the
	// token or down).
	replicaReads, primaryReads atomic.Int64
}

// Open connects a pool to the database at url with opts and checks that
// the database answers. It does not migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var listen *pgx.ConnConfig
	if opts.ListenURL != "" {
		if listen, err = pgx.ParseConfig(opts.ListenURL); err != nil {
			return nil, fmt.Errorf("parse listen database URL: %w", err)
		}
	}
	pool, err := newPool(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	replicas, err := openReplicas(ctx, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	db := &DB{
		pool:           pool,
		replicas:       replicas,
		readWait:       opts.ReadWait,
		pooled:         opts.Pooled,
		listenConfig:   listen,
		acquireTimeout: opts.AcquireTimeout,
		sqlDB:          stdlib.OpenDBFromPool(pool),
		outage:         outage.New("database", nil),
		probing:        make(chan struct{}, 1),
	}
	db.reads, db.creates = db.newReaders(pool), db.newCreates()
	for _, r := range replicas {
		r.reads = db.newReaders(r.pool)
	}
	return db, nil
}

// newPool connects a pool to url with opts and checks that the database
// answers.
func newPool(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if opts.Pooled && !strings.Contains(url, "default_query_exec_mode") {
		// pgx's default prepares each statement once per connection and
		// reuses it by name; behind a transaction pooler the next use may
		// reach a server session that never saw it (PgBouncer < 1.21
		// cannot track them). exec sends each statement unnamed, in one
		// round trip, with its parameters as text.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	cfg.MaxConns = opts.MaxConns
	cfg.MinConns = opts.MinConns
	cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	cfg.MaxConnLifetime = opts.MaxConnLifetime
	// A dial to a server that does not answer would otherwise wait for
	// the operating system's TCP timeout, minutes, holding a pool slot.
	// (Requests wait at most the acquire timeout either way; a slow but
	// working connection setup, on a busy machine, gets a few seconds.)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = max(opts.AcquireTimeout, connectTimeout)
	}
	if opts.Tracing {
		cfg.ConnConfig.Tracer = queryTracer{}
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		registerUUID(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// Close closes the pool, waiting for borrowed connections to be returned.
func (db *DB) Close() {
	_ = db.sqlDB.Close() // it only returns connections to the pool
	db.pool.Close()
	for _, r := range db.replicas {
		r.pool.Close()
	}
}

// Migrator returns a goose provider for the PostgreSQL migrations. An
// advisory lock held for the whole run keeps instances that start at the
// same time from applying the same migration twice; the others wait for it
// and then find nothing to do. The provider borrows the DB's connections:
// close the DB, not the provider.
//
// A Pooled DB has no migrator: the lock would be taken on one server
// session and its release sent to another, leaving it held until the
// pooler closed that session, and every later migration waiting for it.
func (db *DB) Migrator() (*goose.Provider, error) {
	if db.pooled {
		return nil, errPooledMigrator
	}
	// goose retries a held lock every 5s by default; a second keeps the
	// wait short when instances start together. 300 tries keep the total
	// wait at goose's five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("postgres migrator: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.sqlDB, migrations.Postgres,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("postgres migrator: %w", err)
	}
	return p, nil
}

// errPooledMigrator refuses migrations through a transaction pooler.
var errPooledMigrator = errors.New("postgres migrator: the database URL goes through a transaction pooler, where the migration lock (a session advisory lock) would leak: migrate over a URL direct to PostgreSQL")

// Stat returns the pool's statistics.
func (db *DB) Stat() *pgxpool.Stat { return db.pool.Stat() }

// acquire borrows a connection, waiting at most the acquire timeout: pgxpool
// would otherwise wait as long as ctx allows, and under overload requests
// would queue for a connection until their clients gave up. Only the wait
// is bounded; the query that follows runs under ctx alone.
func (db *DB) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	return db.acquireFrom(ctx, db.pool)
}

// acquireFrom is acquire on pool: the primary's or a replica's.
func (db *DB) acquireFrom(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, db.acquireTimeout)
	defer cancel()
	conn, err := pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		st := pool.Stat()
		if st.AcquiredConns() < st.MaxConns() { // not busy: new connections do not come
			return nil, fmt.Errorf("acquire connection: %w: cannot connect within %s: %w", errAcquireTimeout, db.acquireTimeout, err)
		}
		return nil, fmt.Errorf("acquire connection: pool exhausted: %w: none free within %s (%d of %d in use): %w",
			errAcquireTimeout, db.acquireTimeout, st.AcquiredConns(), st.MaxConns(), err)
	}
	return nil, fmt.Errorf("acquire connection: %w", err)
}

// inTx runs fn in a transaction (read committed) on a borrowed connection,
// committing if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(q *pgdb.Queries) error) error {
	return db.inRawTx(ctx, func(tx pgx.Tx) error { return fn(pgdb.New(tx)) })
}

// inRawTx runs fn in a transaction on a pooled connection and, once it has
// committed, wakes this process's feed listeners: the change's event, if
// it wrote one, waits in the outbox for a reader to sequence it.
func (db *DB) inRawTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := db.use(ctx, func(conn *pgxpool.Conn) error {
		if err := pgx.BeginFunc(ctx, conn, fn); err != nil {
			return err
		}
		return db.noteCommit(ctx, conn)
	})
	if err != nil {
		return err
	}
	db.commits.Signal()
	return nil
}

// write runs fn, whose one writing statement commits on its own, on a
// borrowed connection and, when it succeeds, wakes this process's feed
// listeners as inRawTx does.
func (db *DB) write(ctx context.Context, fn func(q *pgdb.Queries) error) error {
	err := db.use(ctx, func(conn *pgxpool.Conn) error {
		if err := fn(pgdb.New(conn)); err != nil {
			return err
		}
		return db.noteCommit(ctx, conn)
	})
	if err != nil {
		return err
	}
	db.commits.Signal()
	return nil
}

// queries runs fn on a connection borrowed for its duration; the generated
// :many queries have consumed and closed their rows when fn returns.
func (db *DB) queries(ctx context.Context, fn func(q *pgdb.Queries) error) error {
	return db.use(ctx, func(conn *pgxpool.Conn) error { return fn(pgdb.New(conn)) })
}
