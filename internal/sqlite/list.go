package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
)

// ListUsers returns up to q.Limit users matching q.Filter in q.Sort order,
// from q.Offset or, in keyset mode, after q.After.
func (db *DB) ListUsers(ctx context.Context, q roster.ListQuery) ([]roster.User, error) {
	rows, err := listUsers(ctx, db.rq, q)
	if err != nil {
		return nil, db.storeError("list users", err)
	}
	users := make([]roster.User, len(rows))
	for i, row := range rows {
		if users[i], err = user(row); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// CountUsers counts the users matching f.
func (db *DB) CountUsers(ctx context.Context, f roster.UserFilter) (int64, error) {
	var n int64
	var err error
	switch p := filter(f); {
	case p.Email.Valid:
		// At most one; see ListUsersByEmail.
		var users []sqlitedb.User
		users, err = listUserByEmail(ctx, db.rq, roster.SortNewest, roster.ListQuery{Filter: f, Limit: 1})
		n = int64(len(users))
	case isSearch(f):
		s := search(f)
		s.CreatedAfter, s.CreatedBefore = p.CreatedAfter, p.CreatedBefore
		n, err = db.rq.CountUsersSearch(ctx, s)
	default:
		n, err = db.rq.CountUsers(ctx, p)
	}
	if err != nil {
		return 0, db.storeError("count users", err)
	}
	return n, nil
}

// listUsers picks the query for q's order and mode. Each order has its own
// static queries so that the keyset bound is always an index condition;
// a list by email, and a search for text anywhere, have their own query,
// whatever the order.
func listUsers(ctx context.Context, rq *sqlitedb.Queries, q roster.ListQuery) ([]sqlitedb.User, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return nil, err
	}
	f := filter(q.Filter)
	limit := int64(q.Limit)
	a := q.After
	if f.Email.Valid {
		return listUserByEmail(ctx, rq, sort, q)
	}
	if isSearch(q.Filter) {
		return searchUsers(ctx, rq, sort, q)
	}
	if a == nil {
		p := sqlitedb.ListUsersNewestParams{
			Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
			Offset: int64(q.Offset), Limit: limit,
		}
		switch sort {
		case roster.SortNewest:
			return rq.ListUsersNewest(ctx, p)
		case roster.SortOldest:
			return rq.ListUsersOldest(ctx, sqlitedb.ListUsersOldestParams(p))
		case roster.SortName:
			return rq.ListUsersName(ctx, sqlitedb.ListUsersNameParams(p))
		case roster.SortNameDesc:
			return rq.ListUsersNameDesc(ctx, sqlitedb.ListUsersNameDescParams(p))
		}
		return nil, fmt.Errorf("unknown sort %q", sort)
	}
	byTime := sqlitedb.ListUsersNewestAfterParams{
		Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterCreatedAt: a.CreatedAt.UnixMicro(), AfterID: a.ID.String(), Limit: limit,
	}
	byName := sqlitedb.ListUsersNameAfterParams{
		Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterName: a.Name, AfterID: a.ID.String(), Limit: limit,
	}
	switch sort {
	case roster.SortNewest:
		return rq.ListUsersNewestAfter(ctx, byTime)
	case roster.SortOldest:
		return rq.ListUsersOldestAfter(ctx, sqlitedb.ListUsersOldestAfterParams(byTime))
	case roster.SortName:
		return rq.ListUsersNameAfter(ctx, byName)
	case roster.SortNameDesc:
		return rq.ListUsersNameDescAfter(ctx, sqlitedb.ListUsersNameDescAfterParams(byName))
	}
	return nil, fmt.Errorf("unknown sort %q", sort)
}

// listUserByEmail lists the one user that may have q's email.
func listUserByEmail(ctx context.Context, rq *sqlitedb.Queries, sort roster.Sort, q roster.ListQuery) ([]sqlitedb.User, error) {
	f := filter(q.Filter)
	p := sqlitedb.ListUsersByEmailParams{
		Email: f.Email.String, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Sort: string(sort), Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	if isSearch(q.Filter) {
		s := search(q.Filter)
		p.Search = sql.NullString{String: s.Search, Valid: true}
		p.SearchEmailOf = s.SearchEmailOf
		p.Q = sql.NullString{String: s.Q, Valid: true}
	}
	p.AfterCreatedAt, p.AfterName, p.AfterID = after(q.After)
	return rq.ListUsersByEmail(ctx, p)
}

// after returns the optional cursor parameters of a.
func after(a *roster.Cursor) (createdAt sql.NullInt64, name, id sql.NullString) {
	if a == nil {
		return
	}
	return sql.NullInt64{Int64: a.CreatedAt.UnixMicro(), Valid: true},
		sql.NullString{String: a.Name, Valid: true},
		sql.NullString{String: a.ID.String(), Valid: true}
}

// searchUsers runs the search query of sort's order.
func searchUsers(ctx context.Context, rq *sqlitedb.Queries, sort roster.Sort, q roster.ListQuery) ([]sqlitedb.User, error) {
	f, s := filter(q.Filter), search(q.Filter)
	afterCreatedAt, afterName, afterID := after(q.After)
	byTime := sqlitedb.SearchUsersNewestParams{
		Search: s.Search, SearchEmailOf: s.SearchEmailOf, Q: s.Q, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterCreatedAt: afterCreatedAt, AfterID: afterID, Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	byName := sqlitedb.SearchUsersNameParams{
		Search: s.Search, SearchEmailOf: s.SearchEmailOf, Q: s.Q, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterName: afterName, AfterID: afterID, Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	switch sort {
	case roster.SortNewest:
		return rq.SearchUsersNewest(ctx, byTime)
	case roster.SortOldest:
		return rq.SearchUsersOldest(ctx, sqlitedb.SearchUsersOldestParams(byTime))
	case roster.SortName:
		return rq.SearchUsersName(ctx, byName)
	case roster.SortNameDesc:
		return rq.SearchUsersNameDesc(ctx, sqlitedb.SearchUsersNameDescParams(byName))
	}
	return nil, fmt.Errorf("unknown sort %q", sort)
}

// isSearch reports whether f searches for text anywhere, which the
// search queries answer; a prefix search is a filter of the other
// queries.
func isSearch(f roster.UserFilter) bool { return f.Search != "" && !f.PrefixSearch() }

// search returns the search parameters of f (see SearchUsersNewest): an
// FTS5 query of one phrase, the text with its double quotes doubled, so
// that nothing in it is query syntax.
func search(f roster.UserFilter) sqlitedb.CountUsersSearchParams {
	p := sqlitedb.CountUsersSearchParams{Q: f.Search}
	p.Search = `"` + strings.ReplaceAll(f.Search, `"`, `""`) + `"`
	if f.SearchEmailOf != nil {
		p.Search = "name_lower : " + p.Search
		p.SearchEmailOf = sql.NullString{String: f.SearchEmailOf.String(), Valid: true}
	}
	return p
}

// filter returns f's query parameters; null ones select everything. The
// created bounds are exclusive, and stored times are whole microseconds,
// so the lower bound is truncated and the upper one rounded up. The email
// and search are compared as given: the service has lower-cased them. A
// search for text anywhere is not among them (see search).
func filter(f roster.UserFilter) sqlitedb.CountUsersParams {
	var p sqlitedb.CountUsersParams
	if f.Email != "" {
		p.Email = sql.NullString{String: f.Email, Valid: true}
	}
	if f.Search != "" && f.PrefixSearch() {
		p.Prefix = sql.NullString{String: f.Search, Valid: true}
		if f.SearchEmailOf != nil {
			p.PrefixEmailOf = sql.NullString{String: f.SearchEmailOf.String(), Valid: true}
		}
	}
	if !f.CreatedAfter.IsZero() {
		p.CreatedAfter = sql.NullInt64{Int64: f.CreatedAfter.UnixMicro(), Valid: true}
	}
	if !f.CreatedBefore.IsZero() {
		p.CreatedBefore = sql.NullInt64{Int64: microsCeil(f.CreatedBefore), Valid: true}
	}
	return p
}

// microsCeil is t in Unix microseconds, rounded up.
func microsCeil(t time.Time) int64 {
	m := t.UnixMicro()
	if time.UnixMicro(m).Before(t) {
		m++
	}
	return m
}
