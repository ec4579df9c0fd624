package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/batch"
	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

var _ roster.UserStore = (*DB)(nil)

// emailIndex is the unique index on lower(email) in migrations/postgres.
const emailIndex = "users_email_lower_key"

// uniqueViolation is PostgreSQL's SQLSTATE for unique_violation.
const uniqueViolation = "23505"

// purgeBatch is how many expired idempotency keys each keyed create
// deletes: more than it adds, so the table cannot grow without bound, and
// few enough to keep the create fast.
const purgeBatch = 10

// CreateUser inserts u and its user.created event and, with idem, records
// the key, all at once. Without a key, the create is committed together
// with the concurrent ones (group commit, createUsers): one statement for
// all of them. With one, a transaction of its own. A key is expired when
// its expires_at is before u.CreatedAt: the store judges by the caller's
// clock, not the database's. Requests racing with one key queue on its
// row until the first commits or rolls back, so they create one user. A
// replay writes nothing, so it adds no event.
func (db *DB) CreateUser(ctx context.Context, u roster.User, idem *roster.Idempotency) (roster.User, bool, error) {
	u.CreatedAt, u.UpdatedAt = micro(u.CreatedAt).UTC(), micro(u.UpdatedAt).UTC()
	data, err := roster.Event{Type: roster.EventUserCreated, UserID: u.ID, User: &u, At: u.UpdatedAt}.Data()
	if err != nil {
		return roster.User{}, false, fmt.Errorf("create user: encode event: %w", err)
	}
	row := pgdb.CreateUserWithEventParams{
		ID:        u.ID,
		Name:      u.Name,
		NameLower: roster.NameKey(u.Name),
		Email:     u.Email,
		CreatedAt: u.CreatedAt,
		UpdatedAt: u.UpdatedAt,
		Data:      string(data),

		// The write's span: the event's deliveries link to it.
		TraceParent: traceParent(ctx),
	}
	stored, replayed := u, false
	if idem == nil {
		var res created
		if res, err = db.creates.Do(ctx, row); err == nil {
			err = res.err
		}
		if err == nil && res.pos != "" {
			consistency.Commit(ctx, res.pos)
		}
	} else {
		err = db.inTx(ctx, func(q *pgdb.Queries) (err error) {
			stored, replayed, err = claimKey(ctx, q, u, *idem)
			if err != nil || replayed {
				return err
			}
			return q.CreateUserWithEvent(ctx, row)
		})
	}
	if err != nil {
		return roster.User{}, false, storeError("create user", err)
	}
	return stored, replayed, nil
}

// created is one create's answer from a group commit: its own error (a
// taken email), or the primary's WAL position after the commit when
// there are replicas (for the request's consistency token).
type created struct {
	err error
	pos string
}

// newCreates returns the group commit of creates without a key
// (internal/batch): a create that finds none out runs alone, in the single
// statement it would run without batching; those that arrive meanwhile are
// committed together by the next, one CreateUsersWithEvents. That
// statement skips a row that conflicts, which then runs alone for its own
// answer (409); if it fails as a whole for a reason of the rows (a check),
// it has written nothing, and each runs alone. Only an outage, or every
// caller gone, fails the batch.
func (db *DB) newCreates() *batch.Batcher[pgdb.CreateUserWithEventParams, created] {
	return batch.New("postgres.CreateUsersWithEvents batch", func(ctx context.Context, rows []pgdb.CreateUserWithEventParams) ([]created, error) {
		out := make([]created, len(rows))
		if len(rows) == 1 { // alone: the statement it would run without batching
			if out[0] = db.createAlone(ctx, rows[0]); failsBatch(ctx, out[0].err) {
				return nil, out[0].err
			}
			return out, nil
		}
		ids, pos, err := db.createMany(ctx, rows)
		if failsBatch(ctx, err) {
			return nil, err
		}
		inserted := make(map[uuid.UUID]struct{}, len(ids))
		for _, id := range ids {
			inserted[id] = struct{}{}
		}
		for i, row := range rows {
			if _, ok := inserted[row.ID]; ok {
				out[i].pos = pos
				continue
			}
			out[i] = db.createAlone(ctx, row)
		}
		return out, nil
	})
}

// failsBatch reports whether err, a batch's, is every caller's rather than
// one row's: the database is unavailable, or every caller has gone.
func failsBatch(ctx context.Context, err error) bool {
	return err != nil && (ctx.Err() != nil || errors.Is(err, roster.ErrUnavailable))
}

