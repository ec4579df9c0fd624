package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// mustSeed copies storetest.BenchUser(0) to BenchUser(n-1) into db and
// vacuums and analyzes the table: the planner knows its size, and reads
// meet the settled table a long-lived database has.
func mustSeed(tb testing.TB, db *DB, n int) {
	tb.Helper()
	cols := []string{"id", "name", "name_lower", "email", "created_at", "updated_at"}
	_, err := db.pool.CopyFrom(tb.Context(), pgx.Identifier{"users"}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		u := storetest.BenchUser(i)
		return []any{u.ID, u.Name, roster.NameKey(u.Name), u.Email, u.CreatedAt, u.UpdatedAt}, nil
	}))
	if err != nil {
		tb.Fatalf("seed %d users: %v", n, err)
	}
	// The checkpoint writes the new pages now rather than while a
	// benchmark runs.
	for _, stmt := range []string{"VACUUM ANALYZE users", "CHECKPOINT"} {
		if _, err := db.pool.Exec(tb.Context(), stmt); err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
}
