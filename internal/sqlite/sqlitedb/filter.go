package sqlitedb

// Written by hand, beside sqlc's output: the SQLite store and the D1 store
// run these same statements, so the parameters they share are built here,
// once. sqlc generate leaves this file alone.

import (
	"database/sql"
	"strings"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

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
