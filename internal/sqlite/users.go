package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/batch"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ roster.UserStore = (*DB)(nil)

// emailIndex is the unique index on lower(email) in migrations/sqlite.
const emailIndex = "users_email_lower_key"

// purgeBatch is how many expired idempotency keys each keyed create
// deletes: more than it adds, so the table cannot grow without bound, and
// few enough to keep the create fast.
const purgeBatch = 10

// CreateUser inserts u and its user.created event and, with idem, records
// the key, all in one transaction. Without a key, the create commits
// together with the concurrent ones (group commit, newCreates): one
// transaction for all of them. A key is expired when its expires_at is
// before u.CreatedAt: the store judges by the caller's clock, not its own.
// Transactions on the single write connection run one at a time, so a
// concurrent retry of a key finds the record its first attempt committed.
// A replay writes nothing, so it adds no event.
func (db *DB) CreateUser(ctx context.Context, u roster.User, idem *roster.Idempotency) (roster.User, bool, error) {
	created, updated := u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro()
	u.CreatedAt, u.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	if idem == nil {
		rowErr, err := db.creates.Do(ctx, pendingCreate{u, trace.SpanContextFromContext(ctx)})
		if err == nil {
			err = rowErr
		}
		if err != nil {
			return roster.User{}, false, db.storeError("create user", err)
		}
		return u, false, nil
	}
	stored, replayed := u, false
	err := db.inTx(ctx, func(q *sqlitedb.Queries) (err error) {
		stored, replayed, err = claimKey(ctx, q, u, *idem)
		if err != nil || replayed {
			return err
		}
		return createWithEvent(ctx, q, pendingCreate{user: u})
	})
	if err != nil {
		return roster.User{}, false, db.storeError("create user", err)
	}
	if !replayed {
		db.commits.Signal()
	}
	return stored, replayed, nil
}

// pendingCreate is a create: the user and the span of the request that
// writes it (not valid: the span in the context it runs on).
type pendingCreate struct {
	user roster.User
	span trace.SpanContext
}

// createWithEvent inserts c's user and its user.created event.
func createWithEvent(ctx context.Context, q *sqlitedb.Queries, c pendingCreate) error {
	u := c.user
	if err := q.CreateUser(ctx, sqlitedb.NewUserParams(u)); err != nil {
		return err
	}
	return appendEvent(ctx, q, roster.Event{Type: roster.EventUserCreated, UserID: u.ID, User: &u, At: u.UpdatedAt, Trace: c.span})
}

