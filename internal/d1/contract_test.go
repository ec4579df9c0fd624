//go:build js && wasm

package d1

import (
	"fmt"
	"syscall/js"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// contractBinding is the global through which the contract's test Worker
// (edge/contract.mjs) hands this test its D1 binding.
const contractBinding = "rosterContractDB"

// TestContract runs the store contract against D1. The binding exists
// only inside workerd, during a request: cmd/roster-edge's TestD1Contract
// builds this package's test binary and runs it in the test Worker, which
// sets the binding, a fresh database, as a global. Anywhere else (the unit
// tests under Node) there is no binding and it is skipped.
func TestContract(t *testing.T) {
	binding := js.Global().Get(contractBinding)
	if binding.IsUndefined() {
		t.Skip("no D1 binding: cmd/roster-edge's TestD1Contract runs this in workerd")
	}
	storetest.RunLacking(t, func(t *testing.T) roster.UserStore { return mustOpenEmpty(t, binding) }, map[storetest.Feature]string{
		storetest.Listen: "isolates share no memory and D1 announces no commits: the edge build serves no change feed (GET /api/events answers 501)",
		storetest.Import: "the edge build serves no import (501): D1 has no interactive transaction to hold an import's batches",
		storetest.Export: "the edge build serves no export (501): D1 has no snapshot to read across pages",
		storetest.Trace:  "the edge build does not trace: its events keep no write span (their trace_parent is NULL)",
	})
}

// mustOpenEmpty returns a store on binding, migrated, with every table
// emptied. One binding is one database, so each case deletes what the
// cases before it wrote instead of starting from a new database: every
// table of the schema but goose's versions, SQLite's and D1's own (sqlite_,
// _cf_) and the shadow tables of a virtual table, which the triggers on
// users keep in step (the search index: deleting its shadow rows directly
// would corrupt it).
func mustOpenEmpty(t *testing.T, binding js.Value) *DB {
	t.Helper()
	db, err := Open(binding)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := db.all(t.Context(), stmt{sql: `SELECT name FROM sqlite_master AS t
WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'
  AND name <> 'goose_db_version' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name NOT LIKE '!_cf!_%' ESCAPE '!'
  AND NOT EXISTS (SELECT 1 FROM sqlite_master AS v
                  WHERE v.type = 'table' AND v.sql LIKE 'CREATE VIRTUAL TABLE%' AND t.name LIKE v.name || '!_%' ESCAPE '!')`})
	if err != nil {
		t.Fatalf("list the tables: %v", err)
	}
	var deletes []stmt
	for _, row := range tables {
		deletes = append(deletes, stmt{sql: fmt.Sprintf(`DELETE FROM "%s"`, row.Get("name").String())})
	}
	if len(deletes) == 0 {
		t.Fatal("the migrated database has no tables")
	}
	if _, err := db.batch(t.Context(), deletes...); err != nil {
		t.Fatalf("empty the tables: %v", err)
	}
	return db
}
