package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// listFixture creates users for the list tests and returns them. Names
// tie case-insensitively (Ada, ada, ADA) and creation times tie, so only
// the id can order some of them; some names have capitals outside ASCII
// or hold LIKE's metacharacters; one email is stored in mixed case.
func listFixture(t *testing.T, s roster.UserStore) []roster.User {
	t.Helper()
	users := []struct {
		name, email string
		at          time.Duration // after base
	}{
		{"Ada", "ada@example.com", 0},
		{"ada", "ada.b@example.org", 0},
		{"ADA", "lovelace@example.com", time.Second},
		{"Bob", "bob@example.com", time.Second},
		{"Émile", "emile@example.fr", 2 * time.Second},
		{"émilie", "emilie@example.fr", 3 * time.Second},
		{"Zoë", "zoe@example.com", 4 * time.Second},
		{"50% Off", "percent@example.com", 5 * time.Second},
		{"a_b", "underscore@example.com", 6 * time.Second},
		{`back\slash`, "backslash@example.com", 7 * time.Second},
		{"Grace", "Grace.Hopper@Example.COM", -time.Hour},
		{"adam", "adam@example.net", 8 * time.Second},
		// ASCII-only case folding would order Ölaf before émile.
		{"Ölaf", "olaf@example.no", 9 * time.Second},
	}
	var out []roster.User
	for _, u := range users {
		out = append(out, mustCreate(t, s, newUser(t, u.name, u.email, base.Add(u.at))))
	}
	return out
}

// only returns the users of all with the given names, in all's order.
func only(all []roster.User, names ...string) []roster.User {
	var out []roster.User
	for _, u := range all {
		if slices.Contains(names, u.Name) {
			out = append(out, u)
		}
	}
	return out
}

func sorted(users []roster.User, sort roster.Sort) []roster.User {
	users = slices.Clone(users)
	slices.SortFunc(users, compareUsers(sort))
	return users
}

func mustList(t *testing.T, s roster.UserStore, q roster.ListQuery) []roster.User {
	t.Helper()
	got, err := s.ListUsers(t.Context(), q)
	if err != nil {
		t.Fatalf("ListUsers %+v: got error %v, want nil", q, err)
	}
	return got
}

func testListEmpty(t *testing.T, s roster.UserStore) {
	for _, sort := range roster.Sorts {
		got := mustList(t, s, roster.ListQuery{Sort: sort, Limit: 10})
		checkUsers(t, "ListUsers "+string(sort), got, nil)
	}
	checkCount(t, s, 0)
}

