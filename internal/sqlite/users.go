package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ roster.UserStore = (*DB)(nil)

// emailIndex is the unique index on lower(email) in migrations/sqlite.
const emailIndex = "users_email_lower_key"

// CreateUser inserts u.
func (db *DB) CreateUser(ctx context.Context, u roster.User) error {
	err := db.wq.CreateUser(ctx, sqlitedb.CreateUserParams{
		ID:        u.ID.String(),
		Name:      u.Name,
		Email:     u.Email,
		CreatedAt: u.CreatedAt.UnixMicro(),
		UpdatedAt: u.UpdatedAt.UnixMicro(),
	})
	if err != nil {
		return storeError("create user", err)
	}
	return nil
}

// User returns the user with the given id.
func (db *DB) User(ctx context.Context, id uuid.UUID) (roster.User, error) {
	row, err := db.rq.GetUser(ctx, id.String())
	if err != nil {
		return roster.User{}, storeError("get user", err)
	}
	return user(row)
}

// ListUsers returns up to limit users after skipping offset, newest first.
func (db *DB) ListUsers(ctx context.Context, limit, offset int) ([]roster.User, error) {
	rows, err := db.rq.ListUsers(ctx, sqlitedb.ListUsersParams{Limit: int64(limit), Offset: int64(offset)})
	if err != nil {
		return nil, storeError("list users", err)
	}
	users := make([]roster.User, len(rows))
	for i, row := range rows {
		if users[i], err = user(row); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// UpdateUser applies the non-nil fields of upd and returns the stored user.
// updated_at becomes updatedAt, or one microsecond past its stored value if
// that is not earlier, so that it never moves backwards.
func (db *DB) UpdateUser(ctx context.Context, id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) (roster.User, error) {
	row, err := db.wq.UpdateUser(ctx, sqlitedb.UpdateUserParams{
		Name:      nullString(upd.Name),
		Email:     nullString(upd.Email),
		UpdatedAt: updatedAt.UnixMicro(),
		ID:        id.String(),
	})
	if err != nil {
		return roster.User{}, storeError("update user", err)
	}
	return user(row)
}

// DeleteUser removes the user with the given id.
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID) error {
	n, err := db.wq.DeleteUser(ctx, id.String())
	if err != nil {
		return storeError("delete user", err)
	}
	if n == 0 {
		return roster.ErrNotFound
	}
	return nil
}

// Ping checks that the database answers. It uses the read pool: waiting
// behind queued writers would make a busy store look unhealthy.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// user converts a stored row. A malformed id means the file was written by
// something other than this store; it is reported, not trusted.
func user(row sqlitedb.User) (roster.User, error) {
	id, err := uuid.Parse(row.ID)
	if err != nil {
		return roster.User{}, fmt.Errorf("stored user id %q: %w", row.ID, err)
	}
	return roster.User{
		ID:        id,
		Name:      row.Name,
		Email:     row.Email,
		CreatedAt: time.UnixMicro(row.CreatedAt).UTC(),
		UpdatedAt: time.UnixMicro(row.UpdatedAt).UTC(),
	}, nil
}

func nullString(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

// storeError turns the driver's errors into the domain's: no row is
// ErrNotFound and a duplicate on the email index is ErrEmailTaken. Other
// unique violations, such as a duplicate id, stay internal errors.
func storeError(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return roster.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
		strings.Contains(se.Error(), emailIndex) {
		return roster.ErrEmailTaken
	}
	return fmt.Errorf("%s: %w", op, err)
}
