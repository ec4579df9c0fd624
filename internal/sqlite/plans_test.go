package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/internal/storetest"
)

// TestSearchPlans checks that a search for text that few users hold, at
// the start or anywhere, reads the candidates from the trigram index and
// each from users by rowid,
// in every order and after a cursor, and sorts only them: never a scan of
// users. Text that many hold is a filter of the walk of the order's
// index, which soon fills a page, as is a search in a list by email.
func TestSearchPlans(t *testing.T) {
	db := mustOpenMigrated(t)
	mustSeed(t, db, 20_000)
	mid := storetest.BenchUser(10_000)
	self := mid.ID
	const (
		matches = "SCAN users_search VIRTUAL TABLE INDEX 0:M" // FTS5's MATCH
		byRowid = "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)"
		oneRow  = "SEARCH users USING INDEX users_email_lower_key (<expr>=?)"
		byTime  = "SCAN users USING INDEX users_created_at_id_idx"
		byName  = "SCAN users USING INDEX users_name_lower_id_idx"
		noIndex = "!users_search"
	)
	common := roster.UserFilter{Search: "example"} // every email
	selective := roster.UserFilter{Search: "12345"}
	tests := []struct {
		name  string
		q     roster.ListQuery
		count bool // explain CountUsersSearch instead
		want  []string
	}{
		{"newest", roster.ListQuery{Filter: selective, Limit: 51}, false, []string{matches, byRowid}},
		{"oldest, page 3", roster.ListQuery{Filter: selective, Sort: roster.SortOldest, Limit: 51, Offset: 102}, false, []string{matches, byRowid}},
		{"name after", roster.ListQuery{Filter: selective, Sort: roster.SortName, Limit: 51, After: &roster.Cursor{Sort: roster.SortName, Name: "ada", ID: mid.ID}}, false, []string{matches, byRowid}},
		{"-name after", roster.ListQuery{Filter: selective, Sort: roster.SortNameDesc, Limit: 51, After: &roster.Cursor{Sort: roster.SortNameDesc, Name: "zz", ID: mid.ID}}, false, []string{matches, byRowid}},
		{"newest after, created range", roster.ListQuery{Filter: roster.UserFilter{Search: "12345", CreatedAfter: mid.CreatedAt.Add(-3600e9)}, Limit: 51, After: &roster.Cursor{Sort: roster.SortNewest, CreatedAt: mid.CreatedAt, ID: mid.ID}}, false, []string{matches, byRowid}},
		{"own email only", roster.ListQuery{Filter: roster.UserFilter{Search: "12345", SearchEmailOf: &self}, Limit: 51}, false, []string{matches, byRowid}},
		{"prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "ada 1234", Match: roster.MatchPrefix}, Limit: 51}, false, []string{matches, byRowid}},
		{"common prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "user", Match: roster.MatchPrefix}, Limit: 51}, false, []string{byTime, noIndex}},
		{"with an email", roster.ListQuery{Filter: roster.UserFilter{Search: "12345", Email: mid.Email}, Limit: 51}, false, []string{oneRow, noIndex}},
		{"common, newest", roster.ListQuery{Filter: common, Limit: 51}, false, []string{byTime, noIndex}},
		{"common, name", roster.ListQuery{Filter: common, Sort: roster.SortName, Limit: 51}, false, []string{byName, noIndex}},
		{"count", roster.ListQuery{Filter: selective}, true, []string{matches, byRowid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{rows: db.read}
			var err error
			if tt.count {
				if _, err = countUsers(t.Context(), sqlitedb.New(rec), tt.q.Filter); err == nil {
					err = errRecorded // the last query, run and recorded
				}
			} else {
				_, err = listUsers(t.Context(), sqlitedb.New(rec), tt.q)
			}
			if !errors.Is(err, errRecorded) {
				t.Fatalf("record the query: got error %v, want %v", err, errRecorded)
			}
			plan := explain(t, db, rec.sql, rec.args)
			t.Logf("plan:\n%s", plan)
			for _, w := range tt.want {
				if absent, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(plan, absent) {
						t.Errorf("got a plan with %q, want none", absent)
					}
				} else if !strings.Contains(plan, w) {
					t.Errorf("got a plan without %q, want it", w)
				}
			}
			if slices.Contains(tt.want, matches) && regexp.MustCompile(`SCAN users($|\n| USING)`).MatchString(plan) {
				t.Errorf("got a plan that scans users, want one that reads the matches only")
			}
			if slices.Contains(tt.want, noIndex) && strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("got a plan that sorts, want one that walks the index in order")
			}
		})
	}
}

