package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite"
)

// dbFlags are the database settings shared by serve and migrate.
type dbFlags struct {
	Target             string       `name:"db" default:"roster.db" environ:"DATABASE_URL" placeholder:"DB" help:"Database: a SQLite file path, a sqlite:PATH URL or a postgres:// URL."`
	logger             *slog.Logger // where outages are logged; nil: nowhere
	maxConns, minConns int
	tracing            bool // spans of each statement
	pool               postgres.Options
}

// oneShot sizes the pool of a command that runs and exits: no
// connections kept idle.
func (d *dbFlags) oneShot() {
	d.maxConns, d.minConns = int(postgres.DefaultOptions().MaxConns), 0
}

// poolFlags size serve's PostgreSQL pool.
type poolFlags struct {
	MaxConns        int           `name:"db-max-conns" default:"${db_max_conns}" environ:"" help:"PostgreSQL pool: maximum connections."`
	MinConns        int           `name:"db-min-conns" default:"${db_min_conns}" environ:"" help:"PostgreSQL pool: connections kept open when idle."`
	AcquireTimeout  time.Duration `name:"db-acquire-timeout" default:"${db_acquire_timeout}" environ:"" help:"PostgreSQL pool: longest wait for a free connection."`
	MaxConnIdleTime time.Duration `name:"db-max-conn-idle-time" default:"${db_max_conn_idle_time}" environ:"" help:"PostgreSQL pool: close connections idle this long."`
	MaxConnLifetime time.Duration `name:"db-max-conn-lifetime" default:"${db_max_conn_lifetime}" environ:"" help:"PostgreSQL pool: recycle connections this old."`
	Pooler          string        `name:"db-pooler" default:"none" enum:"none,transaction" environ:"" placeholder:"none|transaction" help:"What DATABASE_URL reaches: none (PostgreSQL itself) or transaction (a transaction pooler such as PgBouncer with pool_mode=transaction: no prepared statements, no LISTEN, no migrations through it; docs/SCALING.md)."`
	ListenURL       string        `name:"listen-database-url" environ:"" placeholder:"URL" help:"postgres:// URL direct to PostgreSQL, for what cannot go through a transaction pooler: the change feed's LISTEN and migrations. Without it, behind a pooler, the feed polls the events table every --event-poll-interval."`
	ReadURLs        stringList    `name:"read-database-url" environ:"" placeholder:"URLS" help:"postgres:// URLs of streaming replicas, comma-separated or repeated: list, get and export read from them; writes answer with an X-Roster-Consistency token, and a read presenting it waits for a replica that has replayed it (docs/SCALING.md)."`
	ReadWait        time.Duration `name:"read-consistency-wait" default:"${db_read_wait}" environ:"" help:"Longest wait of a read with an X-Roster-Consistency token for a replica to replay it; then the primary answers."`
}

func (p poolFlags) apply(d *dbFlags) {
	d.maxConns, d.minConns = p.MaxConns, p.MinConns
	d.pool.AcquireTimeout, d.pool.MaxConnIdleTime, d.pool.MaxConnLifetime = p.AcquireTimeout, p.MaxConnIdleTime, p.MaxConnLifetime
	d.pool.Pooled, d.pool.ListenURL = p.Pooler == "transaction", p.ListenURL
	d.pool.ReadURLs, d.pool.ReadWait = p.ReadURLs, p.ReadWait
}

// poolDefaults are the pool flags' defaults, from the store's own.
func poolDefaults() map[string]string {
	def := postgres.DefaultOptions()
	return map[string]string{
		"db_max_conns": fmt.Sprint(def.MaxConns), "db_min_conns": fmt.Sprint(def.MinConns),
		"db_acquire_timeout": def.AcquireTimeout.String(), "db_max_conn_idle_time": def.MaxConnIdleTime.String(),
		"db_max_conn_lifetime": def.MaxConnLifetime.String(), "db_read_wait": def.ReadWait.String(),
	}
}

// engine classifies the target and checks it without opening anything.
func (d *dbFlags) engine() (string, string, error) {
	t := d.Target
	switch {
	case strings.HasPrefix(t, "postgres://"), strings.HasPrefix(t, "postgresql://"):
		if _, err := pgxpool.ParseConfig(t); err != nil {
			return "", "", usagef("invalid database URL: %v", err)
		}
		if d.maxConns < 1 || d.minConns < 0 || d.minConns > d.maxConns || d.maxConns > 10000 {
			return "", "", usagef("pool sizes must satisfy 0 <= --db-min-conns (%d) <= --db-max-conns (%d), 1 <= --db-max-conns <= 10000", d.minConns, d.maxConns)
		}
		d.pool.MaxConns, d.pool.MinConns = int32(d.maxConns), int32(d.minConns) // #nosec G115 -- both within 0..10000: checked above
		if l := d.pool.ListenURL; l != "" {
			if err := checkPostgresURL("--listen-database-url", l); err != nil {
				return "", "", err
			}
		}
		for _, r := range d.pool.ReadURLs {
			if err := checkPostgresURL("--read-database-url", r); err != nil {
				return "", "", err
			}
		}
		if d.pool.ReadWait < 0 {
			return "", "", usagef("--read-consistency-wait must not be negative")
		}
		return "postgres", t, nil
	case strings.HasPrefix(t, "sqlite:"):
		t = strings.TrimPrefix(strings.TrimPrefix(t, "sqlite:"), "//")
	case strings.Contains(t, "://"):
		return "", "", usagef("unsupported database URL %q: use postgres://… or a SQLite path", redact(t))
	}
	if t == "" {
		return "", "", usagef("empty SQLite database path")
	}
	if d.pool.Pooled || d.pool.ListenURL != "" || len(d.pool.ReadURLs) > 0 {
		return "", "", usagef("--db-pooler, --listen-database-url and --read-database-url apply to PostgreSQL only")
	}
	return "sqlite", t, nil
}

