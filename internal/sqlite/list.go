package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"unicode/utf8"

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
		if users[i], err = row.Domain(); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// CountUsers counts the users matching f.
func (db *DB) CountUsers(ctx context.Context, f roster.UserFilter) (int64, error) {
	n, err := countUsers(ctx, db.rq, f)
	if err != nil {
		return 0, db.storeError("count users", err)
	}
	return n, nil
}

func countUsers(ctx context.Context, rq *sqlitedb.Queries, f roster.UserFilter) (int64, error) {
	p := sqlitedb.Filter(f)
	if p.Email.Valid {
		// At most one; see ListUsersByEmail.
		users, err := listUserByEmail(ctx, rq, roster.SortNewest, roster.ListQuery{Filter: f, Limit: 1})
		return int64(len(users)), err
	}
	few, err := fewCandidates(ctx, rq, f)
	if err != nil {
		return 0, err
	}
	if few {
		return rq.CountUsersSearch(ctx, sqlitedb.CountUsersSearchParams{
			Candidates: sqlitedb.Candidates(f), Search: p.Search.String, SearchAt: p.SearchAt, SearchEmailOf: p.SearchEmailOf,
			CreatedAfter: p.CreatedAfter, CreatedBefore: p.CreatedBefore,
		})
	}
	return rq.CountUsers(ctx, p)
}

// listUsers picks the query for q's order and mode. Each order has its own
// static queries so that the keyset bound is always an index condition;
// a list by email has its own query, whatever the order, and so has a
// search for text that few users hold (see fewCandidates).
func listUsers(ctx context.Context, rq *sqlitedb.Queries, q roster.ListQuery) ([]sqlitedb.User, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return nil, err
	}
	f := sqlitedb.Filter(q.Filter)
	limit := int64(q.Limit)
	a := q.After
	if f.Email.Valid {
		return listUserByEmail(ctx, rq, sort, q)
	}
	few, err := fewCandidates(ctx, rq, q.Filter)
	if err != nil {
		return nil, err
	}
	if few {
		return searchUsers(ctx, rq, sort, q)
	}
	if a == nil {
		p := sqlitedb.ListUsersNewestParams{
			Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
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
		Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterCreatedAt: a.CreatedAt.UnixMicro(), AfterID: a.ID.String(), Limit: limit,
	}
	byName := sqlitedb.ListUsersNameAfterParams{
		Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
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
	f := sqlitedb.Filter(q.Filter)
	p := sqlitedb.ListUsersByEmailParams{
		Email: f.Email.String, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Sort: string(sort), Offset: int64(q.Offset), Limit: int64(q.Limit),
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
	f := sqlitedb.Filter(q.Filter)
	afterCreatedAt, afterName, afterID := after(q.After)
	byTime := sqlitedb.SearchUsersNewestParams{
		Candidates: sqlitedb.Candidates(q.Filter), Search: f.Search.String, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf,
		CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterCreatedAt: afterCreatedAt, AfterID: afterID, Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	byName := sqlitedb.SearchUsersNameParams{
		Candidates: byTime.Candidates, Search: byTime.Search, SearchAt: byTime.SearchAt, SearchEmailOf: byTime.SearchEmailOf,
		CreatedAfter: byTime.CreatedAfter, CreatedBefore: byTime.CreatedBefore,
		AfterName: afterName, AfterID: afterID, Offset: byTime.Offset, Limit: byTime.Limit,
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

// sortMost is the most candidates of a search that the search queries
// read and sort; for more, walking the order's index until a page is
// full costs less. Here (BenchmarkFilters, 250,000 users) the search
// queries take ~17 µs a match and a walk ~6 µs a row, so they break even
// near 2,000 matches: at most ~35 ms either way, where sorting every
// match of text that every user holds took 3.5 s.
const sortMost = 2000

// fewCandidates reports whether the trigram index holds at most sortMost
// rows with f's search text anywhere, which the search queries then read
// and check (at the start only, for a prefix search). Other searches are
// filters of the walk of an order's index: text that many users hold,
// where a page fills soon, and text shorter than a trigram.
func fewCandidates(ctx context.Context, rq *sqlitedb.Queries, f roster.UserFilter) (bool, error) {
	if utf8.RuneCountInString(f.Search) < roster.MinContainsLength {
		return false, nil
	}
	n, err := rq.SearchCandidatesUpTo(ctx, sqlitedb.SearchCandidatesUpToParams{Candidates: sqlitedb.Candidates(f), Most: sortMost})
	return n < sortMost, err
}
