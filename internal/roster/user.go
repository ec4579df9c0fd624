package roster

import (
	"encoding/json"
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

// TimeLayout is how every API time is written: RFC 3339 with exactly six
// fractional digits (the stored precision), so that times of one zone,
// UTC as stored, sort as strings. time.RFC3339Nano drops trailing zeros.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON writes the user with its times in TimeLayout. Times that
// time.Time.MarshalJSON refuses (a year outside 0–9999, a zone offset of
// a day or more) are refused too; stored times never are.
func (u User) MarshalJSON() ([]byte, error) {
	for _, t := range []time.Time{u.CreatedAt, u.UpdatedAt} {
		if _, err := t.MarshalText(); err != nil {
			return nil, err
		}
	}
	return json.Marshal(struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Email     string `json:"email,omitempty"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
	}{u.ID.String(), u.Name, u.Email, u.CreatedAt.Format(TimeLayout), u.UpdatedAt.Format(TimeLayout)})
}

// DecodeUser reads a user that a store kept as JSON (User.MarshalJSON:
// event data, idempotency records), with its times in UTC as stored.
func DecodeUser(data []byte) (User, error) {
	var u User
	if err := json.Unmarshal(data, &u); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
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

// FieldKind says what type of value a user field holds.
type FieldKind uint8

const (
	FieldID   FieldKind = iota + 1 // a uuid.UUID: UserField.ID
	FieldText                      // a string: UserField.Text
	FieldTime                      // a time.Time: UserField.Time
)

// UserField is one field of a user as every format writes it: its JSON
// key and CSV column, and how to get its value. The fields a client sets
// (NewUser) have Set, which imports use to fill a NewUser.
type UserField struct {
	Name string
	Kind FieldKind
	// OmitEmpty leaves an empty value out of JSON: a field this caller may
	// not see (User.VisibleTo).
	OmitEmpty bool
	ID        func(User) uuid.UUID
	Text      func(User) string
	Time      func(User) time.Time
	Set       func(in *NewUser, value string)
}

// UserFields lists a user's fields in the order every format writes them:
// JSON responses, NDJSON and CSV exports, and the columns a CSV import
// knows. User's JSON tags say the same (TestUserFieldsMatchJSON).
var UserFields = []UserField{
	{Name: "id", Kind: FieldID, ID: func(u User) uuid.UUID { return u.ID }},
	{Name: "name", Kind: FieldText, Text: func(u User) string { return u.Name },
		Set: func(in *NewUser, v string) { in.Name = v }},
	{Name: "email", Kind: FieldText, OmitEmpty: true, Text: func(u User) string { return u.Email },
		Set: func(in *NewUser, v string) { in.Email = v }},
	{Name: "created_at", Kind: FieldTime, Time: func(u User) time.Time { return u.CreatedAt }},
	{Name: "updated_at", Kind: FieldTime, Time: func(u User) time.Time { return u.UpdatedAt }},
}
