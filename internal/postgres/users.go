package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

var _ roster.UserStore = (*DB)(nil)

// emailIndex is the unique index on lower(email) in migrations/postgres.
const emailIndex = "users_email_lower_key"

// uniqueViolation is PostgreSQL's SQLSTATE for unique_violation.
const uniqueViolation = "23505"

// CreateUser inserts u.
func (db *DB) CreateUser(ctx context.Context, u roster.User) error {
	err := db.queries(ctx, func(q *pgdb.Queries) error {
		return q.CreateUser(ctx, pgdb.CreateUserParams{
			ID:        u.ID,
			Name:      u.Name,
			Email:     u.Email,
			CreatedAt: micro(u.CreatedAt),
			UpdatedAt: micro(u.UpdatedAt),
		})
	})
	if err != nil {
		return storeError("create user", err)
	}
	return nil
}

// User returns the user with the given id.
func (db *DB) User(ctx context.Context, id uuid.UUID) (roster.User, error) {
	var row pgdb.User
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		row, err = q.GetUser(ctx, id)
		return err
	})
	if err != nil {
		return roster.User{}, storeError("get user", err)
	}
	return user(row), nil
}

// ListUsers returns up to limit users after skipping offset, newest first.
func (db *DB) ListUsers(ctx context.Context, limit, offset int) ([]roster.User, error) {
	var rows []pgdb.User
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		rows, err = q.ListUsers(ctx, pgdb.ListUsersParams{Limit: int32Sat(limit), Offset: int32Sat(offset)})
		return err
	})
	if err != nil {
		return nil, storeError("list users", err)
	}
	users := make([]roster.User, len(rows))
	for i, row := range rows {
		users[i] = user(row)
	}
	return users, nil
}

// UpdateUser applies the non-nil fields of upd and returns the stored user.
// updated_at becomes updatedAt, or one microsecond past its stored value if
// that is not earlier, so that it never moves backwards.
func (db *DB) UpdateUser(ctx context.Context, id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) (roster.User, error) {
	var row pgdb.User
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		row, err = q.UpdateUser(ctx, pgdb.UpdateUserParams{
			Name:      upd.Name,
			Email:     upd.Email,
			UpdatedAt: micro(updatedAt),
			ID:        id,
		})
		return err
	})
	if err != nil {
		return roster.User{}, storeError("update user", err)
	}
	return user(row), nil
}

// DeleteUser removes the user with the given id.
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID) error {
	var n int64
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		n, err = q.DeleteUser(ctx, id)
		return err
	})
	if err != nil {
		return storeError("delete user", err)
	}
	if n == 0 {
		return roster.ErrNotFound
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	conn, err := db.acquire(ctx)
	if err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	defer conn.Release()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// queries runs fn on a connection borrowed for its duration; the generated
// :many queries have consumed and closed their rows when fn returns.
func (db *DB) queries(ctx context.Context, fn func(q *pgdb.Queries) error) error {
	conn, err := db.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return fn(pgdb.New(conn))
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

// micro truncates t to the microseconds timestamptz keeps. PostgreSQL would
// round instead, and SQLite truncates: both engines must store the same
// instant.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// int32Sat converts n for an int4 parameter, saturating: an offset past
// the largest int4 selects nothing either way.
func int32Sat(n int) int32 {
	return int32(max(math.MinInt32, min(n, math.MaxInt32)))
}

// storeError turns the driver's errors into the domain's: no row is
// ErrNotFound and a duplicate on the email index is ErrEmailTaken. Other
// unique violations, such as a duplicate id, stay internal errors.
func storeError(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return roster.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == emailIndex {
		return roster.ErrEmailTaken
	}
	return fmt.Errorf("%s: %w", op, err)
}
