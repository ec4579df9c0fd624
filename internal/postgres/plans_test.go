package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// TestListPlans checks with EXPLAIN that every list query, as the store
// runs it (an unnamed statement, planned for its arguments), reads an
// index instead of the table: the keyset bound is an index condition, so
// a deep page costs what the first one does, and the filters search
// their own indexes. Run with -v to see the plans.
func TestListPlans(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	mustSeed(t, db, 20_000)
	mid := storetest.BenchUser(10_000)
	after := func(sort roster.Sort) *roster.Cursor {
		return &roster.Cursor{Sort: sort, CreatedAt: mid.CreatedAt, Name: roster.NameKey(mid.Name), ID: mid.ID}
	}
	const (
		byTime     = "Index Scan using users_created_at_id_idx"
		byTimeBack = "Index Scan Backward using users_created_at_id_idx"
		byName     = "Index Scan using users_name_lower_id_idx"
		byNameBack = "Index Scan Backward using users_name_lower_id_idx"
		timeBound  = "Index Cond: (ROW(created_at, id)"
		nameBound  = "Index Cond: (ROW(name_lower, id)"
		// Under collation C either index on lower(email) serves both.
		emailIndex  = "Index Cond: (lower(email) = "
		nameRange   = "Index Cond: ((name_lower >= "
		emailRange  = "Index Cond: ((lower(email) ~>=~ |Index Cond: ((lower(email) >= "
		noSort      = "!Sort"
		noTableScan = "!Seq Scan"
		// A search for text anywhere: the trigram indexes of 00007.
		nameTrigrams  = "Bitmap Index Scan on users_name_lower_trgm_idx"
		emailTrigrams = "Bitmap Index Scan on users_email_lower_trgm_idx"
	)
	self := mid.ID
	tests := []struct {
		name  string
		q     roster.ListQuery
		count bool     // explain CountUsers(q.Filter) instead
		want  []string // substrings of the plan, "|" between alternatives; "!" in front: must be absent
	}{
		{"newest", roster.ListQuery{Limit: 51}, false, []string{byTime, noSort}},
		{"newest after", roster.ListQuery{Limit: 51, After: after(roster.SortNewest)}, false, []string{byTime, timeBound, noSort}},
		{"oldest", roster.ListQuery{Sort: roster.SortOldest, Limit: 51}, false, []string{byTimeBack, noSort}},
		{"oldest after", roster.ListQuery{Sort: roster.SortOldest, Limit: 51, After: after(roster.SortOldest)}, false, []string{byTimeBack, timeBound, noSort}},
		{"name", roster.ListQuery{Sort: roster.SortName, Limit: 51}, false, []string{byName, noSort}},
		{"name after", roster.ListQuery{Sort: roster.SortName, Limit: 51, After: after(roster.SortName)}, false, []string{byName, nameBound, noSort}},
		{"-name", roster.ListQuery{Sort: roster.SortNameDesc, Limit: 51}, false, []string{byNameBack, noSort}},
		{"-name after", roster.ListQuery{Sort: roster.SortNameDesc, Limit: 51, After: after(roster.SortNameDesc)}, false, []string{byNameBack, nameBound, noSort}},
		{"email", roster.ListQuery{Filter: roster.UserFilter{Email: "user123@example.com"}, Limit: 51}, false, []string{emailIndex}},
		{"prefix, newest", roster.ListQuery{Filter: roster.UserFilter{Search: "zoë 123", Match: roster.MatchPrefix}, Limit: 51}, false, []string{nameRange, emailRange}},
		{"prefix, name after", roster.ListQuery{Filter: roster.UserFilter{Search: "zoë 123", Match: roster.MatchPrefix}, Sort: roster.SortName, Limit: 51, After: after(roster.SortName)}, false, []string{nameRange}},
		{"email prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "user123", Match: roster.MatchPrefix}, Limit: 51}, false, []string{emailRange}},
		{"created range", roster.ListQuery{Filter: roster.UserFilter{CreatedAfter: mid.CreatedAt, CreatedBefore: mid.CreatedAt.Add(3600e9)}, Limit: 51}, false, []string{byTime}},
		{"count by email", roster.ListQuery{Filter: roster.UserFilter{Email: "user123@example.com"}}, true, []string{emailIndex}},
		{"count by prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "zoë 123", Match: roster.MatchPrefix}}, true, []string{nameRange, emailRange}},
		{"short search, a prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "zo"}, Sort: roster.SortName, Limit: 51}, false, []string{byName, noSort}},
		{"search, newest", roster.ListQuery{Filter: roster.UserFilter{Search: "12345"}, Limit: 51}, false, []string{nameTrigrams, emailTrigrams}},
		{"search, name after", roster.ListQuery{Filter: roster.UserFilter{Search: "12345"}, Sort: roster.SortName, Limit: 51, After: after(roster.SortName)}, false, []string{nameTrigrams, emailTrigrams}},
		{"search, oldest, page 3", roster.ListQuery{Filter: roster.UserFilter{Search: "ë 1234"}, Sort: roster.SortOldest, Limit: 51, Offset: 102}, false, []string{nameTrigrams, emailTrigrams}},
		{"search not ASCII", roster.ListQuery{Filter: roster.UserFilter{Search: "émile 1234"}, Limit: 51}, false, []string{nameTrigrams, emailTrigrams}},
		{"search, own email only", roster.ListQuery{Filter: roster.UserFilter{Search: "12345", SearchEmailOf: &self}, Limit: 51}, false, []string{nameTrigrams}},
		{"count by search", roster.ListQuery{Filter: roster.UserFilter{Search: "12345"}}, true, []string{nameTrigrams, emailTrigrams}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			var err error
			if tt.count {
				_, err = pgdb.New(rec).CountUsers(t.Context(), filter(tt.q.Filter))
			} else {
				_, err = listUsers(t.Context(), pgdb.New(rec), tt.q)
			}
			if !errors.Is(err, errRecorded) {
				t.Fatalf("record the query: got error %v, want %v", err, errRecorded)
			}
			plan := explain(t, db, rec.sql, rec.args)
			t.Logf("plan:\n%s", plan)
			for _, w := range append(tt.want, noTableScan) {
				if absent, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(plan, absent) {
						t.Errorf("got a plan with %q, want none", absent)
					}
				} else if !containsAny(plan, strings.Split(w, "|")) {
					t.Errorf("got a plan without %q, want it", w)
				}
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// explain returns the plan of sql with args, run the way customPlans runs
// queries.
func explain(t *testing.T, db *DB, sql string, args []any) string {
	t.Helper()
	rows, err := db.pool.Query(t.Context(), "EXPLAIN "+sql, withCustomPlan(args)...)
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(lines, "\n")
}

var errRecorded = errors.New("recorded, not run")

// recorder is a pgdb.DBTX that records the query it is given instead of
// running it.
type recorder struct {
	sql  string
	args []any
}

func (r *recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.sql, r.args = sql, args
	return pgconn.CommandTag{}, errRecorded
}

func (r *recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql, r.args = sql, args
	return nil, errRecorded
}

func (r *recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.sql, r.args = sql, args
	return errRow{}
}

type errRow struct{}

func (errRow) Scan(...any) error { return errRecorded }

// The list queries must never run as named prepared statements, which
// PostgreSQL switches to a generic plan after five executions: generic
// plans of these queries scan the whole table (see customPlanQueries).
func TestListQueriesPlannedPerExecution(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{MaxConns: 1})
	u := storetest.BenchUser(0)
	for range 10 {
		for _, sort := range roster.Sorts {
			for _, after := range []*roster.Cursor{nil, {Sort: sort, CreatedAt: u.CreatedAt, Name: u.Name, ID: u.ID}} {
				if _, err := db.ListUsers(t.Context(), roster.ListQuery{Sort: sort, Limit: 10, After: after}); err != nil {
					t.Fatalf("ListUsers: %v", err)
				}
			}
		}
		if _, err := db.CountUsers(t.Context(), roster.UserFilter{}); err != nil {
			t.Fatalf("CountUsers: %v", err)
		}
	}
	// A query that is prepared shows that the check below sees them.
	if _, err := db.User(t.Context(), u.ID); !errors.Is(err, roster.ErrNotFound) {
		t.Fatalf("User: got error %v, want %v", err, roster.ErrNotFound)
	}
	// The pool has one connection: the one that ran the queries above.
	rows, err := db.pool.Query(t.Context(), "SELECT statement FROM pg_prepared_statements")
	if err != nil {
		t.Fatalf("list prepared statements: %v", err)
	}
	prepared, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list prepared statements: %v", err)
	}
	var sawGetUser bool
	for _, p := range prepared {
		sawGetUser = sawGetUser || strings.Contains(p, "-- name: GetUser ") // User's query when it reads alone
		if strings.Contains(p, "-- name: ListUsers") || strings.Contains(p, "-- name: CountUsers ") {
			t.Errorf("got prepared statement %.40q, want the list queries unnamed", p)
		}
	}
	if !sawGetUser {
		t.Errorf("got prepared statements %q, want GetUser among them", prepared)
	}
}

// TestEventPlans checks that the event queries read indexes: EventsAfter a
// range of the primary key in order, however many events are retained,
// also in the generic plan that a prepared statement (as pgx runs it)
// switches to; EventBounds the ends of the primary key; PurgeEvents the
// index on at.
func TestEventPlans(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	_, err := db.pool.Exec(t.Context(), `
		INSERT INTO events (type, user_id, at)
		SELECT 'user.deleted', gen_random_uuid(), now() - g * interval '1 second'
		FROM generate_series(1, 20000) AS g;
		ANALYZE events`)
	if err != nil {
		t.Fatalf("seed events: %v", err)
	}
	const noTableScan = "!Seq Scan"
	tests := []struct {
		name    string
		run     func(q *pgdb.Queries) error
		generic string   // EXECUTE arguments to check the generic plan with; "" for custom only
		want    []string // as in TestListPlans
	}{
		{"events after", func(q *pgdb.Queries) error {
			_, err := q.EventsAfter(t.Context(), pgdb.EventsAfterParams{After: 10_000, Limit: 500})
			return err
		}, "(10000, 500)", []string{"Index Scan using events_pkey", "Index Cond: (id > ", "!Sort"}},
		{"event bounds", func(q *pgdb.Queries) error {
			_, err := q.EventBounds(t.Context())
			return err
		}, "", []string{"Index Only Scan using events_pkey", "Index Only Scan Backward using events_pkey"}},
		{"purge events", func(q *pgdb.Queries) error {
			_, err := q.PurgeEvents(t.Context(), time.Now().Add(-19_000*time.Second))
			return err
		}, "", []string{"Index Scan using events_at_idx", "Index Only Scan Backward using events_pkey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if err := tt.run(pgdb.New(rec)); !errors.Is(err, errRecorded) {
				t.Fatalf("record the query: got error %v, want %v", err, errRecorded)
			}
			plans := map[string]string{"custom": explain(t, db, rec.sql, rec.args)}
			if tt.generic != "" {
				plans["generic"] = explainGeneric(t, db, rec.sql, tt.generic)
			}
			for kind, plan := range plans {
				t.Logf("%s plan:\n%s", kind, plan)
				for _, w := range append(tt.want, noTableScan) {
					if absent, ok := strings.CutPrefix(w, "!"); ok {
						if strings.Contains(plan, absent) {
							t.Errorf("got a %s plan with %q, want none", kind, absent)
						}
					} else if !strings.Contains(plan, w) {
						t.Errorf("got a %s plan without %q, want it", kind, w)
					}
				}
			}
		})
	}
}

// explainGeneric returns the generic plan of sql, prepared, for EXECUTE
// with args (a parenthesized list of literals).
func explainGeneric(t *testing.T, db *DB, sql, args string) string {
	t.Helper()
	conn, err := db.pool.Acquire(t.Context())
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	// The connection goes back to the pool: undo what this changes.
	defer conn.Exec(context.WithoutCancel(t.Context()), "DEALLOCATE generic; RESET plan_cache_mode")
	if _, err := conn.Exec(t.Context(), "SET plan_cache_mode = force_generic_plan; PREPARE generic AS "+sql); err != nil {
		t.Fatalf("PREPARE: %v", err)
	}
	rows, err := conn.Query(t.Context(), "EXPLAIN EXECUTE generic"+args)
	if err != nil {
		t.Fatalf("EXPLAIN EXECUTE: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN EXECUTE: %v", err)
	}
	return strings.Join(lines, "\n")
}
