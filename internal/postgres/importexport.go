package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

// The import's SQL is not in query.sql: it works on a temporary staging
// table, which sqlc cannot see in the migrations. Each batch is copied
// into the table (COPY, the fastest way in) and merged into users with one
// set-based INSERT … ON CONFLICT. ON COMMIT DELETE ROWS empties the table
// at each commit; it lives as long as the pooled connection, so partial
// imports do not create and drop a table per batch.
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

// ImportUsers writes the batches next returns: COPY into the staging
// table, then one merge per batch. See roster.UserStore.
func (db *DB) ImportUsers(ctx context.Context, opts roster.ImportOptions, next func() ([]roster.ImportRow, bool, error),
	written func([]roster.ImportRow, []roster.ImportOutcome)) (roster.ImportSummary, error) {
	opts.At = micro(opts.At).UTC()
	var sum roster.ImportSummary
	if opts.Atomic {
		err := db.inRawTx(ctx, func(tx pgx.Tx) error {
			return importAll(ctx, tx, opts, &sum, next, written)
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
		err = db.inRawTx(ctx, func(tx pgx.Tx) (err error) {
			if out, err = importBatch(ctx, tx, opts, rows, true); err != nil || !last {
				return err
			}
			total := sum
			count(&total, out)
			if event = total.Inserted+total.Updated > 0; !event {
				return nil
			}
			return appendImportEvent(ctx, pgdb.New(tx), opts, total)
		})
		if err != nil {
			break
		}
		evented = event
		count(&sum, out)
		written(rows, out)
	}
	// Cut short, the import had no last batch; the batches committed so
	// far stay, even when the client went away, and need their event.
	if !evented && sum.Inserted+sum.Updated > 0 {
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

// importAll writes every batch in the one transaction of q, and the event
// last.
func importAll(ctx context.Context, tx pgx.Tx, opts roster.ImportOptions, sum *roster.ImportSummary,
	next func() ([]roster.ImportRow, bool, error), written func([]roster.ImportRow, []roster.ImportOutcome)) error {
	for first := true; ; first = false {
		rows, _, err := next()
		if err != nil {
			return err
		}
		if rows == nil {
			break
		}
		out, err := importBatch(ctx, tx, opts, rows, first)
		if err != nil {
			return err
		}
		count(sum, out)
		written(rows, out)
	}
	if sum.Inserted+sum.Updated == 0 {
		return nil
	}
	return appendImportEvent(ctx, pgdb.New(tx), opts, *sum)
}

// importBatch copies rows into the staging table (creating it in a fresh
// transaction, emptying it otherwise) and merges them into users.
func importBatch(ctx context.Context, tx pgx.Tx, opts roster.ImportOptions, rows []roster.ImportRow, fresh bool) ([]roster.ImportOutcome, error) {
	prepare := truncateStaging
	if fresh {
		prepare = createStaging
	}
	if _, err := tx.Exec(ctx, prepare); err != nil {
		return nil, fmt.Errorf("staging table: %w", err)
	}
	// The id goes as [16]byte: pgx encodes that directly, where
	// uuid.UUID, a driver.Valuer, would become a string first and cost
	// more than the rest of the row. One slice serves every row: CopyFrom
	// encodes each row before asking for the next.
	vals := make([]any, 5)
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_staging"}, []string{"line", "id", "name", "name_lower", "email"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(rows) {
				return nil, nil
			}
			r := rows[i]
			i++
			vals[0], vals[1], vals[2], vals[3], vals[4] = r.Line, [16]byte(r.User.ID), r.User.Name, nameKey(r.User.Name), r.User.Email
			return vals, nil
		}))
	if err != nil {
		return nil, fmt.Errorf("copy into staging table: %w", err)
	}
	merge := mergeInsert
	if opts.OnConflict == roster.ConflictUpdate {
		merge = mergeUpdate
	}
	res, err := tx.Query(ctx, merge, opts.At)
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
	return outcomes(rows, changed, opts.OnConflict), nil
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

func count(sum *roster.ImportSummary, out []roster.ImportOutcome) {
	for _, o := range out {
		switch o {
		case roster.ImportInserted:
			sum.Inserted++
		case roster.ImportUpdated:
			sum.Updated++
		}
	}
}

func appendImportEvent(ctx context.Context, q *pgdb.Queries, opts roster.ImportOptions, sum roster.ImportSummary) error {
	return appendEvent(ctx, q, roster.Event{Type: roster.EventUsersImported, UserID: uuid.Nil, Import: &sum, At: opts.At})
}

// inRawTx runs fn in a transaction on a pooled connection.
func (db *DB) inRawTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	conn, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return pgx.BeginFunc(ctx, conn, fn)
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
	conn, err := db.acquire(ctx)
	if err != nil {
		return storeError("export users", err)
	}
	defer conn.Release()
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		pq := pgdb.New(customPlans{tx})
		fetch := func(after *roster.User) ([]roster.User, error) {
			lq := roster.ListQuery{Filter: f, Sort: roster.SortOldest, Limit: exportPage}
			if after != nil {
				lq.After = &roster.Cursor{Sort: roster.SortOldest, CreatedAt: after.CreatedAt, ID: after.ID}
			}
			rows, err := listUsers(ctx, pq, lq)
			users := make([]roster.User, len(rows))
			for i, row := range rows {
				users[i] = user(row)
			}
			return users, err
		}
		return roster.ExportPages(exportPage, fetch, fn)
	})
	if err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	return nil
}
