package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
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

// ImportUsers writes the batches next returns, each with one prepared
// statement in a transaction on the write connection. See
// roster.UserStore. An atomic import holds the write lock, and so queues
// every other writer, until it ends.
func (db *DB) ImportUsers(ctx context.Context, opts roster.ImportOptions, next func() ([]roster.ImportRow, bool, error),
	written func([]roster.ImportRow, []roster.ImportOutcome)) (roster.ImportSummary, error) {
	at := opts.At.UnixMicro()
	opts.At = time.UnixMicro(at).UTC()
	var sum roster.ImportSummary
	if opts.Atomic {
		err := db.inRawTx(ctx, func(tx *sql.Tx) error {
			for {
				rows, _, err := next()
				if err != nil {
					return err
				}
				if rows == nil {
					break
				}
				out, err := importBatch(ctx, tx, opts.OnConflict, at, rows)
				if err != nil {
					return err
				}
				sum.Add(out)
				written(rows, out)
			}
			if !sum.Changed() {
				return nil
			}
			return appendImportEvent(ctx, db.wq.WithTx(tx), opts, sum)
		})
		if err != nil {
			return roster.ImportSummary{}, db.classify("import users", err)
		}
		if sum.Changed() {
			db.commits.Signal()
		}
		return sum, nil
	}
	var (
		err     error
		evented bool // the event is committed, with the last batch
	)
	for {
		rows, last, nerr := next()
		if nerr != nil || rows == nil {
			err = nerr
			break
		}
		var (
			out   []roster.ImportOutcome
			event bool
		)
		err = db.inRawTx(ctx, func(tx *sql.Tx) (err error) {
			if out, err = importBatch(ctx, tx, opts.OnConflict, at, rows); err != nil || !last {
				return err
			}
			total := sum
			total.Add(out)
			if event = total.Changed(); !event {
				return nil
			}
			return appendImportEvent(ctx, db.wq.WithTx(tx), opts, total)
		})
		if err != nil {
			break
		}
		if evented = event; evented {
			db.commits.Signal()
		}
		sum.Add(out)
		written(rows, out)
	}
	// Cut short, the import had no last batch; the batches committed so
	// far stay, even when the client went away, and need their event.
	if !evented && sum.Changed() {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		eerr := db.inTx(ectx, func(q *sqlitedb.Queries) error { return appendImportEvent(ectx, q, opts, sum) })
		if eerr == nil {
			db.commits.Signal()
		} else if err == nil {
			err = eerr
		}
	}
	if err != nil {
		return sum, db.classify("import users", err)
	}
	return sum, nil
}

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
		args := []any{id, u.Name, nameKey(u.Name), u.Email, at}
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

func appendImportEvent(ctx context.Context, q *sqlitedb.Queries, opts roster.ImportOptions, sum roster.ImportSummary) error {
	return appendEvent(ctx, q, roster.Event{Type: roster.EventUsersImported, UserID: uuid.Nil, Import: &sum, At: opts.At})
}

// inRawTx runs fn in a transaction on the write connection (see inTx).
func (db *DB) inRawTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
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
			if users[i], err = user(row); err != nil {
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
