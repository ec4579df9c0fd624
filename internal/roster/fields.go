package roster

import (
	"time"

	"github.com/google/uuid"
)

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
