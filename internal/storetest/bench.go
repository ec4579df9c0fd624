package storetest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// The list benchmarks run on BenchUsers users, which each engine seeds in
// bulk with BenchUser, in pages of BenchPerPage; the deep page is the
// last one.
const (
	BenchUsers   = 250_000
	BenchPerPage = 50
	benchDeep    = BenchUsers / BenchPerPage // page 5000
)

var benchNames = []string{"Ada", "Grace", "Émile", "Zoë", "alan", "Barbara", "Edsger", "Frances", "ken", "Margaret"}

// BenchUser returns the i-th seeded user. Users come in pairs created at
// the same second, so that the id breaks ties, and their names repeat
// case-insensitively. It is deterministic, so both engines hold the same
// users.
func BenchUser(i int) roster.User {
	at := benchBase.Add(time.Duration(i/2) * time.Second)
	return roster.User{
		ID:        uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(i))),
		Name:      fmt.Sprintf("%s %d", benchNames[i%len(benchNames)], i),
		Email:     fmt.Sprintf("user%d@example.com", i),
		CreatedAt: at,
		UpdatedAt: at,
	}
}

var benchBase = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchKeyset measures keyset pages 1 and 5000 of the newest-first and
// name orders over a store seeded with BenchUsers users: the deep page
// must cost about what the first one does.
func BenchKeyset(b *testing.B, s roster.UserStore) {
	for _, sort := range []roster.Sort{roster.SortNewest, roster.SortName} {
		// The cursor of page 5000 is the last row of page 4999.
		last := benchRow(b, s, sort, (benchDeep-1)*BenchPerPage-1)
		deep := roster.ListQuery{Sort: sort, Limit: BenchPerPage, After: cursorAt(sort, last)}
		checkSamePage(b, s, deep, roster.ListQuery{Sort: sort, Limit: BenchPerPage, Offset: (benchDeep - 1) * BenchPerPage})
		prefix := ""
		if sort != roster.SortNewest {
			prefix = "name/"
		}
		b.Run(prefix+"page1", func(b *testing.B) {
			benchList(b, s, roster.ListQuery{Sort: sort, Limit: BenchPerPage})
		})
		b.Run(prefix+"page5000", func(b *testing.B) { benchList(b, s, deep) })
	}
}

// BenchOffset measures offset pages 1 and 5000, newest first: the deep
// page must skip 249,950 rows.
func BenchOffset(b *testing.B, s roster.UserStore) {
	b.Run("page1", func(b *testing.B) {
		benchList(b, s, roster.ListQuery{Limit: BenchPerPage})
	})
	b.Run("page5000", func(b *testing.B) {
		benchList(b, s, roster.ListQuery{Limit: BenchPerPage, Offset: (benchDeep - 1) * BenchPerPage})
	})
}

func benchList(b *testing.B, s roster.UserStore, q roster.ListQuery) {
	for b.Loop() {
		users, err := s.ListUsers(b.Context(), q)
		if err != nil {
			b.Fatalf("ListUsers: %v", err)
		}
		if len(users) != BenchPerPage {
			b.Fatalf("ListUsers: got %d users, want %d", len(users), BenchPerPage)
		}
	}
}

// benchRow returns the row at offset i in sort's order.
func benchRow(b *testing.B, s roster.UserStore, sort roster.Sort, i int) roster.User {
	b.Helper()
	users, err := s.ListUsers(b.Context(), roster.ListQuery{Sort: sort, Limit: 1, Offset: i})
	if err != nil || len(users) != 1 {
		b.Fatalf("ListUsers at offset %d: got %d users and error %v, want 1 user (seeded %d?)", i, len(users), err, BenchUsers)
	}
	return users[0]
}

// checkSamePage checks that a keyset and an offset query select the same
// page, so that the benchmarks compare like with like.
func checkSamePage(b *testing.B, s roster.UserStore, keyset, offset roster.ListQuery) {
	b.Helper()
	k, err := s.ListUsers(b.Context(), keyset)
	if err != nil {
		b.Fatalf("ListUsers keyset: %v", err)
	}
	o, err := s.ListUsers(b.Context(), offset)
	if err != nil {
		b.Fatalf("ListUsers offset: %v", err)
	}
	if len(k) != BenchPerPage || len(k) != len(o) || k[0].ID != o[0].ID || k[len(k)-1].ID != o[len(o)-1].ID {
		b.Fatalf("keyset and offset pages differ: got %d and %d users", len(k), len(o))
	}
}

// BenchFilters measures the first page of filters, and counts, over a
// store seeded with BenchUsers users. The searches come in pairs, prefix
// and anywhere (contains), by how many users they match: one ("ada
// 125000", "125000"), a tenth ("ada": every Ada), all ("user" and
// "example", in every email).
func BenchFilters(b *testing.B, s roster.UserStore) {
	mid := BenchUser(BenchUsers / 2)
	prefix := func(text string) roster.UserFilter {
		return roster.UserFilter{Search: text, Match: roster.MatchPrefix}
	}
	contains := func(text string) roster.UserFilter { return roster.UserFilter{Search: text} }
	number := strings.TrimPrefix(mid.Email[:strings.IndexByte(mid.Email, '@')], "user")
	filters := []struct {
		name   string
		filter roster.UserFilter
	}{
		{"email", roster.UserFilter{Email: mid.Email}},
		{"prefix", prefix(strings.ToLower(mid.Name))},
		{"contains", contains(number)},
		{"prefix_tenth", prefix("ada")},
		{"contains_tenth", contains("ada")},
		{"prefix_all", prefix("user")},
		{"contains_all", contains("example")},
		{"created_day", roster.UserFilter{CreatedAfter: mid.CreatedAt, CreatedBefore: mid.CreatedAt.Add(24 * time.Hour)}},
	}
	for _, f := range filters {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListUsers(b.Context(), roster.ListQuery{Filter: f.filter, Limit: BenchPerPage}); err != nil {
					b.Fatalf("ListUsers: %v", err)
				}
			}
		})
	}
	for _, f := range append(filters, struct {
		name   string
		filter roster.UserFilter
	}{"all", roster.UserFilter{}}) {
		b.Run("count_"+f.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.CountUsers(b.Context(), f.filter); err != nil {
					b.Fatalf("CountUsers: %v", err)
				}
			}
		})
	}
}

// BenchCreateParallel measures CreateUser from writers goroutines at once,
// each create committing the user with its event: on SQLite the single
// writer serializes them; on PostgreSQL nothing does (the events wait in
// the outbox, unread here).
func BenchCreateParallel(b *testing.B, s roster.UserStore, writers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				at := benchBase.Add(time.Duration(i) * time.Millisecond)
				id, err := uuid.NewV7()
				if err == nil {
					_, _, err = s.CreateUser(b.Context(), roster.User{ID: id, Name: "Bench", Email: fmt.Sprintf("bench%d@example.com", i), CreatedAt: at, UpdatedAt: at}, nil)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