// createMany runs CreateUsersWithEvents and returns the ids it created and,
// with replicas, the WAL position after its commit.
func (db *DB) createMany(ctx context.Context, rows []pgdb.CreateUserWithEventParams) (ids []uuid.UUID, pos string, err error) {
	arg := pgdb.CreateUsersWithEventsParams{
		Ids:        make([]string, len(rows)),
		Names:      make([]string, len(rows)),
		NameLowers: make([]string, len(rows)),
		Emails:     make([]string, len(rows)),
		CreatedAts: make([]string, len(rows)),
		UpdatedAts: make([]string, len(rows)),
		Datas:      make([]string, len(rows)),
		// Each row's own write span, taken from its caller's context
		// (the batch runs on the first caller's).
		TraceParents: make([]string, len(rows)),
	}
	for i, r := range rows {
		arg.Ids[i], arg.Names[i], arg.NameLowers[i], arg.Emails[i] = r.ID.String(), r.Name, r.NameLower, r.Email
		arg.CreatedAts[i], arg.UpdatedAts[i] = r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano)
		arg.Datas[i] = r.Data
		if r.TraceParent != nil {
			arg.TraceParents[i] = *r.TraceParent
		}
	}
	err = db.use(ctx, func(conn *pgxpool.Conn) error {
		var err error
		if ids, err = pgdb.New(conn).CreateUsersWithEvents(ctx, arg); err != nil {
			return err
		}
		pos = db.commitPosition(ctx, conn)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	db.commits.Signal()
	return ids, pos, nil
}

// createAlone runs one create of a batch on its own, for its own answer.
func (db *DB) createAlone(ctx context.Context, row pgdb.CreateUserWithEventParams) created {
	var pos string
	err := db.use(ctx, func(conn *pgxpool.Conn) error {
		if err := pgdb.New(conn).CreateUserWithEvent(ctx, row); err != nil {
			return err
		}
		pos = db.commitPosition(ctx, conn)
		return nil
	})
	if err != nil {
		return created{err: err}
	}
	db.commits.Signal()
	return created{pos: pos}
}

// claimKey records idem for u, which the caller then inserts, or returns
// the user recorded with an unexpired record of the key (replayed true).
func claimKey(ctx context.Context, q *pgdb.Queries, u roster.User, idem roster.Idempotency) (roster.User, bool, error) {
	err := q.PurgeIdempotencyKeys(ctx, pgdb.PurgeIdempotencyKeysParams{Now: u.CreatedAt, Batch: purgeBatch})
	if err != nil {
		return roster.User{}, false, fmt.Errorf("purge idempotency keys: %w", err)
	}
	created, err := json.Marshal(u)
	if err != nil {
		return roster.User{}, false, fmt.Errorf("claim idempotency key: encode user: %w", err)
	}
	n, err := q.ClaimIdempotencyKey(ctx, pgdb.ClaimIdempotencyKeyParams{
		Subject:     idem.Subject,
		Key:         idem.Key,
		Fingerprint: idem.Fingerprint,
		CreatedUser: string(created),
		CreatedAt:   u.CreatedAt,
		ExpiresAt:   micro(idem.ExpiresAt),
	})
	if err != nil {
		return roster.User{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n == 1 {
		return u, false, nil
	}
	// The claim locked the record, which therefore still exists.
	rec, err := q.IdempotencyKey(ctx, pgdb.IdempotencyKeyParams{Subject: idem.Subject, Key: idem.Key})
	if errors.Is(err, pgx.ErrNoRows) {
		return roster.User{}, false, errors.New("read idempotency key: locked record not found") // not ErrNotFound
	}
	if err != nil {
		return roster.User{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	stored, err := idem.Replay(rec.Fingerprint, rec.CreatedUser)
	return stored, err == nil, err
}

// User returns the user with the given id, read together with concurrent
// callers' (coalesce.go).
func (db *DB) User(ctx context.Context, id uuid.UUID) (roster.User, error) {
	var u roster.User
	err := db.read(ctx, func(_ *pgxpool.Pool, reads *readers) (err error) {
		u, err = db.coalescedUser(ctx, reads.users, id)
		return err
	})
	return u, err
}

// UpdateUser applies the non-nil fields of upd and returns the stored user.
// updated_at becomes updatedAt, or one microsecond past its stored value if
// that is not earlier, so that it never moves backwards. With
// upd.IfUpdatedAt, the row is updated only if it is still that version.
// The user.updated event, at the new updated_at, is written by the same
// statement.
func (db *DB) UpdateUser(ctx context.Context, id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) (roster.User, error) {
	var u roster.User
	err := db.write(ctx, func(q *pgdb.Queries) error {
		row, err := q.UpdateUserWithEvent(ctx, pgdb.UpdateUserWithEventParams{
			Name:        upd.Name,
			NameLower:   nameKeyPtr(upd.Name),
			Email:       upd.Email,
			UpdatedAt:   micro(updatedAt),
			ID:          id,
			IfUpdatedAt: microPtr(upd.IfUpdatedAt),
			TraceParent: traceParent(ctx),
		})
		if errors.Is(err, pgx.ErrNoRows) && upd.IfUpdatedAt != nil {
			return missingOrChanged(ctx, q, id)
		}
		if err != nil {
			return err
		}
		u = user(pgdb.User(row))
		return nil
	})
	if err != nil {
		return roster.User{}, storeError("update user", err)
	}
	return u, nil
}

// DeleteUser removes the user with the given id, with ifUpdatedAt only if
// it is still that version. The user.deleted event, at at, is written by
// the same statement.
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID, ifUpdatedAt *time.Time, at time.Time) error {
	err := db.write(ctx, func(q *pgdb.Queries) error {
		n, err := q.DeleteUserWithEvent(ctx, pgdb.DeleteUserWithEventParams{
			ID:          id,
			IfUpdatedAt: microPtr(ifUpdatedAt),
			At:          micro(at).UTC(),
			TraceParent: traceParent(ctx),
		})
		switch {
		case err != nil:
			return err
		case n == 0 && ifUpdatedAt != nil:
			return missingOrChanged(ctx, q, id)
		case n == 0:
			return roster.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return storeError("delete user", err)
	}
	return nil
}

// missingOrChanged explains why a conditional write matched no row.
func missingOrChanged(ctx context.Context, q *pgdb.Queries, id uuid.UUID) error {
	exists, err := q.UserExists(ctx, id)
	switch {
	case err != nil:
		return err
	case exists:
		return roster.ErrPreconditionFailed
	}
	return roster.ErrNotFound
}

// Ping checks that the database answers. With every pooled connection
// busy it does not queue behind them, which would make an overloaded
// instance look like an outage: it checks on a connection of its own.
func (db *DB) Ping(ctx context.Context) error {
	var err error
	if st := db.pool.Stat(); st.AcquiredConns() < st.MaxConns() {
		err = db.use(ctx, func(conn *pgxpool.Conn) error { return conn.Ping(ctx) })
	} else {
		err = db.check(ctx, db.probe(ctx))
	}
	if err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// probe pings the database on a connection outside the pool. One probe at
// a time: a flood of readiness checks must not open a flood of
// connections.
func (db *DB) probe(ctx context.Context) error {
	select {
	case db.probing <- struct{}{}:
		defer func() { <-db.probing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	return conn.Ping(ctx)
}

func user(row pgdb.User) roster.User {
	return roster.User{
		ID:        row.ID,
		Name:      row.Name,
		Email:     row.Email,
		CreatedAt: row.CreatedAt.UTC(),
		UpdatedAt: row.UpdatedAt.UTC(),
	}
}

// nameKeyPtr is roster.NameKey of an optional name.
func nameKeyPtr(name *string) *string {
	if name == nil {
		return nil
	}
	k := roster.NameKey(*name)
	return &k
}

// micro truncates t to the microseconds timestamptz keeps. PostgreSQL would
// round instead, and SQLite truncates: both engines must store the same
// instant.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func microPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	m := micro(*t)
	return &m
}

// int32Sat converts n for an int4 parameter, saturating: an offset past
// the largest int4 selects nothing either way.
func int32Sat(n int) int32 {
	return int32(max(math.MinInt32, min(n, math.MaxInt32)))
}

// storeError turns the driver's errors into the domain's: no row is
// ErrNotFound and a duplicate on the email index is ErrEmailTaken. Other
// unique violations, such as a duplicate id, stay internal errors. The
// domain's own errors pass unchanged.
func storeError(op string, err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return roster.ErrNotFound
	case errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == emailIndex:
		return roster.ErrEmailTaken
	case errors.Is(err, roster.ErrNotFound), errors.Is(err, roster.ErrPreconditionFailed),
		errors.Is(err, roster.ErrIdempotencyMismatch):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// importColumn is a users column that a bulk import writes from the row;
// created_at and updated_at, the import's time, are not among them.
// importexport.go builds its COPY column lists, staging table and merge
// statements from importColumns, so a user field is named for the import
// here and in importValues only.
type importColumn struct {
	name string
	decl string // its type and constraint in the staging table
	// set: an upsert gives an existing user the row's value. compare: and
	// a row whose values of these columns all equal the user's leaves the
	// user unchanged (name_lower follows name, so only name is compared).
	set, compare bool
}

// importColumns are in the order importValues fills.
var importColumns = []importColumn{
	{name: "id", decl: "uuid NOT NULL"},
	{name: "name", decl: "text NOT NULL", set: true, compare: true},
	{name: "name_lower", decl: "text NOT NULL", set: true},
	{name: "email", decl: "text NOT NULL"},
}

// importValues puts u's values of importColumns, in their order, into vals.
// The id goes as [16]byte: pgx encodes that directly, where uuid.UUID, a
// driver.Valuer, would become a string first and cost more than the rest
// of the row.
func importValues(u roster.User, vals []any) {
	vals[0], vals[1], vals[2], vals[3] = [16]byte(u.ID), u.Name, roster.NameKey(u.Name), u.Email
}
