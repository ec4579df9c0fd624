package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// A search limited to one user's email (roster.UserFilter.SearchEmailOf)
// matches every name but only that user's email, anywhere in it or at
// its start: no one learns, a few letters at a time, whose address
// exists.
func testListSearchEmailOf(t *testing.T, s roster.UserStore) {
	all := listFixture(t, s)
	bob := only(all, "Bob")[0].ID
	nobody := uuid.Nil
	tests := []struct {
		name   string
		filter roster.UserFilter
		want   []string
	}{
		{"others' emails, inside", roster.UserFilter{Search: "hopper", SearchEmailOf: &bob}, nil},
		{"others' domains", roster.UserFilter{Search: "example.fr", SearchEmailOf: &bob}, nil},
		{"own email, inside", roster.UserFilter{Search: "b@example.c", SearchEmailOf: &bob}, []string{"Bob"}},
		{"own domain, not others'", roster.UserFilter{Search: "example.com", SearchEmailOf: &bob}, []string{"Bob"}},
		{"names inside", roster.UserFilter{Search: "ace", SearchEmailOf: &bob}, []string{"Grace"}},
		{"names, not emails", roster.UserFilter{Search: "lovelace", SearchEmailOf: &bob}, nil},
		{"own email, prefix", roster.UserFilter{Search: "bob@", Match: roster.MatchPrefix, SearchEmailOf: &bob}, []string{"Bob"}},
		{"others' emails, prefix", roster.UserFilter{Search: "lovelace", Match: roster.MatchPrefix, SearchEmailOf: &bob}, nil},
		{"others' emails, short", roster.UserFilter{Search: "lo", SearchEmailOf: &bob}, nil},
		{"no one's email", roster.UserFilter{Search: "b@example.c", SearchEmailOf: &nobody}, nil},
		{"no one's email, names still", roster.UserFilter{Search: "ada", SearchEmailOf: &nobody}, []string{"Ada", "ada", "ADA", "adam"}},
		{"email filter and own email", roster.UserFilter{Email: "bob@example.com", Search: "example", SearchEmailOf: &bob}, []string{"Bob"}},
		{"email filter and others' email", roster.UserFilter{Email: "ada@example.com", Search: "example", SearchEmailOf: &bob}, nil},
		{"email filter and a name", roster.UserFilter{Email: "ada@example.com", Search: "ada", SearchEmailOf: &bob}, []string{"Ada"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := only(all, tt.want...)
			for _, sort := range roster.Sorts {
				got := mustList(t, s, roster.ListQuery{Filter: tt.filter, Sort: sort, Limit: 100})
				checkUsers(t, "ListUsers "+string(sort), got, sorted(want, sort))
			}
			if n, err := s.CountUsers(t.Context(), tt.filter); err != nil || n != int64(len(want)) {
				t.Errorf("CountUsers: got %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

// The search index follows every write: creates, updates of the name or
// the email and deletes (imports: testSearchFollowsImports).
func testSearchFollowsWrites(t *testing.T, s roster.UserStore) {
	found := func(t *testing.T, search string, want ...roster.User) {
		t.Helper()
		got := mustList(t, s, roster.ListQuery{Filter: roster.UserFilter{Search: search}, Limit: 10})
		checkUsers(t, "search "+search, got, want)
	}
	u := mustCreate(t, s, newUser(t, "Katherine Johnson", "kj@nasa.example", base))
	found(t, "therine", u)

	name := "Dorothy Vaughan"
	u, err := s.UpdateUser(t.Context(), u.ID, roster.UserUpdate{Name: &name}, base.Add(time.Second))
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	found(t, "therine")
	found(t, "rothy", u)
	found(t, "nasa", u) // the email, unchanged

	email := "dv@langley.example"
	if u, err = s.UpdateUser(t.Context(), u.ID, roster.UserUpdate{Email: &email}, base.Add(2*time.Second)); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	found(t, "nasa")
	found(t, "langley", u)
	found(t, "rothy", u) // the name, unchanged

	if err := s.DeleteUser(t.Context(), u.ID, nil, time.Now()); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	found(t, "rothy")
	found(t, "langley")
}

// The search index follows an import's inserts and updates.
func testSearchFollowsImports(t *testing.T, s roster.UserStore) {
	at := base.Add(time.Hour)
	old := mustCreate(t, s, newUser(t, "Mary Jackson", "mj@nasa.example", base))
	run := runImport(t, s, roster.ImportOptions{OnConflict: roster.ConflictUpdate, At: at}, 0,
		importRows(t, 1, at, [2]string{"Mary Winston Jackson", "mj@nasa.example"}, [2]string{"Annie Easley", "ae@nasa.example"}))
	if run.err != nil {
		t.Fatalf("import: %v", run.err)
	}
	got := mustList(t, s, roster.ListQuery{Filter: roster.UserFilter{Search: "winston"}, Limit: 10})
	if len(got) != 1 || got[0].ID != old.ID {
		t.Errorf("search winston after an import renamed the user: got %q, want Mary Winston Jackson", names(got))
	}
	if got := mustList(t, s, roster.ListQuery{Filter: roster.UserFilter{Search: "easley"}, Limit: 10}); len(got) != 1 {
		t.Errorf("search easley after an import created the user: got %q, want Annie Easley", names(got))
	}
}
