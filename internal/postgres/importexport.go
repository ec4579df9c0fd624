package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

// The import's SQL is not in query.sql: it works on a temporary staging
// table, which sqlc cannot see in the migrations. A batch of new users is
// copied straight into users (COPY, the fastest way in). A batch that meets
// an existing email, and every batch after it, is copied into the staging
// table instead and merged into users with one set-based INSERT … ON
// CONFLICT. ON COMMIT DELETE ROWS empties the staging table at each
// commit; it lives as long as the pooled connection, so partial imports do
// not create and drop a table per batch.
const (
	createStaging = `CREATE TEMP TABLE IF NOT EXISTS import_staging (
    line bigint NOT NULL, id uuid NOT NULL, name text NOT NULL, name_lower text NOT NULL, email text NOT NULL
) ON COMMIT DELETE ROWS`
	truncateStaging = `TRUNCATE import_staging`
	// mergeInsert inserts the rows whose email is new and returns them.
	mergeInsert = `INSERT INTO users (id, name, name_lower, email, created_at, updated_at)
SELECT id, name, name_lower, email, $1, $1 FROM import_staging ORDER BY line
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING email, true`
	// mergeUpdate also gives existing users the row's name, when it
	// differs; xmax is 0 for a row this statement inserted.
	mergeUpdate = `INSERT INTO users AS u (id, name, name_lower, email, created_at, updated_at)
SELECT id, name, name_lower, email, $1, $1 FROM import_staging ORDER BY line
ON CONFLICT ((lower(email))) DO UPDATE
SET name = excluded.name, name_lower = excluded.name_lower,
    updated_at = greatest(excluded.updated_at, u.updated_at + interval '1 microsecond')
WHERE u.name IS DISTINCT FROM excluded.name
RETURNING u.email, u.xmax = 0`
)

// ImportUsers writes the batches next returns, each with a COPY straight
// into users or, once an email exists, a COPY into the staging table and
// a merge (see importer.batch). See roster.UserStore.
func (db *DB) ImportUsers(ctx context.Context, opts roster.ImportOptions, next func() ([]roster.ImportRow, bool, error),
	written func([]roster.ImportRow, []roster.ImportOutcome)) (roster.ImportSummary, error) {
	opts.At = micro(opts.At).UTC()
	// The reader's errors are the client's (a broken upload), not the
	// database's.
	read := next
	next = func() ([]roster.ImportRow, bool, error) {
		rows, last, err := read()
		return rows, last, fromCaller(err)
	}
	im := &importer{opts: opts, direct: true}
	var sum roster.ImportSummary
	if opts.Atomic {
		err := db.inRawTx(ctx, func(tx pgx.Tx) error {
			return im.all(ctx, tx, &sum, next, written)
		})
		if err != nil {
			return roster.ImportSummary{}, fmt.Errorf("import users: %w", err)
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
		im.staged = false // a transaction of its own
		err = db.inRawTx(ctx, func(tx pgx.Tx) (err error) {
			if out, err = im.batch(ctx, tx, rows); err != nil || !last {
				return err
			}
			total := sum
			total.Add(out)
			if event = total.Changed(); !event {
				return nil
			}
			return appendImportEvent(ctx, pgdb.New(tx), opts, total)
		})
		if err != nil {
			break
		}
		evented = event
		sum.Add(out)
		written(rows, out)
	}
	// Cut short, the import had no last batch; the batches committed so
	// far stay, even when the client went away, and need their event.
	if !evented && sum.Changed() {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if eerr := db.inTx(ectx, func(q *pgdb.Queries) error { return appendImportEvent(ectx, q, opts, sum) }); eerr != nil && err == nil {
			err = eerr
		}
	}
	if err != nil {
		return sum, fmt.Errorf("import users: %w", err)
	}
	return sum, nil
}

// importer writes the batches of one import.
type importer struct {
	opts roster.ImportOptions
	// direct: no batch has met an existing email yet, so the next one is
	// copied straight into users.
	direct bool
	// staged: the staging table exists in this transaction and may hold
	// rows.
	staged bool
}

// all writes every batch in the one transaction tx, and the event last.
func (im *importer) all(ctx context.Context, tx pgx.Tx, sum *roster.ImportSummary,
	next func() ([]roster.ImportRow, bool, error), written func([]roster.ImportRow, []roster.ImportOutcome)) error {
	for {
		rows, _, err := next()
		if err != nil {
			return err
		}
		if rows == nil {
			break
		}
		out, err := im.batch(ctx, tx, rows)
		if err != nil {
			return err
		}
		sum.Add(out)
		written(rows, out)
	}
	if !sum.Changed() {
		return nil
	}
	return appendImportEvent(ctx, pgdb.New(tx), im.opts, *sum)
}

// batch writes rows in tx. A COPY straight into users costs PostgreSQL a
// quarter less than COPY into the staging table and the merge (no staging
// rows to write and read back, no speculative insertion), but fails as a
// whole on an existing email: it runs in a savepoint, and a batch it fails
// for is merged instead, as is every batch after it, since an import that
// meets one existing email (a re-import, say) likely meets more.
func (im *importer) batch(ctx context.Context, tx pgx.Tx, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	if im.direct {
		out, err := copyNew(ctx, tx, im.opts.At, rows)
		if !errors.Is(err, errEmailExists) {
			return out, err
		}
		im.direct = false
	}
	return im.merge(ctx, tx, rows)
}

// errEmailExists is a COPY into users that met an existing email.
var errEmailExists = errors.New("an email exists")

// copyNew copies rows into users, all inserted, or fails with
// errEmailExists and writes nothing.
func copyNew(ctx context.Context, tx pgx.Tx, at time.Time, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "name", "name_lower", "email", "created_at", "updated_at"},
		copyRows(rows, func(r roster.ImportRow, vals []any) {
			vals[0], vals[1], vals[2], vals[3], vals[4], vals[5] = [16]byte(r.User.ID), r.User.Name, nameKey(r.User.Name), r.User.Email, at, at
		}, 6))
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("copy into users: %w (rollback to savepoint: %v)", err, rerr)
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == emailIndex {
			return nil, errEmailExists
		}
		return nil, fmt.Errorf("copy into users: %w", err)
	}
	if err := sp.Commit(ctx); err != nil { // releases the savepoint
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	out := make([]roster.ImportOutcome, len(rows))
	for i := range out {
		out[i] = roster.ImportInserted
	}
	return out, nil
}

