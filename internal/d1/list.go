//go:build js && wasm

package d1

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
)

// ListUsers returns up to q.Limit users matching q.Filter in q.Sort order,
// from q.Offset or, in keyset mode, after q.After. The query of each order
// and mode is the SQLite store's (see internal/sqlite/list.go).
func (db *DB) ListUsers(ctx context.Context, q roster.ListQuery) ([]roster.User, error) {
	s, err := listStmt(q)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	rs, err := db.all(ctx, s)
	if err != nil {
		return nil, storeError("list users", err)
	}
	users := make([]roster.User, len(rs))
	for i, row := range rs {
		if users[i], err = user(row, ""); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// CountUsers counts the users matching f.
func (db *DB) CountUsers(ctx context.Context, f roster.UserFilter) (int64, error) {
	p := filter(f)
	s := stmt{sqlitedb.SQLCountUsers, params(p)}
	if p.Email.Valid {
		// At most one; see ListUsersByEmail.
		s = byEmail(p, roster.SortNewest, roster.ListQuery{Limit: 1})
	}
	rs, err := db.all(ctx, s)
	if err != nil {
		return 0, storeError("count users", err)
	}
	if p.Email.Valid {
		return int64(len(rs)), nil
	}
	if len(rs) != 1 {
		return 0, fmt.Errorf("count users: got %d rows, want 1", len(rs))
	}
	return int64(firstColumn(rs[0]).Float()), nil
}

// listStmt picks the statement for q's order and mode, as the SQLite
// store's listUsers does.
func listStmt(q roster.ListQuery) (stmt, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return stmt{}, err
	}
	f := filter(q.Filter)
	if f.Email.Valid {
		return byEmail(f, sort, q), nil
	}
	limit := int64(q.Limit)
	if a := q.After; a != nil {
		byTime := params(sqlitedb.ListUsersNewestAfterParams{
			Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
			AfterCreatedAt: a.CreatedAt.UnixMicro(), AfterID: a.ID.String(), Limit: limit,
		})
		byName := params(sqlitedb.ListUsersNameAfterParams{
			Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
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
		Email: f.Email, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
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

// byEmail lists the one user that may have the filter's email.
func byEmail(f sqlitedb.CountUsersParams, sort roster.Sort, q roster.ListQuery) stmt {
	p := sqlitedb.ListUsersByEmailParams{
		Email: f.Email.String, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Sort: string(sort), Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	if a := q.After; a != nil {
		p.AfterCreatedAt = sql.NullInt64{Int64: a.CreatedAt.UnixMicro(), Valid: true}
		p.AfterName = sql.NullString{String: a.Name, Valid: true}
		p.AfterID = sql.NullString{String: a.ID.String(), Valid: true}
	}
	return stmt{sqlitedb.SQLListUsersByEmail, params(p)}
}

// filter returns f's query parameters, as the SQLite store's filter does:
// null ones select everything; the exclusive created bounds are truncated
// (lower) and rounded up (upper) to whole microseconds.
func filter(f roster.UserFilter) sqlitedb.CountUsersParams {
	var p sqlitedb.CountUsersParams
	if f.Email != "" {
		p.Email = sql.NullString{String: f.Email, Valid: true}
	}
	if f.Prefix != "" {
		p.Prefix = sql.NullString{String: f.Prefix, Valid: true}
	}
	if f.PrefixEmailOf != nil {
		p.PrefixEmailOf = sql.NullString{String: f.PrefixEmailOf.String(), Valid: true}
	}
	if !f.CreatedAfter.IsZero() {
		p.CreatedAfter = sql.NullInt64{Int64: f.CreatedAfter.UnixMicro(), Valid: true}
	}
	if !f.CreatedBefore.IsZero() {
		m := f.CreatedBefore.UnixMicro()
		if time.UnixMicro(m).Before(f.CreatedBefore) {
			m++
		}
		p.CreatedBefore = sql.NullInt64{Int64: m, Valid: true}
	}
	return p
}
