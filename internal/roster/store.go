package roster

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// UserStore persists users. Each database engine has one implementation.
// Implementations return ErrNotFound and ErrEmailTaken for the conditions
// they name (uniqueness of email is enforced by the database itself, case
// insensitively) and wrap any other failure.
type UserStore interface {
	// CreateUser inserts u, whose fields are all set by the caller.
	CreateUser(ctx context.Context, u User) error
	// User returns the user with the given id.
	User(ctx context.Context, id uuid.UUID) (User, error)
	// ListUsers returns up to limit users after skipping offset, ordered by
	// created_at descending, then id descending.
	ListUsers(ctx context.Context, limit, offset int) ([]User, error)
	// UpdateUser applies the non-nil fields of upd, sets updated_at and
	// returns the user as stored.
	UpdateUser(ctx context.Context, id uuid.UUID, upd UserUpdate, updatedAt time.Time) (User, error)
	// DeleteUser removes the user with the given id.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}
