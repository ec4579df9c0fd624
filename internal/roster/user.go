package roster

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// User is a person known to roster.
type User struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	// Email is empty, and left out of JSON, when the caller may not see
	// it (User.VisibleTo); a stored user always has one.
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NameKey is the sort key of a name in the name orders: what stores keep
// beside the name (name_lower) and cursors carry. It is Go's Unicode
// lower case, computed here and never by the database (SQLite's lower()
// folds ASCII only).
func NameKey(name string) string { return strings.ToLower(name) }

// NewUser is the input for creating a user.
type NewUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UserUpdate is a partial update: nil fields are left as they are.
type UserUpdate struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	// IfUpdatedAt, when set, makes the update conditional on the user not
	// having changed since (optimistic concurrency; HTTP If-Match).
	IfUpdatedAt *time.Time `json:"-"`
}

// Default and maximum page sizes for ListUsers.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// UserList is one page of users and, when more follow, the cursor of
// the next page.
type UserList struct {
	Users []User
	Next  *Cursor
}
