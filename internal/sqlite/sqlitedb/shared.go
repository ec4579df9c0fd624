package sqlitedb

// Written by hand, beside sqlc's output: the SQLite store and the D1 store
// run these same statements, so the parameters they share and the mapping
// of a row to a roster.User or roster.Event are here, once: a user field is mapped in this
// file for both engines. sqlc generate leaves this file alone.

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/tracing"
)

// NewUserParams are the parameters of CreateUser for u, times as stored:
// whole Unix microseconds.
func NewUserParams(u roster.User) CreateUserParams {
	return CreateUserParams{
		ID:        u.ID.String(),
		Name:      u.Name,
		NameLower: roster.NameKey(u.Name),
		Email:     u.Email,
		CreatedAt: u.CreatedAt.UnixMicro(),
		UpdatedAt: u.UpdatedAt.UnixMicro(),
	}
}

// UserUpdateParams are the parameters of UpdateUser: upd's fields, null
// where it leaves them as they are.
func UserUpdateParams(id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) UpdateUserParams {
	p := UpdateUserParams{
		Email:       nullString(upd.Email),
		Name:        nullString(upd.Name),
		UpdatedAt:   updatedAt.UnixMicro(),
		ID:          id.String(),
		IfUpdatedAt: NullMicros(upd.IfUpdatedAt),
	}
	if upd.Name != nil {
		p.NameLower = sql.NullString{String: roster.NameKey(*upd.Name), Valid: true}
	}
	return p
}

// Domain converts a stored row. A malformed id means the database was
// written by something other than these stores; it is reported, not
// trusted.
func (row User) Domain() (roster.User, error) {
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

// Domain converts a stored event; as with users, a malformed row is
// reported, not trusted.
func (row Event) Domain() (roster.Event, error) {
	id, err := uuid.Parse(row.UserID)
	if err != nil {
		return roster.Event{}, fmt.Errorf("stored event %d: user id %q: %w", row.ID, row.UserID, err)
	}
	ev := roster.Event{
		ID:     row.ID,
		Type:   roster.EventType(row.Type),
		UserID: id,
		At:     time.UnixMicro(row.At).UTC(),
		Trace:  tracing.ParseTraceParent(row.TraceParent.String), // not valid for NULL
	}
	var data []byte
	if row.Data.Valid {
		data = []byte(row.Data.String)
	}
	if err := ev.SetData(data); err != nil {
		return roster.Event{}, fmt.Errorf("stored event %d: %w", row.ID, err)
	}
	return ev, nil
}

func nullString(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

// NullMicros stores t as Unix microseconds, truncated like every stored
// time; nil is null.
func NullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// Filter returns f's query parameters; null ones select everything. The
// created bounds are exclusive, and stored times are whole microseconds,
// so the lower bound is truncated and the upper one rounded up. The email
// and search are compared as given: the service has lower-cased them. A
// search matches anywhere unless it is a prefix search (search_at 1).
func Filter(f roster.UserFilter) CountUsersParams {
	var p CountUsersParams
	if f.Email != "" {
		p.Email = sql.NullString{String: f.Email, Valid: true}
	}
	if f.Search != "" {
		p.Search = sql.NullString{String: f.Search, Valid: true}
		p.SearchAt = anywhere
		if f.PrefixSearch() {
			p.SearchAt = 1
		}
	}
	if f.SearchEmailOf != nil {
		p.SearchEmailOf = sql.NullString{String: f.SearchEmailOf.String(), Valid: true}
	}
	if !f.CreatedAfter.IsZero() {
		p.CreatedAfter = sql.NullInt64{Int64: f.CreatedAfter.UnixMicro(), Valid: true}
	}
	if !f.CreatedBefore.IsZero() {
		p.CreatedBefore = sql.NullInt64{Int64: microsCeil(f.CreatedBefore), Valid: true}
	}
	return p
}

// anywhere is a search_at beyond the end of any name or email.
const anywhere = 1 << 20

// microsCeil is t in Unix microseconds, rounded up.
func microsCeil(t time.Time) int64 {
	m := t.UnixMicro()
	if time.UnixMicro(m).Before(t) {
		m++
	}
	return m
}

// Candidates is the FTS5 query of the rows holding f's search text: one
// phrase, its double quotes doubled, so that nothing in it is query
// syntax. It looks in every email; the search queries' own condition
// applies f.SearchEmailOf.
func Candidates(f roster.UserFilter) string {
	return `"` + strings.ReplaceAll(f.Search, `"`, `""`) + `"`
}
