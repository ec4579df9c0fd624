package postgres

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
)

// The import's COPY and merge statements are built from importColumns:
// a users column missing from it would be left out of every imported row
// (its default or null), and importValues must fill exactly its columns.
func TestImportColumns(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	rows, err := db.pool.Query(t.Context(), `SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'users' ORDER BY column_name`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(usersCopy)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("users has columns %v; the import writes %v", got, want)
	}

	// Writing past them would panic.
	sentinel := new(int)
	vals := make([]any, len(importColumns))
	for i := range vals {
		vals[i] = sentinel
	}
	importValues(roster.User{ID: uuid.New(), Name: "Ada", Email: "ada@example.com"}, vals)
	for i, c := range importColumns {
		if vals[i] == sentinel {
			t.Errorf("importValues left column %s unset", c.name)
		}
	}
}
