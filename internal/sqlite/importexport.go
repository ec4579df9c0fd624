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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// BeginImport begins an import transaction on the write connection: each
// Write runs one prepared statement per row. See roster.UserStore. The
// transaction holds the write lock, and so queues every other writer,
// until it ends: an atomic import's, for the whole import.
func (db *DB) BeginImport(ctx context.Context, opts roster.ImportOptions) (roster.ImportTx, error) {
	tx, err := db.begin(ctx, db.write)
	if err != nil {
		return nil, db.classify("begin import", err)
	}
	opts.At = time.UnixMicro(opts.At.UnixMicro()).UTC()
	return &importTx{db: db, tx: tx, q: sqlitedb.New(&preparedTx{Tx: tx}), opts: opts}, nil
}

// importTx is one transaction of an import.
type importTx struct {
	db *DB
	tx *sql.Tx
	// q runs on tx, each statement prepared once, and untraced: a batch's
	// rows are one span (Write), not ten thousand.
	q    *sqlitedb.Queries
	opts roster.ImportOptions
}

// Write writes a batch. Traced, the batch is one client span named by the
// statement it runs per row, as PostgreSQL's COPY of a batch is one span.
func (t *importTx) Write(ctx context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	var span trace.Span
	if t.db.tracing {
		stmt := "ImportUser"
		if t.opts.OnConflict == roster.ConflictUpdate {
			stmt = "ImportUpsertUser"
		}
		if ctx, span = startSpan(ctx, stmt); span != nil {
			span.SetAttributes(attribute.Int("db.operation.batch.size", len(rows)))
		}
	}
	out, err := importBatch(ctx, t.q, t.opts, rows)
	endStmt(span, err)
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
		if err := appendEvent(ctx, t.db.queries(t.tx), ev); err != nil {
			return t.db.classify("import", err)
		}
	}
	if err := t.db.commit(ctx, t.tx); err != nil {
		return t.db.classify("import: commit", err)
	}
	if event != nil {
		t.db.commits.Signal()
	}
	return nil
}

// Rollback rolls back; after Commit, database/sql makes it a no-op.
func (t *importTx) Rollback() { _ = t.tx.Rollback() }

// importBatch writes rows with q and tells what happened to each. Every
// row is created and updated at opts.At.
func importBatch(ctx context.Context, q *sqlitedb.Queries, opts roster.ImportOptions, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	missed := roster.ImportSkipped
	if opts.OnConflict == roster.ConflictFail {
		missed = roster.ImportConflict
	}
	out := make([]roster.ImportOutcome, len(rows))
	for i, r := range rows {
		u := r.User
		u.CreatedAt, u.UpdatedAt = opts.At, opts.At
		p := sqlitedb.NewUserParams(u)
		if opts.OnConflict == roster.ConflictUpdate {
			got, err := q.ImportUpsertUser(ctx, sqlitedb.ImportUpsertUserParams(p))
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out[i] = roster.ImportSkipped // unchanged
			case err != nil:
				return nil, fmt.Errorf("import line %d: %w", r.Line, err)
			case got == p.ID:
				out[i] = roster.ImportInserted
			default:
				out[i] = roster.ImportUpdated
			}
			continue
		}
		n, err := q.ImportUser(ctx, sqlitedb.ImportUserParams(p))
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

// preparedTx runs sqlc's queries in its transaction, preparing each
// statement once: the import runs one or two statements once per row, and
// SQLite has no network to batch over, so a prepared statement per row is
// as fast as it goes, where sqlc's generated code alone would prepare the
// statement again for every row. The transaction closes the statements
// when it ends.
type preparedTx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt
}

// stmt returns query prepared in the transaction.
func (p *preparedTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := p.stmts[query]; ok {
		return s, nil
	}
	s, err := p.Tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if p.stmts == nil {
		p.stmts = make(map[string]*sql.Stmt)
	}
	p.stmts[query] = s
	return s, nil
}

func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (p *preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (p *preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := p.stmt(ctx, query)
	if err != nil {
		// A *sql.Row cannot be made to hold err: the unprepared query
		// fails the same way.
		return p.Tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
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
	tx, err := db.begin(ctx, db.read)
	if err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	defer tx.Rollback() // read only: nothing to commit
	rq := db.queries(tx)
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