// copyRows is the CopyFrom source of rows, each made by fill into a slice
// of n values. The id goes as [16]byte: pgx encodes that directly, where
// uuid.UUID, a driver.Valuer, would become a string first and cost more
// than the rest of the row. One slice serves every row: CopyFrom encodes
// each row before asking for the next.
func copyRows(rows []roster.ImportRow, fill func(roster.ImportRow, []any), n int) pgx.CopyFromSource {
	vals := make([]any, n)
	i := 0
	return pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(rows) {
			return nil, nil
		}
		fill(rows[i], vals)
		i++
		return vals, nil
	})
}

// merge copies rows into the staging table (creating it if need be,
// emptying it if it may hold rows) and merges them into users.
func (im *importer) merge(ctx context.Context, tx pgx.Tx, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	prepare := createStaging
	if im.staged {
		prepare = truncateStaging
	}
	if _, err := tx.Exec(ctx, prepare); err != nil {
		return nil, fmt.Errorf("staging table: %w", err)
	}
	im.staged = true
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_staging"}, []string{"line", "id", "name", "name_lower", "email"},
		copyRows(rows, func(r roster.ImportRow, vals []any) {
			vals[0], vals[1], vals[2], vals[3], vals[4] = r.Line, [16]byte(r.User.ID), r.User.Name, nameKey(r.User.Name), r.User.Email
		}, 5))
	if err != nil {
		return nil, fmt.Errorf("copy into staging table: %w", err)
	}
	merge := mergeInsert
	if im.opts.OnConflict == roster.ConflictUpdate {
		merge = mergeUpdate
	}
	res, err := tx.Query(ctx, merge, im.opts.At)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	changed := make(map[string]bool, len(rows)) // email → inserted
	var (
		email    string
		inserted bool
	)
	_, err = pgx.ForEachRow(res, []any{&email, &inserted}, func() error {
		changed[email] = inserted
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return outcomes(rows, changed, im.opts.OnConflict), nil
}

// outcomes maps what the merge returned to each row; a row it did not
// return met an existing email.
func outcomes(rows []roster.ImportRow, changed map[string]bool, policy roster.ConflictPolicy) []roster.ImportOutcome {
	out := make([]roster.ImportOutcome, len(rows))
	for i, r := range rows {
		inserted, ok := changed[r.User.Email]
		switch {
		case ok && inserted:
			out[i] = roster.ImportInserted
		case ok:
			out[i] = roster.ImportUpdated
		case policy == roster.ConflictFail:
			out[i] = roster.ImportConflict
		default:
			out[i] = roster.ImportSkipped
		}
	}
	return out
}

func appendImportEvent(ctx context.Context, q *pgdb.Queries, opts roster.ImportOptions, sum roster.ImportSummary) error {
	return appendEvent(ctx, q, roster.Event{Type: roster.EventUsersImported, UserID: uuid.Nil, Import: &sum, At: opts.At})
}

// exportPage is how many users a page of ExportUsers holds. Each page is
// a query with its round trip and planning: 5,000 exported 9% faster than
// 1,000 (bench/import/run.sh), for under 2 MB of memory.
const exportPage = 5000

// ExportUsers calls fn for every user matching f, oldest first. One
// REPEATABLE READ, READ ONLY transaction gives every page the same
// snapshot; the pages are keyset pages of the list queries, so each costs
// the same however deep, and memory holds two pages (the next one is read
// while fn handles this one; see roster.ExportPages).
func (db *DB) ExportUsers(ctx context.Context, f roster.UserFilter, fn func(roster.User) error) error {
	// The writer's errors are the client's (a reader gone), not the
	// database's.
	write := func(u roster.User) error { return fromCaller(fn(u)) }
	err := db.use(ctx, func(conn *pgxpool.Conn) error {
		return pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			pq := pgdb.New(customPlans{tx})
			fetch := func(after *roster.User) ([]roster.User, error) {
				lq := roster.ListQuery{Filter: f, Sort: roster.SortOldest, Limit: exportPage}
				if after != nil {
					lq.After = &roster.Cursor{Sort: roster.SortOldest, CreatedAt: after.CreatedAt, ID: after.ID}
				}
				rows, err := listUsers(ctx, pq, lq)
				if err != nil {
					return nil, err
				}
				users := make([]roster.User, len(rows))
				for i, row := range rows {
					users[i] = user(row)
				}
				return users, nil
			}
			return roster.ExportPages(exportPage, fetch, write)
		})
	})
	if err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	return nil
}
