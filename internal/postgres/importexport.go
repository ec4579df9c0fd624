package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// not create and drop a table per batch. The column lists come from
// importColumns (users.go), built once here.
var (
	// usersCopy are the columns of the COPY into users: importColumns,
	// then the two times.
	usersCopy = append(columnNames(), "created_at", "updated_at")
	// stagingCopy are the columns of the COPY into the staging table: the
	// row's line, then importColumns. Its line orders the merge.
	stagingCopy = append([]string{"line"}, columnNames()...)

	createStaging = `CREATE TEMP TABLE IF NOT EXISTS import_staging (
    line bigint NOT NULL, ` + joinColumns(", ", func(c importColumn) string { return c.name + " " + c.decl }) + `
) ON COMMIT DELETE ROWS`
	// mergeInsert inserts the rows whose email is new and returns them.
	mergeInsert = mergeInto + `
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING email, true`
	// mergeUpdate also gives existing users the row's values, when they
	// differ; xmax is 0 for a row this statement inserted.
	mergeUpdate = mergeInto + `
ON CONFLICT ((lower(email))) DO UPDATE
SET ` + joinColumns(", ", func(c importColumn) string {
		if !c.set {
			return ""
		}
		return c.name + " = excluded." + c.name
	}) + `,
    updated_at = greatest(excluded.updated_at, u.updated_at + interval '1 microsecond')
WHERE ` + joinColumns(" OR ", func(c importColumn) string {
		if !c.compare {
			return ""
		}
		return "u." + c.name + " IS DISTINCT FROM excluded." + c.name
	}) + `
RETURNING u.email, u.xmax = 0`
	mergeInto = `INSERT INTO users AS u (` + strings.Join(usersCopy, ", ") + `)
SELECT ` + strings.Join(columnNames(), ", ") + `, $1, $1 FROM import_staging ORDER BY line`
)

const truncateStaging = `TRUNCATE import_staging`

// columnNames are the names of importColumns.
func columnNames() []string {
	names := make([]string, len(importColumns))
	for i, c := range importColumns {
		names[i] = c.name
	}
	return names
}

// joinColumns joins what part gives for each of importColumns, leaving out
// the empty ones.
func joinColumns(sep string, part func(importColumn) string) string {
	var parts []string
	for _, c := range importColumns {
		if p := part(c); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, sep)
}

// BeginImport begins an import transaction on a connection it holds until
// Commit or Rollback. Each Write is a COPY straight into users or, once an
// email exists, a COPY into the staging table and a merge (see
// importTx.Write). See roster.UserStore.
func (db *DB) BeginImport(ctx context.Context, opts roster.ImportOptions) (roster.ImportTx, error) {
	opts.At = micro(opts.At).UTC()
	conn, err := db.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin import: %w", db.check(ctx, err))
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("begin import: %w", db.check(ctx, err))
	}
	return &importTx{db: db, conn: conn, tx: tx, opts: opts, direct: !opts.MetExisting}, nil
}

// importTx is one transaction of an import.
type importTx struct {
	db   *DB
	conn *pgxpool.Conn // nil once the transaction has ended
	tx   pgx.Tx
	opts roster.ImportOptions
	// direct: no batch has met an existing email yet, so the next one is
	// copied straight into users.
	direct bool
	// staged: the staging table exists in this transaction and may hold
	// rows.
	staged bool
}

// Write writes rows. A COPY straight into users costs PostgreSQL a
// quarter less than COPY into the staging table and the merge (no staging
// rows to write and read back, no speculative insertion), but fails as a
// whole on an existing email: it runs in a savepoint, and a batch it fails
// for is merged instead, as is every batch after it, since an import that
// meets one existing email (a re-import, say) likely meets more.
func (t *importTx) Write(ctx context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	out, err := t.write(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("import: %w", t.db.check(ctx, err))
	}
	return out, nil
}

func (t *importTx) write(ctx context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	if t.direct {
		out, err := copyNew(ctx, t.tx, t.opts.At, rows)
		if !errors.Is(err, errEmailExists) {
			return out, err
		}
		t.direct = false
	}
	return t.merge(ctx, rows)
}

// Commit writes the event, if any, and commits; once committed, it wakes
// this process's feed listeners, as inRawTx does.
func (t *importTx) Commit(ctx context.Context, event *roster.ImportSummary) error {
	defer t.release()
	if event != nil {
		ev := roster.Event{Type: roster.EventUsersImported, UserID: uuid.Nil, Import: event, At: t.opts.At}
		if err := appendEvent(ctx, pgdb.New(t.tx), ev); err != nil {
			return fmt.Errorf("import: %w", t.db.check(ctx, err))
		}
	}
	if err := t.db.check(ctx, t.tx.Commit(ctx)); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	_ = t.db.noteCommit(ctx, t.conn) // it fails nothing: see noteCommit
	t.db.commits.Signal()
	return nil
}

// rollbackTimeout bounds a rollback, which runs after the caller's
// context may have ended.
const rollbackTimeout = 5 * time.Second

// Rollback rolls back unless the transaction has ended.
func (t *importTx) Rollback() {
	if t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	_ = t.tx.Rollback(ctx) // a broken connection is not put back in the pool
	t.release()
}

// release gives the connection back to the pool, which closes it if the
// transaction did not end cleanly.
func (t *importTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
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
	n := len(importColumns)
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"users"}, usersCopy,
		copyRows(rows, func(r roster.ImportRow, vals []any) {
			importValues(r.User, vals)
			vals[n], vals[n+1] = at, at
		}, len(usersCopy)))
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
// of n values. One slice serves every row: CopyFrom encodes each row
// before asking for the next.
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
func (t *importTx) merge(ctx context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	tx := t.tx
	prepare := createStaging
	if t.staged {
		prepare = truncateStaging
	}
	if _, err := tx.Exec(ctx, prepare); err != nil {
		return nil, fmt.Errorf("staging table: %w", err)
	}
	t.staged = true
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_staging"}, stagingCopy,
		copyRows(rows, func(r roster.ImportRow, vals []any) {
			vals[0] = r.Line
			importValues(r.User, vals[1:])
		}, len(stagingCopy)))
	if err != nil {
		return nil, fmt.Errorf("copy into staging table: %w", err)
	}
	merge := mergeInsert
	if t.opts.OnConflict == roster.ConflictUpdate {
		merge = mergeUpdate
	}
	res, err := tx.Query(ctx, merge, t.opts.At)
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
	return outcomes(rows, changed, t.opts.OnConflict), nil
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
	wrote := false
	write := func(u roster.User) error { wrote = true; return fromCaller(fn(u)) }
	// On a replica when there are some (replicas.go). A replica that
	// fails with an outage before the first user is written is replaced
	// by the primary; after it, not: the client has part of the export,
	// and a second run would repeat it.
	var replicaErr error
	err := db.read(ctx, func(pool *pgxpool.Pool, _ *readers) error {
		if wrote {
			return replicaErr
		}
		replicaErr = db.exportOn(ctx, pool, f, write)
		return replicaErr
	})
	if err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	return nil
}

// exportOn is ExportUsers on pool.
func (db *DB) exportOn(ctx context.Context, pool *pgxpool.Pool, f roster.UserFilter, write func(roster.User) error) error {
	return db.useOn(ctx, pool, func(conn *pgxpool.Conn) error {
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
}
