package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

// ListUsers returns up to q.Limit users matching q.Filter in q.Sort order,
// from q.Offset or, in keyset mode, after q.After.
// Identical concurrent page-mode queries share one statement
// (coalesce.go); each caller gets its own copy of the rows. Keyset pages
// do not: a cursor is one client's place in its walk, which another client
// rarely presents at the same moment, so waiting for its run would cost
// latency and CPU for nothing (bench/run's keyset scenario, 50 cursors
// over 64 connections: 15-20 % more CPU per request with sharing).
func (db *DB) ListUsers(ctx context.Context, q roster.ListQuery) ([]roster.User, error) {
	var users []roster.User
	err := db.read(ctx, func(pool *pgxpool.Pool, reads *readers) (err error) {
		if q.After == nil {
			users, err = reads.lists.Do(ctx, keyOf(q))
			users = slices.Clone(users)
			return err
		}
		users, err = db.listOn(ctx, pool, q)
		return err
	})
	if err != nil {
		return nil, storeError("list users", err)
	}
	return users, nil
}

// listOn runs q's list statement on a connection of pool.
func (db *DB) listOn(ctx context.Context, pool *pgxpool.Pool, q roster.ListQuery) ([]roster.User, error) {
	var rows []pgdb.User
	err := db.useOn(ctx, pool, func(conn *pgxpool.Conn) (err error) {
		rows, err = listUsers(ctx, pgdb.New(customPlans{conn}), q)
		return err
	})
	if err != nil {
		return nil, err
	}
	users := make([]roster.User, len(rows))
	for i, row := range rows {
		users[i] = user(row)
	}
	return users, nil
}

// CountUsers counts the users matching f.
func (db *DB) CountUsers(ctx context.Context, f roster.UserFilter) (int64, error) {
	var n int64
	err := db.customPlanQueries(ctx, func(pq *pgdb.Queries) (err error) {
		n, err = pq.CountUsers(ctx, filter(f))
		return err
	})
	if err != nil {
		return 0, storeError("count users", err)
	}
	return n, nil
}

// listUsers picks the query for q's order and mode. Each order has its own
// static queries so that the keyset bound is always an index condition.
func listUsers(ctx context.Context, pq *pgdb.Queries, q roster.ListQuery) ([]pgdb.User, error) {
	sort := cmp.Or(q.Sort, roster.SortNewest)
	if err := q.Check(); err != nil {
		return nil, err
	}
	f := filter(q.Filter)
	limit := int32Sat(q.Limit)
	a := q.After
	if a == nil {
		p := pgdb.ListUsersNewestParams{
			Email: f.Email, Search: f.Search, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
			Offset: int32Sat(q.Offset), Limit: limit,
		}
		switch sort {
		case roster.SortNewest:
			return pq.ListUsersNewest(ctx, p)
		case roster.SortOldest:
			return pq.ListUsersOldest(ctx, pgdb.ListUsersOldestParams(p))
		case roster.SortName:
			return pq.ListUsersName(ctx, pgdb.ListUsersNameParams(p))
		case roster.SortNameDesc:
			return pq.ListUsersNameDesc(ctx, pgdb.ListUsersNameDescParams(p))
		}
		return nil, fmt.Errorf("unknown sort %q", sort)
	}
	byTime := pgdb.ListUsersNewestAfterParams{
		Email: f.Email, Search: f.Search, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterCreatedAt: micro(a.CreatedAt), AfterID: a.ID, Limit: limit,
	}
	byName := pgdb.ListUsersNameAfterParams{
		Email: f.Email, Search: f.Search, SearchEmailOf: f.SearchEmailOf, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		AfterName: a.Name, AfterID: a.ID, Limit: limit,
	}
	switch sort {
	case roster.SortNewest:
		return pq.ListUsersNewestAfter(ctx, byTime)
	case roster.SortOldest:
		return pq.ListUsersOldestAfter(ctx, pgdb.ListUsersOldestAfterParams(byTime))
	case roster.SortName:
		return pq.ListUsersNameAfter(ctx, byName)
	case roster.SortNameDesc:
		return pq.ListUsersNameDescAfter(ctx, pgdb.ListUsersNameDescAfterParams(byName))
	}
	return nil, fmt.Errorf("unknown sort %q", sort)
}

// filter returns f's query parameters; nil ones select everything. The
// created bounds are exclusive, and stored times are whole microseconds,
// so the lower bound is truncated and the upper one rounded up. The email
// and search are compared as given: the service has lower-cased them.
func filter(f roster.UserFilter) pgdb.CountUsersParams {
	var p pgdb.CountUsersParams
	if f.Email != "" {
		email := f.Email
		p.Email = &email
	}
	if f.Search != "" {
		pattern := likePattern(f)
		p.Search = &pattern
	}
	if f.SearchEmailOf != nil {
		p.SearchEmailOf = pgtype.UUID{Bytes: *f.SearchEmailOf, Valid: true}
	}
	if !f.CreatedAfter.IsZero() {
		t := micro(f.CreatedAfter)
		p.CreatedAfter = &t
	}
	if !f.CreatedBefore.IsZero() {
		t := microCeil(f.CreatedBefore)
		p.CreatedBefore = &t
	}
	return p
}

// likePattern returns the LIKE pattern of the strings that hold
// f.Search, or that start with it (f.PrefixSearch), escaping LIKE's own
// metacharacters with its default escape, backslash: a search for "%"
// finds a percent sign, not everything.
func likePattern(f roster.UserFilter) string {
	p := likeEscaper.Replace(f.Search) + "%"
	if f.PrefixSearch() {
		return p
	}
	return "%" + p
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// microCeil rounds t up to a whole microsecond.
func microCeil(t time.Time) time.Time {
	m := micro(t)
	if m.Before(t) {
		m = m.Add(time.Microsecond)
	}
	return m
}

// customPlanQueries runs fn like queries, but with every query executed as
// an unnamed statement, which PostgreSQL plans for its arguments each
// time. Through pgx's default, a named prepared statement, PostgreSQL
// switches to a generic plan after five executions, and a generic plan
// sees neither which optional filters are unused nor the LIKE pattern:
// for the list queries it is a sequential scan and a sort, tens of
// milliseconds at 250,000 users instead of a fraction of one, even after a
// cursor. Planning each time costs a fraction of a millisecond.
//
// They are reads: on a replica when there are some (replicas.go).
func (db *DB) customPlanQueries(ctx context.Context, fn func(q *pgdb.Queries) error) error {
	return db.read(ctx, func(pool *pgxpool.Pool, _ *readers) error {
		return db.useOn(ctx, pool, func(conn *pgxpool.Conn) error { return fn(pgdb.New(customPlans{conn})) })
	})
}

// customPlans passes pgx.QueryExecModeCacheDescribe, which pgx takes from
// the first argument, with every query: an unnamed statement with its
// parameter types cached, so still one round trip and binary parameters.
type customPlans struct{ db pgdb.DBTX }

func (c customPlans) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return c.db.Exec(ctx, sql, withCustomPlan(args)...)
}

func (c customPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return c.db.Query(ctx, sql, withCustomPlan(args)...)
}

func (c customPlans) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return c.db.QueryRow(ctx, sql, withCustomPlan(args)...)
}

func withCustomPlan(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}
