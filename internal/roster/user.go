package roster

import (
	"time"

	"github.com/google/uuid"
)

// User is a person known to roster.
type User struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewUser is the input for creating a user.
type NewUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UserUpdate is a partial update: nil fields are left as they are.
type UserUpdate struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

// Page selects a page of the list ordered newest first (ties by id).
type Page struct {
	Number  int // 1-based
	PerPage int
}

// Default and maximum page sizes for ListUsers.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// Offset is the number of users before this page.
func (p Page) Offset() int { return (p.Number - 1) * p.PerPage }

// UserList is one page of users and whether a next page exists.
type UserList struct {
	Users   []User
	HasNext bool
}