// Each filter selects the same users in every order, and CountUsers
// counts them.
func testListFilters(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	allNames := names(all)
	tests := []struct {
		name   string
		filter roster.UserFilter
		want   []string
	}{
		{"none", roster.UserFilter{}, allNames},
		{"email", roster.UserFilter{Email: "bob@example.com"}, []string{"Bob"}},
		{"email stored in mixed case", roster.UserFilter{Email: "grace.hopper@example.com"}, []string{"Grace"}},
		{"email is exact, not a prefix", roster.UserFilter{Email: "ada@example"}, nil},
		{"prefix of names, any case", roster.UserFilter{Search: "ad"}, []string{"Ada", "ada", "ADA", "adam"}},
		{"prefix of an email only", roster.UserFilter{Search: "lovelace"}, []string{"ADA"}},
		{"prefix of a name or an email", roster.UserFilter{Search: "b"}, []string{"Bob", `back\slash`}},
		{"prefix not ASCII", roster.UserFilter{Search: "émil"}, []string{"Émile", "émilie"}},
		{"prefix of a capital not ASCII", roster.UserFilter{Search: "ö"}, []string{"Ölaf"}},
		{"prefix matching emails, not names", roster.UserFilter{Search: "emile"}, []string{"Émile"}},
		{"prefix whole name", roster.UserFilter{Search: "zoë"}, []string{"Zoë"}},
		{"prefix with a literal %", roster.UserFilter{Search: "50%"}, []string{"50% Off"}},
		{"percent is no wildcard", roster.UserFilter{Search: "5%"}, nil},
		{"underscore is no wildcard", roster.UserFilter{Search: "a_"}, []string{"a_b"}},
		{"backslash is literal", roster.UserFilter{Search: `back\`}, []string{`back\slash`}},
		{"prefix matching nothing", roster.UserFilter{Search: "zz"}, nil},
		{"prefix only", roster.UserFilter{Search: "lovelace", Match: roster.MatchPrefix}, []string{"ADA"}},
		{"prefix only, not inside", roster.UserFilter{Search: "ace", Match: roster.MatchPrefix}, nil},
		{"prefix only, not ASCII", roster.UserFilter{Search: "émil", Match: roster.MatchPrefix}, []string{"Émile", "émilie"}},
		{"prefix only, literal %", roster.UserFilter{Search: "50%", Match: roster.MatchPrefix}, []string{"50% Off"}},
		// From roster.MinContainsLength characters on, the search text is
		// found anywhere; shorter, it matches at the start (above).
		{"inside names and emails", roster.UserFilter{Search: "ace"}, []string{"ADA", "Grace"}},
		{"inside a name, stored in any case", roster.UserFilter{Search: "race"}, []string{"Grace"}},
		{"inside names not ASCII", roster.UserFilter{Search: "mil"}, []string{"Émile", "émilie"}},
		{"capital not ASCII stored", roster.UserFilter{Search: "émi"}, []string{"Émile", "émilie"}},
		{"accents are kept", roster.UserFilter{Search: "emil"}, []string{"Émile", "émilie"}}, // by their emails, not names
		{"inside a name, not ASCII", roster.UserFilter{Search: "laf"}, []string{"Ölaf"}},
		{"ending a name", roster.UserFilter{Search: "oë"}, nil}, // two characters: a prefix
		{"ending a name not ASCII", roster.UserFilter{Search: "zoë"}, []string{"Zoë"}},
		{"inside an email stored in mixed case", roster.UserFilter{Search: "hopper@ex"}, []string{"Grace"}},
		{"domain", roster.UserFilter{Search: "example.fr"}, []string{"Émile", "émilie"}},
		{"two characters match at the start only", roster.UserFilter{Search: "da"}, nil},
		{"one character at the start only", roster.UserFilter{Search: "%"}, nil},
		{"inside, a literal %", roster.UserFilter{Search: "0% o"}, []string{"50% Off"}},
		{"percent is no wildcard inside", roster.UserFilter{Search: "5%f"}, nil},
		{"percents are no wildcards", roster.UserFilter{Search: "%%%"}, nil},
		{"underscore is no wildcard inside", roster.UserFilter{Search: "a_b"}, []string{"a_b"}},
		{"underscores are no wildcards", roster.UserFilter{Search: "___"}, nil},
		{"backslash inside", roster.UserFilter{Search: `k\s`}, []string{`back\slash`}},
		{"metacharacters together", roster.UserFilter{Search: `%_\`}, nil},
		{"a double quote is text", roster.UserFilter{Search: `ada" OR "bob`}, nil},
		{"search syntax is text", roster.UserFilter{Search: "ada OR bob"}, nil},
		{"whole email", roster.UserFilter{Search: "bob@example.com"}, []string{"Bob"}},
		{"longer than any name", roster.UserFilter{Search: "ada@example.com and more"}, nil},
		{"search and time", roster.UserFilter{Search: "example.com", CreatedBefore: base.Add(time.Second)}, []string{"Ada", "Grace"}},
		{"email and search", roster.UserFilter{Email: "ada@example.com", Search: "a@e"}, []string{"Ada"}},
		{"email and search not matching it", roster.UserFilter{Email: "ada@example.com", Search: "lovelace"}, nil},
		{"created after, exclusive", roster.UserFilter{CreatedAfter: base.Add(time.Second)},
			[]string{"Émile", "émilie", "Zoë", "50% Off", "a_b", `back\slash`, "adam", "Ölaf"}},
		{"created before, exclusive", roster.UserFilter{CreatedBefore: base.Add(time.Second)}, []string{"Ada", "ada", "Grace"}},
		{"created between", roster.UserFilter{CreatedAfter: base, CreatedBefore: base.Add(3 * time.Second)}, []string{"ADA", "Bob", "Émile"}},
		{"bounds finer than microseconds", roster.UserFilter{
			CreatedAfter:  base.Add(time.Second - time.Nanosecond),
			CreatedBefore: base.Add(time.Second + time.Nanosecond),
		}, []string{"ADA", "Bob"}},
		{"prefix and time", roster.UserFilter{Search: "ad", CreatedAfter: base}, []string{"ADA", "adam"}},
		{"email and prefix", roster.UserFilter{Email: "ada@example.com", Search: "ad"}, []string{"Ada"}},
		{"email and time excluding it", roster.UserFilter{Email: "ada@example.com", CreatedAfter: base}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := only(all, tt.want...)
			if len(want) != len(tt.want) {
				t.Fatalf("bad test: %q names users outside the fixture", tt.want)
			}
			for _, sort := range roster.Sorts {
				got := mustList(t, s, roster.ListQuery{Filter: tt.filter, Sort: sort, Limit: 100})
				checkUsers(t, "ListUsers "+string(sort), got, sorted(want, sort))
			}
			n, err := s.CountUsers(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("CountUsers: got error %v, want nil", err)
			}
			if n != int64(len(want)) {
				t.Errorf("CountUsers: got %d, want %d", n, len(want))
			}
		})
	}
}

// Every order is total: ties on the time or the name are broken by id.
func testListSorts(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	for _, sort := range append(roster.Sorts, "") {
		t.Run(fmt.Sprintf("%q", sort), func(t *testing.T) {
			got := mustList(t, s, roster.ListQuery{Sort: sort, Limit: 100})
			checkUsers(t, "ListUsers", got, sorted(all, sort))
		})
	}
}

// Walking a list in pages of 3, each after the cursor of the previous
// page's last row, yields the whole list once, in order.
func testListKeysetWalk(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	filters := []struct {
		name   string
		filter roster.UserFilter
	}{
		{"all", roster.UserFilter{}},
		{"prefix", roster.UserFilter{Search: "a"}},
		{"search", roster.UserFilter{Search: "ada"}},
		{"search every email", roster.UserFilter{Search: "example"}},
		{"search, others' emails not", roster.UserFilter{Search: "example", SearchEmailOf: &uuid.Nil}},
		{"created after", roster.UserFilter{CreatedAfter: base.Add(-time.Second)}}, // 12 users: the last page is empty
	}
	for _, f := range filters {
		for _, sort := range roster.Sorts {
			t.Run(f.name+"/"+string(sort), func(t *testing.T) {
				want := mustList(t, s, roster.ListQuery{Filter: f.filter, Sort: sort, Limit: 100})
				if f.filter == (roster.UserFilter{}) {
					checkUsers(t, "ListUsers", want, sorted(all, sort))
				}
				const perPage = 3
				var got []roster.User
				var after *roster.Cursor
				for page := 0; page <= len(all); page++ {
					users := mustList(t, s, roster.ListQuery{Filter: f.filter, Sort: sort, Limit: perPage, After: after})
					got = append(got, users...)
					if len(users) < perPage {
						break
					}
					after = cursorAt(sort, users[len(users)-1])
				}
				checkUsers(t, "keyset walk", got, want)
			})
		}
	}
}

// A filter that selects one user keeps it on the page after every cursor
// before it in the order, and only there.
func testListOneUserAfterCursors(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	target := only(all, "Émile")[0]
	filters := []struct {
		name   string
		filter roster.UserFilter
	}{
		{"email", roster.UserFilter{Email: "emile@example.fr"}},
		{"prefix", roster.UserFilter{Search: "émile", Match: roster.MatchPrefix}},
		{"search", roster.UserFilter{Search: "mile@"}},
	}
	for _, sort := range roster.Sorts {
		order := sorted(all, sort)
		for _, f := range filters {
			t.Run(string(sort)+"/"+f.name, func(t *testing.T) {
				seen := false
				for _, u := range order {
					var want []roster.User
					if !seen && u.ID != target.ID {
						want = []roster.User{target}
					}
					seen = seen || u.ID == target.ID
					got := mustList(t, s, roster.ListQuery{Filter: f.filter, Sort: sort, Limit: 10, After: cursorAt(sort, u)})
					checkUsers(t, "ListUsers after "+u.Name, got, want)
				}
				got := mustList(t, s, roster.ListQuery{Filter: f.filter, Sort: sort, Limit: 10, Offset: 1})
				checkUsers(t, "ListUsers at offset 1", got, nil)
			})
		}
	}
}

func testListOffsetPages(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	for _, sort := range roster.Sorts {
		want := sorted(all, sort)
		tests := []struct {
			limit, offset int
			want          []roster.User
		}{
			{limit: 100, offset: 0, want: want},
			{limit: len(all), offset: 0, want: want},
			{limit: 3, offset: 0, want: want[:3]},
			{limit: 3, offset: 1, want: want[1:4]},
			{limit: 3, offset: 10, want: want[10:]},
			{limit: 3, offset: len(all), want: nil},
			{limit: 1, offset: 100, want: nil},
			{limit: 0, offset: 0, want: nil},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/limit=%d,offset=%d", sort, tt.limit, tt.offset), func(t *testing.T) {
				got := mustList(t, s, roster.ListQuery{Sort: sort, Limit: tt.limit, Offset: tt.offset})
				checkUsers(t, "ListUsers", got, tt.want)
			})
		}
	}
}

// The service rejects these before they reach the store; a store must not
// answer them with a wrong page either.
func testListRejectsInconsistentQuery(t *testing.T, s roster.UserStore) {
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	tests := []struct {
		name string
		q    roster.ListQuery
	}{
		{"cursor and offset", roster.ListQuery{Limit: 10, Offset: 1, After: cursorAt(roster.SortNewest, u)}},
		{"cursor of another order", roster.ListQuery{Sort: roster.SortName, Limit: 10, After: cursorAt(roster.SortNewest, u)}},
		{"unknown order", roster.ListQuery{Sort: "email", Limit: 10}},
		{"negative limit", roster.ListQuery{Limit: -1}},
		{"negative offset", roster.ListQuery{Limit: 10, Offset: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListUsers(t.Context(), tt.q)
			if err == nil {
				t.Fatalf("ListUsers: got %q and nil error, want an error", names(got))
			}
		})
	}
}
