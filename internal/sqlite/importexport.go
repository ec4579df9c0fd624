package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// The import's statements are prepared once per transaction and run once
// per row, which is as fast as SQLite goes (no network to batch over);
// sqlc's generated code would prepare them for every call.
const (
	// importInsert inserts a row whose email is new; no row changes
	// otherwise.
	importInsert = `INSERT INTO users (id, name, name_lower, email, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?5)
ON CONFLICT DO NOTHING`
	// importUpsert also gives an existing user the row's name, when it
	// differs, and returns the id of the row written: the new id when it
	// was inserted.
	importUpsert = `INSERT INTO users (id, name, name_lower, email, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?5)
ON CONFLICT (lower(email)) DO UPDATE
SET name = excluded.name, name_lower = excluded.name_lower,
    updated_at = max(excluded.updated_at, users.updated_at + 1)
WHERE users.name IS NOT excluded.name
RETURNING id`
)

// BeginImport begins an import transaction on the write connection: each
// Write runs one prepared statement per row. See roster.UserStore. The
// transaction holds the write lock, and so queues every other writer,
// until it ends: an atomic import's, for the whole import.
func (db *DB) BeginImport(ctx context.Context, opts roster.ImportOptions) (roster.ImportTx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.classify("begin import", err)
	}
	at := opts.At.UnixMicro()
	opts.At = time.UnixMicro(at).UTC()
	return &importTx{db: db, tx: tx, opts: opts, at: at}, nil
}

// importTx is one transaction of an import.
type importTx struct {
	db   *DB
	tx   *sql.Tx
	opts roster.ImportOptions
	at   int64 // opts.At as stored
}

func (t *importTx) Write(ctx context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	out, err := importBatch(ctx, t.tx, t.opts.OnConflict, t.at, rows)
	if err != nil {
		return nil, t.db.classify("import", err)
	}
	return out, nil
}

// Commit writes the event, if any, and commits; a committed event wakes
// the Listen calls.
func (t *importTx) Commit(ctx context.Context, event *roster.ImportSummary) error {
	if event != nil {
		ev := roster.Event{Type: roster.EventUsersImported, UserID: uuid.Nil, Import: event, At: t.opts.At}
		if err := appendEvent(ctx, t.db.wq.WithTx(t.tx), ev); err != nil {
			return t.db.classify("import", err)
		}
	}
	if err := t.tx.Commit(); err != nil {
		return t.db.classify("import: commit", err)
	}
	if event != nil {
		t.db.commits.Signal()
	}
	return nil
}

// Rollback rolls back; after Commit, database/sql makes it a no-op.
func (t *importTx) Rollback() { _ = t.tx.Rollback() }

// importBatch writes rows in tx and tells what happened to each.
func importBatch(ctx context.Context, tx *sql.Tx, policy roster.ConflictPolicy, at int64, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	query := importInsert
	if policy == roster.ConflictUpdate {
		query = importUpsert
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare import: %w", err)
	}
	defer stmt.Close()
	missed := roster.ImportSkipped
	if policy == roster.ConflictFail {
		missed = roster.ImportConflict
	}
	out := make([]roster.ImportOutcome, len(rows))
	for i, r := range rows {
		u := r.User
		id := u.ID.String()
		args := []any{id, u.Name, roster.NameKey(u.Name), u.Email, at}
		if policy == roster.ConflictUpdate {
			var got string
			err := stmt.QueryRowContext(ctx, args...).Scan(&got)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out[i] = roster.ImportSkipped // unchanged
			case err != nil:
				return nil, fmt.Errorf("import line %d: %w", r.Line, err)
			case got == id:
				out[i] = roster.ImportInserted
			default:
				out[i] = roster.ImportUpdated
			}
			continue
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("import line %d: %w", r.Line, err)
		}
		n, err := res.RowsAffected()
		switch {
		case err != nil:
			return nil, fmt.Errorf("import line %d: %w", r.Line, err)
		case n == 1:
			out[i] = roster.ImportInserted
		default:
			out[i] = missed
		}
	}
	return out, nil
}

// exportPage is how many users a page of ExportUsers holds. Pages of
// 5,000 were no faster here: a query costs no round trip.
const exportPage = 1000

// ExportUsers calls fn for every user matching f, oldest first. One read
// transaction gives every page the same snapshot (WAL keeps it while
// writers go on); the pages are keyset pages of the list queries, and
// memory holds two pages (the next one is read while fn handles this one;
// see roster.ExportPages).
func (db *DB) ExportUsers(ctx context.Context, f roster.UserFilter, fn func(roster.User) error) error {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	defer tx.Rollback() // read only: nothing to commit
	rq := db.rq.WithTx(tx)
	fetch := func(after *roster.User) ([]roster.User, error) {
		lq := roster.ListQuery{Filter: f, Sort: roster.SortOldest, Limit: exportPage}
		if after != nil {
			lq.After = &roster.Cursor{Sort: roster.SortOldest, CreatedAt: after.CreatedAt, ID: after.ID}
		}
		rows, err := listUsers(ctx, rq, lq)
		if err != nil {
			return nil, err
		}
		users := make([]roster.User, len(rows))
		for i, row := range rows {
			if users[i], err = row.Domain(); err != nil {
				return nil, err
			}
		}
		return users, nil
	}
	if err := roster.ExportPages(exportPage, fetch, fn); err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	return nil
}