// checkPostgresURL checks a flag's postgres:// URL without connecting.
func checkPostgresURL(flag, u string) error {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return usagef("invalid %s %q: want a postgres:// URL", flag, redact(u))
	}
	if _, err := pgx.ParseConfig(u); err != nil {
		return usagef("invalid %s: %v", flag, err)
	}
	return nil
}

// redact hides a password in a URL shown to the user.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if creds, host, ok := strings.Cut(rest, "@"); ok {
		if user, _, hasPass := strings.Cut(creds, ":"); hasPass {
			return scheme + "://" + user + ":xxxxx@" + host
		}
	}
	return u
}

// database is an open store of either engine.
type database struct {
	engine   string
	users    roster.UserStore
	events   roster.EventStore
	migrator *goose.Provider // nil behind a transaction pooler without a direct URL
	// doneMigrating closes what only the migrator needed (its direct pool
	// behind a transaction pooler); close calls it too.
	doneMigrating func()
	pool          prometheus.Collector // connection pool statistics
	replicas      prometheus.Collector // read replicas' lag and where reads went; nil without replicas
	close         func()
}

func openDatabase(ctx context.Context, d *dbFlags) (*database, error) {
	engine, dsn, err := d.engine()
	if err != nil {
		return nil, err
	}
	switch engine {
	case "postgres":
		opts := d.pool
		opts.Tracing = d.tracing
		db, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			return nil, pgOpenError(dsn, err)
		}
		db.SetLogger(d.logger)
		m, closeMigrator, err := pgMigrator(ctx, db, d.pool)
		if err != nil {
			db.Close()
			return nil, err
		}
		closeMigrator = sync.OnceFunc(closeMigrator)
		out := &database{engine: engine, users: db, events: db, migrator: m, doneMigrating: closeMigrator, pool: pgxPoolCollector(db.Stat),
			close: func() { closeMigrator(); db.Close() }}
		if len(d.pool.ReadURLs) > 0 {
			out.replicas = replicaCollector{db}
		}
		return out, nil
	default:
		db, err := sqlite.Open(ctx, dsn, sqlite.Options{Tracing: d.tracing})
		if err != nil {
			return nil, fmt.Errorf("open SQLite: %w", err)
		}
		db.SetLogger(d.logger)
		m, err := db.Migrator()
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		stats := func() map[string]sql.DBStats {
			return map[string]sql.DBStats{"read": db.Stats(), "write": db.WriteStats()}
		}
		return &database{engine: engine, users: db, events: db, migrator: m, doneMigrating: func() {}, pool: sqlPoolCollector(stats), close: func() { _ = db.Close() }}, nil
	}
}

// pgMigrator returns db's migrator or, behind a transaction pooler, one on
// a small pool of its own direct to PostgreSQL (the listen URL), whose
// connections close when idle; nil when there is no direct URL.
func pgMigrator(ctx context.Context, db *postgres.DB, opts postgres.Options) (*goose.Provider, func(), error) {
	if !opts.Pooled {
		m, err := db.Migrator()
		return m, func() {}, err
	}
	if opts.ListenURL == "" {
		return nil, func() {}, nil
	}
	direct, err := postgres.Open(ctx, opts.ListenURL, postgres.Options{MaxConns: 2, MinConns: 0, MaxConnIdleTime: time.Minute})
	if err != nil {
		return nil, nil, fmt.Errorf("--listen-database-url: %w", pgOpenError(opts.ListenURL, err))
	}
	m, err := direct.Migrator()
	if err != nil {
		direct.Close()
		return nil, nil, err
	}
	return m, direct.Close, nil
}

// errNoMigrator: behind a transaction pooler, with no direct URL.
var errNoMigrator = usagef("behind a transaction pooler (--db-pooler=transaction) migrations need a connection direct to PostgreSQL: set --listen-database-url, or run \"roster migrate\" with a direct URL and serve with --no-migrate")

// migrateUp applies pending migrations and reports what it did.
func migrateUp(ctx context.Context, db *database) ([]*goose.MigrationResult, error) {
	if db.migrator == nil {
		return nil, errNoMigrator
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := db.migrator.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}

// pgOpenError puts the cause a newcomer can act on first. Without sslmode
// pgx tries TLS, then plain text, and reports both attempts: the refused
// TLS, harmless on a local server, came first and hid the real problem.
func pgOpenError(dsn string, err error) error {
	cfg, perr := pgx.ParseConfig(dsn)
	if perr != nil {
		return fmt.Errorf("open PostgreSQL: %w", err)
	}
	where := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "3D000": // invalid_catalog_name
		return fmt.Errorf("PostgreSQL on %s has no database %q: create it (createdb -h %s -p %d -U %s %s, or CREATE DATABASE in psql) or fix the name in the URL",
			where, cfg.Database, cfg.Host, cfg.Port, cfg.User, cfg.Database)
	case errors.As(err, &pgErr):
		return fmt.Errorf("PostgreSQL on %s: %s (SQLSTATE %s)", where, pgErr.Message, pgErr.Code)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return fmt.Errorf("PostgreSQL on %s does not accept TLS, which the URL requires: add ?sslmode=disable for a server on this machine or a private network, or enable ssl on the server (%w)", where, err)
	}
	return fmt.Errorf("open PostgreSQL: %w", err)
}
