package sqlite

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
	p := filter(f)
	if p.Email.Valid {
		// At most one; see ListUsersByEmail.
		users, err := listUserByEmail(ctx, db.rq, p, roster.SortNewest, roster.ListQuery{Limit: 1})
		if err != nil {
			return 0, db.storeError("count users", err)
		}
		return int64(len(users)), nil
	}
	n, err := db.rq.CountUsers(ctx, p)
	if err != nil {
		return 0, db.storeError("count users", err)
	}
	return n, nil
}

// listUsers picks the query for q's order and mode. Each order has its own
// static queries so that the keyset bound is always an index condition;
// a list by email has its own query, whatever the order.
func listUsers(ctx context.Context, rq *sqlitedb.Queries, q roster.ListQuery) ([]sqlitedb.User, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return nil, err
	}
	f := filter(q.Filter)
	limit := int64(q.Limit)
	a := q.After
	if f.Email.Valid {
		return listUserByEmail(ctx, rq, f, sort, q)
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

// listUserByEmail lists the one user that may have the filter's email.
func listUserByEmail(ctx context.Context, rq *sqlitedb.Queries, f sqlitedb.CountUsersParams, sort roster.Sort, q roster.ListQuery) ([]sqlitedb.User, error) {
	p := sqlitedb.ListUsersByEmailParams{
		Email: f.Email.String, Prefix: f.Prefix, PrefixEmailOf: f.PrefixEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		Sort: string(sort), Offset: int64(q.Offset), Limit: int64(q.Limit),
	}
	if a := q.After; a != nil {
		p.AfterCreatedAt = sql.NullInt64{Int64: a.CreatedAt.UnixMicro(), Valid: true}
		p.AfterName = sql.NullString{String: a.Name, Valid: true}
		p.AfterID = sql.NullString{String: a.ID.String(), Valid: true}
	}
	return rq.ListUsersByEmail(ctx, p)
}

// filter returns f's query parameters; null ones select everything. The
// created bounds are exclusive, and stored times are whole microseconds,
// so the lower bound is truncated and the upper one rounded up. The email
// and prefix are compared as given: the service has lower-cased them.
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
