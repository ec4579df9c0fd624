//go:build js && wasm

package d1

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
// from q.Offset or, in keyset mode, after q.After. The query of each order
// and mode, and the choice between the index walk and the search queries,
// are the SQLite store's (see internal/sqlite/list.go).
func (db *DB) ListUsers(ctx context.Context, q roster.ListQuery) ([]roster.User, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var s stmt
	f := sqlitedb.Filter(q.Filter)
	if f.Email.Valid {
		s = byEmail(f, sort, q)
	} else {
		few, err := db.fewCandidates(ctx, q.Filter)
		if err != nil {
			return nil, storeError("list users", err)
		}
		if few {
			s, err = searchStmt(sort, q)
		} else {
			s, err = listStmt(sort, q)
		}
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
	}
	rs, err := db.all(ctx, s)
	if err != nil {
		return nil, storeError("list users", err)
	}
	users := make([]roster.User, len(rs))
	for i, row := range rs {
		if users[i], err = user(row); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// CountUsers counts the users matching f, by the same paths as ListUsers.
func (db *DB) CountUsers(ctx context.Context, f roster.UserFilter) (int64, error) {
	p := sqlitedb.Filter(f)
	if p.Email.Valid {
		// At most one; see ListUsersByEmail.
		rs, err := db.all(ctx, byEmail(p, roster.SortNewest, roster.ListQuery{Filter: f, Limit: 1}))
		if err != nil {
			return 0, storeError("count users", err)
		}
		return int64(len(rs)), nil
	}
	few, err := db.fewCandidates(ctx, f)
	if err != nil {
		return 0, storeError("count users", err)
	}
	s := stmt{sqlitedb.SQLCountUsers, params(p)}
	if few {
		s = stmt{sqlitedb.SQLCountUsersSearch, params(sqlitedb.CountUsersSearchParams{
			Candidates: sqlitedb.Candidates(f), Search: p.Search.String, SearchAt: p.SearchAt, SearchEmailOf: p.SearchEmailOf,
			CreatedAfter: p.CreatedAfter, CreatedBefore: p.CreatedBefore,
		})}
	}
	rs, err := db.all(ctx, s)
	if err != nil {
		return 0, storeError("count users", err)
	}
	if len(rs) != 1 {
		return 0, fmt.Errorf("count users: got %d rows, want 1", len(rs))
	}
	return int64(firstColumn(rs[0]).Float()), nil
}

// listStmt picks the index walk of sort's order and q's mode, as the
// SQLite store's listUsers does.
func listStmt(sort roster.Sort, q roster.ListQuery) (stmt, error) {
	f := sqlitedb.Filter(q.Filter)
	limit := int64(q.Limit)
	if a := q.After; a != nil {
		byTime := params(sqlitedb.ListUsersNewestAfterParams{
			Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
			AfterCreatedAt: a.CreatedAt.UnixMicro(), AfterID: a.ID.String(), Limit: limit,
		})
		byName := params(sqlitedb.ListUsersNameAfterParams{
			Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
			AfterName: a.Name, AfterID: a.ID.String(), Limit: limit,
		})
		switch sort {
		case roster.SortNewest:
			return stmt{sqlitedb.SQLListUsersNewestAfter, byTime}, nil
		case roster.SortOldest:
			return stmt{sqlitedb.SQLListUsersOldestAfter, byTime}, nil
		case roster.SortName:
			return stmt{sqlitedb.SQLListUsersNameAfter, byName}, nil
		case roster.SortNameDesc:
			return stmt{sqlitedb.SQLListUsersNameDescAfter, byName}, nil
		}
		return stmt{}, fmt.Errorf("unknown sort %q", sort)
	}
	p := params(sqlitedb.ListUsersNewestParams{
		Email: f.Email, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Offset: int64(q.Offset), Limit: limit,
	})
	switch sort {
	case roster.SortNewest:
		return stmt{sqlitedb.SQLListUsersNewest, p}, nil
	case roster.SortOldest:
		return stmt{sqlitedb.SQLListUsersOldest, p}, nil
	case roster.SortName:
		return stmt{sqlitedb.SQLListUsersName, p}, nil
	case roster.SortNameDesc:
		return stmt{sqlitedb.SQLListUsersNameDesc, p}, nil
	}
	return stmt{}, fmt.Errorf("unknown sort %q", sort)
}

// searchStmt is the search query of sort's order (see the SQLite store's
// searchUsers): the trigram index's candidates, checked and sorted.
func searchStmt(sort roster.Sort, q roster.ListQuery) (stmt, error) {
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
		return stmt{sqlitedb.SQLSearchUsersNewest, params(byTime)}, nil
	case roster.SortOldest:
		return stmt{sqlitedb.SQLSearchUsersOldest, params(sqlitedb.SearchUsersOldestParams(byTime))}, nil
	case roster.SortName:
		return stmt{sqlitedb.SQLSearchUsersName, params(byName)}, nil
	case roster.SortNameDesc:
		return stmt{sqlitedb.SQLSearchUsersNameDesc, params(sqlitedb.SearchUsersNameDescParams(byName))}, nil
	}
	return stmt{}, fmt.Errorf("unknown sort %q", sort)
}

// byEmail lists the one user that may have the filter's email.
func byEmail(f sqlitedb.CountUsersParams, sort roster.Sort, q roster.ListQuery) stmt {
	p := sqlitedb.ListUsersByEmailParams{
		Email: f.Email.String, Search: f.Search, SearchAt: f.SearchAt, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Sort: string(sort), Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	p.AfterCreatedAt, p.AfterName, p.AfterID = after(q.After)
	return stmt{sqlitedb.SQLListUsersByEmail, params(p)}
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

// sortMost is the SQLite store's bound (internal/sqlite/list.go): with
// fewer candidates than this, reading and sorting them costs less than
// walking an order's index until a page is full.
const sortMost = 2000

// fewCandidates reports whether the trigram index holds fewer than
// sortMost rows with f's search text anywhere, as the SQLite store's
// fewCandidates does; text shorter than a trigram is never asked.
func (db *DB) fewCandidates(ctx context.Context, f roster.UserFilter) (bool, error) {
	if utf8.RuneCountInString(f.Search) < roster.MinContainsLength {
		return false, nil
	}
	rs, err := db.all(ctx, stmt{sqlitedb.SQLSearchCandidatesUpTo, params(sqlitedb.SearchCandidatesUpToParams{
		Candidates: sqlitedb.Candidates(f), Most: sortMost,
	})})
	if err != nil {
		return false, err
	}
	if len(rs) != 1 {
		return false, fmt.Errorf("search candidates: got %d rows, want 1", len(rs))
	}
	return int64(firstColumn(rs[0]).Float()) < sortMost, nil
}
