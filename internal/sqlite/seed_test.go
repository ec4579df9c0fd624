package sqlite

import (
	"testing"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// mustSeed inserts storetest.BenchUser(0) to BenchUser(n-1) into db in one
// transaction and analyzes the table, so that the planner knows its size.
func mustSeed(tb testing.TB, db *DB, n int) {
	tb.Helper()
	ctx := tb.Context()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	defer tx.Rollback() // a no-op after Commit
	stmt, err := tx.PrepareContext(ctx,
		"INSERT INTO users (id, name, name_lower, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	defer stmt.Close()
	for i := range n {
		u := storetest.BenchUser(i)
		_, err := stmt.ExecContext(ctx, u.ID.String(), u.Name, roster.NameKey(u.Name), u.Email, u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro())
		if err != nil {
			tb.Fatalf("seed user %d: %v", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	// The checkpoint moves the new pages from the WAL into the database
	// now rather than while a benchmark runs.
	for _, stmt := range []string{"ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := db.write.ExecContext(ctx, stmt); err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
}
