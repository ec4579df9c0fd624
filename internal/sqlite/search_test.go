package sqlite

import (
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// Searches that more than sortMost users match walk an order's index and
// check each row; fewer are read through the trigram index. Both must
// find what the definition says: the text in the lower-cased name or
// email, at its start for a prefix search. The contract suite's few users
// take the index every time; these searches take each path.
func TestSearchPaths(t *testing.T) {
	const n = 2 * sortMost
	db := mustOpenMigrated(t)
	mustSeed(t, db, n)
	var all []roster.User
	for i := range n {
		all = append(all, storetest.BenchUser(i))
	}
	for _, tt := range []struct {
		f     roster.UserFilter
		index bool // through the trigram index
	}{
		{roster.UserFilter{Search: "example"}, false},                                 // every email
		{roster.UserFilter{Search: "1"}, false},                                       // too short for trigrams: a prefix
		{roster.UserFilter{Search: "ada"}, true},                                      // a tenth
		{roster.UserFilter{Search: "r12"}, true},                                      // emails user12…
		{roster.UserFilter{Search: "user", Match: roster.MatchPrefix}, false},         // every email
		{roster.UserFilter{Search: "ada 1", Match: roster.MatchPrefix}, true},         // then the start checked
		{roster.UserFilter{Search: "a 1", Match: roster.MatchPrefix}, true},           // inside some, at the start of none
		{roster.UserFilter{Search: "a 3", CreatedAfter: all[n/2].CreatedAt}, true},    // half of them later
		{roster.UserFilter{Search: "exam", CreatedAfter: all[n-30].CreatedAt}, false}, // a long walk to 15 users
	} {
		f := tt.f
		few, err := fewCandidates(t.Context(), db.rq, f)
		if err != nil || few != tt.index {
			t.Fatalf("%+v: got index %v, %v; want %v", f, few, err, tt.index)
		}
		var want []roster.User
		for _, u := range all {
			name, email := roster.NameKey(u.Name), strings.ToLower(u.Email)
			in := strings.Contains(name, f.Search) || strings.Contains(email, f.Search)
			if f.PrefixSearch() {
				in = strings.HasPrefix(name, f.Search) || strings.HasPrefix(email, f.Search)
			}
			if in && u.CreatedAt.After(f.CreatedAfter) {
				want = append(want, u)
			}
		}
		for _, sort := range roster.Sorts {
			slices.SortFunc(want, func(a, b roster.User) int { return compare(sort, a, b) })
			got, err := db.ListUsers(t.Context(), roster.ListQuery{Filter: f, Sort: sort, Limit: 20, Offset: 5})
			if err != nil {
				t.Fatal(err)
			}
			page := want[min(5, len(want)):min(25, len(want))]
			if !slices.EqualFunc(got, page, func(a, b roster.User) bool { return a.ID == b.ID }) {
				t.Errorf("%+v (index %v), %s: got %d users %.3q…, want %d %.3q…", f, few, sort, len(got), names(got), len(page), names(page))
			}
		}
		if c, err := db.CountUsers(t.Context(), f); err != nil || c != int64(len(want)) {
			t.Errorf("%+v (index %v): count %d, %v; want %d", f, few, c, err, len(want))
		}
	}
}

func names(users []roster.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.Name
	}
	return out
}

// compare orders a before b as sort does.
func compare(sort roster.Sort, a, b roster.User) int {
	var c int
	switch sort {
	case roster.SortNewest, roster.SortOldest:
		c = a.CreatedAt.Compare(b.CreatedAt)
	default:
		c = strings.Compare(roster.NameKey(a.Name), roster.NameKey(b.Name))
	}
	if c == 0 {
		c = strings.Compare(a.ID.String(), b.ID.String())
	}
	if sort == roster.SortNewest || sort == roster.SortNameDesc {
		c = -c
	}
	return c
}
