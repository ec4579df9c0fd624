package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// benchImportRows is how many rows one BenchImport operation imports.
const benchImportRows = 100_000

// BenchImport measures the store's side of a partial import: batches of
// each size, the rows already valid (the service's work is not in it).
// Each size starts on a store of its own, and every operation imports
// benchImportRows new users, so the table grows from one operation to the
// next: compare sizes at the same -benchtime=Nx.
func BenchImport(b *testing.B, open func(b *testing.B) roster.UserStore) {
	for _, size := range []int{roster.ImportBatchSize, 5000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b)
			at := time.Now().UTC()
			rows := make([]roster.ImportRow, benchImportRows)
			op := 0
			for b.Loop() {
				b.StopTimer()
				for i := range rows {
					id, err := uuid.NewV7()
					if err != nil {
						b.Fatal(err)
					}
					n := op*benchImportRows + i
					rows[i] = roster.ImportRow{Line: int64(i + 1), User: roster.User{ID: id, Name: fmt.Sprintf("User %d", n),
						Email: fmt.Sprintf("b%d.user%d@example.com", size, n), CreatedAt: at, UpdatedAt: at}}
				}
				op++
				rest := rows
				next := func() ([]roster.ImportRow, bool, error) {
					batch := rest[:min(size, len(rest))]
					rest = rest[len(batch):]
					if len(batch) == 0 {
						return nil, true, nil
					}
					return batch, len(rest) == 0, nil
				}
				b.StartTimer()
				sum, err := roster.WriteImport(b.Context(), s, roster.ImportOptions{OnConflict: roster.ConflictFail, At: at}, next,
					func([]roster.ImportRow, []roster.ImportOutcome) {})
				if err != nil || sum.Inserted != benchImportRows {
					b.Fatalf("ImportUsers: got %+v, %v; want %d inserted", sum, err, benchImportRows)
				}
			}
			b.ReportMetric(float64(b.N*benchImportRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchExport measures the store's side of an export of a store seeded
// with BenchUsers users.
func BenchExport(b *testing.B, s roster.UserStore) {
	for b.Loop() {
		n := 0
		if err := s.ExportUsers(b.Context(), roster.UserFilter{}, func(roster.User) error { n++; return nil }); err != nil {
			b.Fatalf("ExportUsers: %v", err)
		}
		if n != BenchUsers {
			b.Fatalf("ExportUsers: got %d users, want %d", n, BenchUsers)
		}
	}
	b.ReportMetric(float64(b.N*BenchUsers)/b.Elapsed().Seconds(), "rows/s")
}
