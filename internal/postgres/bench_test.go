package postgres

import (
	"testing"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

func BenchmarkKeyset(b *testing.B) { storetest.BenchKeyset(b, mustSeeded(b)) }

func BenchmarkOffset(b *testing.B) { storetest.BenchOffset(b, mustSeeded(b)) }

func BenchmarkFilters(b *testing.B) { storetest.BenchFilters(b, mustSeeded(b)) }

// mustSeeded returns a new database holding storetest.BenchUsers users.
func mustSeeded(b *testing.B) *DB {
	if testing.Short() {
		b.Skipf("seeds %d users", storetest.BenchUsers)
	}
	db := mustOpenMigrated(b, pgtest.NewDatabase(b), Options{})
	mustSeed(b, db, storetest.BenchUsers)
	return db
}

// BenchmarkCreateParallel compares pgx's query execution modes: the
// default (statements prepared once per connection and cached) and the
// simple protocol (parameters interpolated by pgx, one Query message).
func BenchmarkCreateParallel(b *testing.B) {
	for _, mode := range []string{"cache_statement", "simple_protocol"} {
		b.Run(mode, func(b *testing.B) {
			url := pgtest.NewDatabase(b) + "&default_query_exec_mode=" + mode
			storetest.BenchCreateParallel(b, mustOpenMigrated(b, url, Options{}), 16)
		})
	}
}

func BenchmarkExport(b *testing.B) { storetest.BenchExport(b, mustSeeded(b)) }

func BenchmarkImport(b *testing.B) {
	storetest.BenchImport(b, func(b *testing.B) roster.UserStore { return mustOpenMigrated(b, pgtest.NewDatabase(b), Options{}) })
}
