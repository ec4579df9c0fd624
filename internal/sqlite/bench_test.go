package sqlite

import (
	"testing"

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
	db := mustOpenMigrated(b)
	mustSeed(b, db, storetest.BenchUsers)
	return db
}

func BenchmarkCreateParallel(b *testing.B) {
	storetest.BenchCreateParallel(b, mustOpenMigrated(b), 8)
}

func BenchmarkExport(b *testing.B) { storetest.BenchExport(b, mustSeeded(b)) }

func BenchmarkImport(b *testing.B) {
	storetest.BenchImport(b, func(b *testing.B) roster.UserStore { return mustOpenMigrated(b) })
}
