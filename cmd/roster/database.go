package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	tracing            bool // spans of each statement (PostgreSQL)
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
}

func (p poolFlags) apply(d *dbFlags) {
	d.maxConns, d.minConns = p.MaxConns, p.MinConns
	d.pool.AcquireTimeout, d.pool.MaxConnIdleTime, d.pool.MaxConnLifetime = p.AcquireTimeout, p.MaxConnIdleTime, p.MaxConnLifetime
}

// poolDefaults are the pool flags' defaults, from the store's own.
func poolDefaults() map[string]string {
	def := postgres.DefaultOptions()
	return map[string]string{
		"db_max_conns": fmt.Sprint(def.MaxConns), "db_min_conns": fmt.Sprint(def.MinConns),
		"db_acquire_timeout": def.AcquireTimeout.String(), "db_max_conn_idle_time": def.MaxConnIdleTime.String(),
		"db_max_conn_lifetime": def.MaxConnLifetime.String(),
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
		opts := d.pool
		opts.Tracing = d.tracing
		db, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			return nil, pgOpenError(dsn, err)
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
