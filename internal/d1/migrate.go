//go:build js && wasm

package d1

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/migrations"
)

// The migrations are the SQLite store's (migrations/sqlite), applied
// through the binding at the first request of each isolate that finds the
// database behind. Versions are kept in goose's own table, with goose's
// columns, so that a D1 database exported to a file is at the version
// `roster migrate` would see.
const (
	createVersionTable = `CREATE TABLE IF NOT EXISTS goose_db_version (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER NOT NULL,
    is_applied INTEGER NOT NULL,
    tstamp TIMESTAMP DEFAULT (datetime('now'))
)`
	// goose starts its table with version 0.
	recordZero     = `INSERT INTO goose_db_version (version_id, is_applied) SELECT 0, 1 WHERE NOT EXISTS (SELECT 1 FROM goose_db_version)`
	currentVersion = `SELECT coalesce(max(version_id), 0) AS version FROM goose_db_version WHERE is_applied = 1`
	recordVersion  = `INSERT INTO goose_db_version (version_id, is_applied) VALUES (?1, 1)`
)

// migration is the Up section of one goose file, split into statements.
type migration struct {
	version int64
	stmts   []string
}

// ready applies any missing migration, once per isolate; an attempt that
// fails is retried by the next request.
func (db *DB) ready(ctx context.Context) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.migrated {
		return nil
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate d1: %w", err)
	}
	db.migrated = true
	return nil
}

// migrate applies each missing migration as one batch, with its version
// row, so that a migration is all or nothing. Another isolate migrating
// at the same time makes a batch fail (its tables exist already); the
// version is then read again before giving up.
func (db *DB) migrate(ctx context.Context) error {
	all, err := upMigrations(migrations.SQLite)
	if err != nil {
		return err
	}
	if _, err := db.rawBatch(ctx, stmt{sql: createVersionTable}, stmt{sql: recordZero}); err != nil {
		return err
	}
	for _, m := range all {
		v, err := db.version(ctx)
		if err != nil {
			return err
		}
		if m.version <= v {
			continue
		}
		stmts := make([]stmt, 0, len(m.stmts)+1)
		for _, s := range m.stmts {
			stmts = append(stmts, stmt{sql: s})
		}
		stmts = append(stmts, stmt{recordVersion, []any{m.version}})
		if _, err := db.rawBatch(ctx, stmts...); err != nil {
			if v, verr := db.version(ctx); verr == nil && v >= m.version {
				continue // applied by another isolate meanwhile
			}
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
	}
	return nil
}

func (db *DB) version(ctx context.Context) (int64, error) {
	res, err := db.rawBatch(ctx, stmt{sql: currentVersion})
	if err != nil {
		return 0, err
	}
	rs := rows(res[0])
	if len(rs) != 1 {
		return 0, fmt.Errorf("read version: got %d rows", len(rs))
	}
	return int64(rs[0].Get("version").Float()), nil
}

// upMigrations reads the goose files of fsys in version order.
func upMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql") // sorted; names start with a zero-padded version
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		v, err := strconv.ParseInt(strings.SplitN(path.Base(name), "_", 2)[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version: %w", name, err)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		stmts, err := upStatements(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, stmts: stmts})
	}
	return out, nil
}

// upStatements returns the statements of a goose file's Up section. A
// statement ends with a line ending in ";"; whole-line comments are
// dropped (they may hold a ";"). Between goose's StatementBegin and
// StatementEnd, every line up to the end is one statement, as goose reads
// it: a trigger's body holds statements of its own.
func upStatements(src string) ([]string, error) {
	var stmts []string
	var cur strings.Builder
	up, block := false, false
	flush := func() {
		stmts = append(stmts, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	for line := range strings.Lines(src) {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "-- +goose Up"):
			up = true
			continue
		case strings.HasPrefix(t, "-- +goose Down"):
			up = false
			continue
		case !up:
			continue
		case strings.HasPrefix(t, "-- +goose StatementBegin"):
			if block || strings.TrimSpace(cur.String()) != "" {
				return nil, fmt.Errorf("StatementBegin inside a statement: %q", cur.String())
			}
			block = true
			continue
		case strings.HasPrefix(t, "-- +goose StatementEnd"):
			if !block || strings.TrimSpace(cur.String()) == "" {
				return nil, errors.New("StatementEnd without a statement")
			}
			block = false
			flush()
			continue
		case strings.HasPrefix(t, "-- +goose"):
			return nil, fmt.Errorf("unsupported annotation %q", t)
		case t == "" || strings.HasPrefix(t, "--"):
			continue
		}
		cur.WriteString(line)
		if !block && strings.HasSuffix(t, ";") {
			flush()
		}
	}
	if block {
		return nil, errors.New("StatementBegin without StatementEnd")
	}
	if strings.TrimSpace(cur.String()) != "" {
		return nil, fmt.Errorf("statement without a final ';': %q", cur.String())
	}
	return stmts, nil
}
