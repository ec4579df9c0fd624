package bulk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/rosterhq/roster/internal/bulk/bulktest"
	"github.com/rosterhq/roster/internal/roster"
)

// BenchmarkReader parses 10,000 rows in each format, without HTTP or a
// store: the parsing share of BenchmarkImport in internal/httpapi.
//
//	go test -run '^$' -bench . -benchmem ./internal/bulk
func BenchmarkReader(b *testing.B) {
	const rows = 10000
	ndjson, csv, array := bulktest.Bodies(rows)
	for _, f := range []struct {
		format Format
		body   []byte
	}{{NDJSON, ndjson}, {CSV, csv}, {JSONArray, array}} {
		b.Run(string(f.format), func(b *testing.B) {
			b.SetBytes(int64(len(f.body)))
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(f.body), f.format)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					rec, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil || rec.Err != nil {
						b.Fatalf("row %d: %v %v", n+1, err, rec.Err)
					}
					n++
				}
				if n != rows {
					b.Fatalf("got %d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkWriter writes 10,000 users in each export format to memory.
func BenchmarkWriter(b *testing.B) {
	users := make([]roster.User, 10000)
	for i := range users {
		users[i] = exportUser(fmt.Sprint("User ", i), fmt.Sprintf("user%d@example.com", i), bulktest.Times[0], bulktest.Times[0])
	}
	for _, f := range []Format{NDJSON, CSV} {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				w, _ := NewWriter(io.Discard, f)
				for _, u := range users {
					if err := w.Write(u); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(users))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
