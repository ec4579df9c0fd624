package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite"
)

// dbFlags are the database settings shared by serve and migrate.
type dbFlags struct {
	logger             *slog.Logger // where outages are logged; nil: nowhere
	target             string
	maxConns, minConns int
	pool               postgres.Options
}

func (d *dbFlags) register(fs *flagSet, withPool bool) {
	fs.StringVar(&d.target, "db", "roster.db", "database: a SQLite file path, a sqlite:PATH URL or a postgres:// URL")
	fs.alias("db", "DATABASE_URL")
	def := postgres.DefaultOptions()
	// One-shot commands keep no idle connections.
	d.maxConns, d.minConns = int(def.MaxConns), 0
	if !withPool {
		return
	}
	fs.IntVar(&d.maxConns, "db-max-conns", int(def.MaxConns), "PostgreSQL pool: maximum connections")
	fs.IntVar(&d.minConns, "db-min-conns", int(def.MinConns), "PostgreSQL pool: connections kept open when idle")
	fs.DurationVar(&d.pool.AcquireTimeout, "db-acquire-timeout", def.AcquireTimeout, "PostgreSQL pool: longest wait for a free connection")
	fs.DurationVar(&d.pool.MaxConnIdleTime, "db-max-conn-idle-time", def.MaxConnIdleTime, "PostgreSQL pool: close connections idle this long")
	fs.DurationVar(&d.pool.MaxConnLifetime, "db-max-conn-lifetime", def.MaxConnLifetime, "PostgreSQL pool: recycle connections this old")
}

// engine classifies the target and checks it without opening anything.
func (d *dbFlags) engine() (string, string, error) {
	t := d.target
	switch {
	case strings.HasPrefix(t, "postgres://"), strings.HasPrefix(t, "postgresql://"):
		if _, err := pgxpool.ParseConfig(t); err != nil {
			return "", "", usagef("invalid database URL: %v", err)
		}
		if d.maxConns < 1 || d.minConns < 0 || d.minConns > d.maxConns || d.maxConns > 10000 {
			return "", "", usagef("pool sizes must satisfy 0 <= --db-min-conns (%d) <= --db-max-conns (%d), 1 <= --db-max-conns <= 10000", d.minConns, d.maxConns)
		}
		d.pool.MaxConns, d.pool.MinConns = int32(d.maxConns), int32(d.minConns) // #nosec G115 -- both within 0..10000: checked above
		return "postgres", t, nil
	case strings.HasPrefix(t, "sqlite:"):
		t = strings.TrimPrefix(strings.TrimPrefix(t, "sqlite:"), "//")
	case strings.Contains(t, "://"):
		return "", "", usagef("unsupported database URL %q: use postgres://… or a SQLite path", redact(t))
	}
	if t == "" {
		return "", "", usagef("empty SQLite database path")
	}
	return "sqlite", t, nil
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
	migrator *goose.Provider
	pool     prometheus.Collector // connection pool statistics
	close    func()
}

func openDatabase(ctx context.Context, d *dbFlags) (*database, error) {
	engine, dsn, err := d.engine()
	if err != nil {
		return nil, err
	}
	switch engine {
	case "postgres":
		db, err := postgres.Open(ctx, dsn, d.pool)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		db.SetLogger(d.logger)
		m, err := db.Migrator()
		if err != nil {
			db.Close()
			return nil, err
		}
		return &database{engine: engine, users: db, events: db, migrator: m, pool: pgxPoolCollector(db.Stat), close: db.Close}, nil
	default:
		db, err := sqlite.Open(ctx, dsn)
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
		return &database{engine: engine, users: db, events: db, migrator: m, pool: sqlPoolCollector(stats), close: func() { _ = db.Close() }}, nil
	}
}

// migrateUp applies pending migrations and reports what it did.
func migrateUp(ctx context.Context, db *database) ([]*goose.MigrationResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := db.migrator.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}