// TestListPlans checks with EXPLAIN QUERY PLAN that every list query
// walks the index of its order, without sorting, and that after a cursor
// it searches that index from the cursor's full position, (time or name,
// id), on: a deep page costs what the first one does, however many rows
// tie on the time or name. Run with -v to see the plans.
func TestListPlans(t *testing.T) {
	db := mustOpenMigrated(t)
	mustSeed(t, db, 20_000)
	mid := storetest.BenchUser(10_000)
	after := func(sort roster.Sort) *roster.Cursor {
		return &roster.Cursor{Sort: sort, CreatedAt: mid.CreatedAt, Name: roster.NameKey(mid.Name), ID: mid.ID}
	}
	const (
		byTime    = "SCAN users USING INDEX users_created_at_id_idx"
		byName    = "SCAN users USING INDEX users_name_lower_id_idx"
		timeBound = "SEARCH users USING INDEX users_created_at_id_idx ((created_at,id)"
		nameBound = "SEARCH users USING INDEX users_name_lower_id_idx ((name_lower,id)"
	)
	// A prefix too short for the trigram index (TestSearchPlans has the
	// longer ones) filters the walk of the order's index.
	filter := roster.UserFilter{Search: "zo", CreatedAfter: mid.CreatedAt}
	tests := []struct {
		name string
		q    roster.ListQuery
		want string
	}{
		{"short search, a prefix", roster.ListQuery{Filter: roster.UserFilter{Search: "zo"}, Sort: roster.SortName, Limit: 51}, byName},
		{"newest", roster.ListQuery{Limit: 51}, byTime},
		{"newest after", roster.ListQuery{Limit: 51, After: after(roster.SortNewest)}, timeBound + "<(?,?))"},
		{"oldest", roster.ListQuery{Sort: roster.SortOldest, Limit: 51}, byTime},
		{"oldest after", roster.ListQuery{Sort: roster.SortOldest, Limit: 51, After: after(roster.SortOldest)}, timeBound + ">(?,?))"},
		{"name", roster.ListQuery{Sort: roster.SortName, Limit: 51}, byName},
		{"name after", roster.ListQuery{Sort: roster.SortName, Limit: 51, After: after(roster.SortName)}, nameBound + ">(?,?))"},
		{"-name", roster.ListQuery{Sort: roster.SortNameDesc, Limit: 51}, byName},
		{"-name after", roster.ListQuery{Sort: roster.SortNameDesc, Limit: 51, After: after(roster.SortNameDesc)}, nameBound + "<(?,?))"},
		{"filtered, newest after", roster.ListQuery{Filter: filter, Limit: 51, After: after(roster.SortNewest)}, timeBound + "<(?,?))"},
		{"email", roster.ListQuery{Filter: roster.UserFilter{Email: mid.Email}, Sort: roster.SortName, Limit: 51, After: after(roster.SortName)},
			"SEARCH users USING INDEX users_email_lower_key (<expr>=?)"},
		{"filtered, name after", roster.ListQuery{Filter: filter, Sort: roster.SortName, Limit: 51, After: after(roster.SortName)}, nameBound + ">(?,?))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if _, err := listUsers(t.Context(), sqlitedb.New(rec), tt.q); !errors.Is(err, errRecorded) {
				t.Fatalf("record the query: got error %v, want %v", err, errRecorded)
			}
			plan := explain(t, db, rec.sql, rec.args)
			t.Logf("plan:\n%s", plan)
			if !strings.Contains(plan, tt.want) {
				t.Errorf("got a plan without %q, want it", tt.want)
			}
			if strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("got a plan that sorts, want one that walks the index in order")
			}
		})
	}
}

func explain(t *testing.T, db *DB, query string, args []any) string {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	return strings.Join(lines, "\n")
}

var errRecorded = errors.New("recorded, not run")

// recorder is a sqlitedb.DBTX that records the query it is given instead
// of running it.
type recorder struct {
	sql  string
	args []any
	rows *sql.DB // runs QueryRowContext's queries
}

func (r *recorder) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	r.sql, r.args = query, args
	return nil, errRecorded
}

func (r *recorder) PrepareContext(_ context.Context, query string) (*sql.Stmt, error) {
	r.sql = query
	return nil, errRecorded
}

func (r *recorder) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	r.sql, r.args = query, args
	return nil, errRecorded
}

// QueryRowContext records the query and runs it on r.rows: the store
// asks the trigram index how many rows match before it chooses a list
// query.
func (r *recorder) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if r.rows == nil {
		panic("recorder: QueryRowContext cannot fail without a database")
	}
	r.sql, r.args = query, args
	return r.rows.QueryRowContext(ctx, query, args...)
}

// TestEventPlans checks that EventsAfter reads a range of the primary key
// (the rowid) in order and PurgeEvents the index on at.
func TestEventPlans(t *testing.T) {
	db := mustOpenMigrated(t)
	tests := []struct {
		name string
		run  func(q *sqlitedb.Queries) error
		want []string
	}{
		{"events after", func(q *sqlitedb.Queries) error {
			_, err := q.EventsAfter(t.Context(), sqlitedb.EventsAfterParams{After: 10, Limit: 500})
			return err
		}, []string{"SEARCH events USING INTEGER PRIMARY KEY (rowid>?)"}},
		{"purge events", func(q *sqlitedb.Queries) error {
			_, err := q.PurgeEvents(t.Context(), 0)
			return err
		}, []string{"events_at_idx (at<?)", "SEARCH newest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if err := tt.run(sqlitedb.New(rec)); !errors.Is(err, errRecorded) {
				t.Fatalf("record the query: got error %v, want %v", err, errRecorded)
			}
			plan := explain(t, db, rec.sql, rec.args)
			t.Logf("plan:\n%s", plan)
			for _, w := range tt.want {
				if !strings.Contains(plan, w) {
					t.Errorf("got a plan without %q, want it", w)
				}
			}
			if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN ") {
				t.Errorf("got a plan that sorts or scans a table, want index searches only")
			}
		})
	}
}