// newCreates returns the group commit of creates without a key
// (internal/batch): a create that finds the writer idle commits alone, in
// a transaction of its own; those that arrive meanwhile commit together,
// in the next: N creates, one transaction and one fsync. Each runs under a
// savepoint, so one that fails (a taken email) is rolled back alone and
// gets its own error; only an unavailable database, or every caller gone,
// fails the batch.
func (db *DB) newCreates() *batch.Batcher[pendingCreate, error] {
	return batch.New("sqlite create batch", func(ctx context.Context, creates []pendingCreate) ([]error, error) {
		out := make([]error, len(creates))
		err := db.inRawTx(ctx, func(tx *sql.Tx, q *sqlitedb.Queries) error {
			if len(creates) == 1 {
				return createWithEvent(ctx, q, creates[0])
			}
			for i, c := range creates {
				out[i] = savepoint(ctx, tx, func() error { return createWithEvent(ctx, q, c) })
				if out[i] != nil && (isUnavailable(out[i]) || ctx.Err() != nil) {
					return out[i]
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		db.commits.Signal()
		return out, nil
	})
}

// savepoint runs fn under a savepoint of tx, rolling back to it if fn
// fails, so that what the transaction did before stays.
func savepoint(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT one"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO one"); rerr != nil {
			return errors.Join(err, rerr)
		}
		_, rerr := tx.ExecContext(ctx, "RELEASE one")
		return errors.Join(err, rerr)
	}
	_, err := tx.ExecContext(ctx, "RELEASE one")
	return err
}

// claimKey records idem for u, which the caller then inserts, or returns
// the user recorded with an unexpired record of the key (replayed true).
func claimKey(ctx context.Context, q *sqlitedb.Queries, u roster.User, idem roster.Idempotency) (roster.User, bool, error) {
	now := u.CreatedAt.UnixMicro()
	if err := q.PurgeIdempotencyKeys(ctx, sqlitedb.PurgeIdempotencyKeysParams{Now: now, Batch: purgeBatch}); err != nil {
		return roster.User{}, false, fmt.Errorf("purge idempotency keys: %w", err)
	}
	created, err := json.Marshal(u)
	if err != nil {
		return roster.User{}, false, fmt.Errorf("claim idempotency key: encode user: %w", err)
	}
	n, err := q.ClaimIdempotencyKey(ctx, sqlitedb.ClaimIdempotencyKeyParams{
		Subject:     idem.Subject,
		Key:         idem.Key,
		Fingerprint: idem.Fingerprint,
		CreatedUser: string(created),
		CreatedAt:   now,
		ExpiresAt:   idem.ExpiresAt.UnixMicro(),
	})
	if err != nil {
		return roster.User{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n == 1 {
		return u, false, nil
	}
	// This transaction holds the write lock, so the record still exists.
	rec, err := q.IdempotencyKey(ctx, sqlitedb.IdempotencyKeyParams{Subject: idem.Subject, Key: idem.Key})
	if errors.Is(err, sql.ErrNoRows) {
		return roster.User{}, false, errors.New("read idempotency key: record not found") // not ErrNotFound
	}
	if err != nil {
		return roster.User{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	stored, err := idem.Replay(rec.Fingerprint, []byte(rec.CreatedUser))
	return stored, err == nil, err
}

// User returns the user with the given id.
func (db *DB) User(ctx context.Context, id uuid.UUID) (roster.User, error) {
	row, err := db.rq.GetUser(ctx, id.String())
	if err != nil {
		return roster.User{}, db.storeError("get user", err)
	}
	return row.Domain()
}

// UpdateUser applies the non-nil fields of upd and returns the stored user.
// updated_at becomes updatedAt, or one microsecond past its stored value if
// that is not earlier, so that it never moves backwards. With
// upd.IfUpdatedAt, the row is updated only if it is still that version.
// The user.updated event, at the new updated_at, is written in the same
// transaction.
func (db *DB) UpdateUser(ctx context.Context, id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) (roster.User, error) {
	var u roster.User
	err := db.inTx(ctx, func(q *sqlitedb.Queries) error {
		row, err := q.UpdateUser(ctx, sqlitedb.UserUpdateParams(id, upd, updatedAt))
		if errors.Is(err, sql.ErrNoRows) && upd.IfUpdatedAt != nil {
			return missingOrChanged(ctx, q, id)
		}
		if err != nil {
			return err
		}
		if u, err = row.Domain(); err != nil {
			return err
		}
		return appendEvent(ctx, q, roster.Event{Type: roster.EventUserUpdated, UserID: u.ID, User: &u, At: u.UpdatedAt})
	})
	if err != nil {
		return roster.User{}, db.storeError("update user", err)
	}
	db.commits.Signal()
	return u, nil
}

// DeleteUser removes the user with the given id, with ifUpdatedAt only if
// it is still that version. The user.deleted event, at at, is written in
// the same transaction.
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID, ifUpdatedAt *time.Time, at time.Time) error {
	err := db.inTx(ctx, func(q *sqlitedb.Queries) error {
		n, err := q.DeleteUser(ctx, sqlitedb.DeleteUserParams{ID: id.String(), IfUpdatedAt: sqlitedb.NullMicros(ifUpdatedAt)})
		switch {
		case err != nil:
			return err
		case n == 0 && ifUpdatedAt != nil:
			return missingOrChanged(ctx, q, id)
		case n == 0:
			return roster.ErrNotFound
		}
		return appendEvent(ctx, q, roster.Event{Type: roster.EventUserDeleted, UserID: id, At: at})
	})
	if err != nil {
		return db.storeError("delete user", err)
	}
	db.commits.Signal()
	return nil
}

// missingOrChanged explains why a conditional write matched no row. It
// runs in the write's transaction, so the answer is about the same state.
func missingOrChanged(ctx context.Context, q *sqlitedb.Queries, id uuid.UUID) error {
	exists, err := q.UserExists(ctx, id.String())
	switch {
	case err != nil:
		return err
	case exists:
		return roster.ErrPreconditionFailed
	}
	return roster.ErrNotFound
}

// Ping checks that the database answers. It uses the read pool: waiting
// behind queued writers would make a busy store look unhealthy.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// storeError turns the driver's errors into the domain's: no row is
// ErrNotFound and a duplicate on the email index is ErrEmailTaken. Other
// unique violations, such as a duplicate id, stay internal errors. A file
// that stays locked past busy_timeout, a full disk or an I/O error is the
// database being unavailable (503, logged once per burst). The domain's
// own errors pass unchanged.
func (db *DB) storeError(op string, err error) error {
	var se *sqlite.Error
	if isUnavailable(err) {
		return db.unavailable(op, err)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return roster.ErrNotFound
	case errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), emailIndex):
		return roster.ErrEmailTaken
	case errors.Is(err, roster.ErrNotFound), errors.Is(err, roster.ErrPreconditionFailed),
		errors.Is(err, roster.ErrIdempotencyMismatch):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable wraps err as roster.Unavailable and logs it once per burst.
func (db *DB) unavailable(op string, err error) error {
	db.outage.Down(err)
	return roster.Unavailable(fmt.Errorf("%s: %w", op, err))
}

// classify is storeError for paths with errors of their own (imports):
// only the database being unavailable is translated.
func (db *DB) classify(op string, err error) error {
	if isUnavailable(err) {
		return db.unavailable(op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable reports whether err is SQLite's and means the file cannot
// be used now (unavailable).
func isUnavailable(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && unavailable(se.Code())
}

// unavailable reports whether a SQLite result code (extended codes
// included) means the file cannot be used now rather than a bad request.
func unavailable(code int) bool {
	switch code & 0xff { // the primary code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// SetLogger sets where outages of the database are logged (once per
// burst, see internal/outage).
func (db *DB) SetLogger(l *slog.Logger) { db.outage.SetLogger(l) }
