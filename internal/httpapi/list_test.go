//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// nextLink returns the target of the Link header's rel="next", if any.
func nextLink(t *testing.T, header string) string {
	t.Helper()
	m := regexp.MustCompile(`<([^>]+)>; rel="next"`).FindStringSubmatch(header)
	if m == nil {
		return ""
	}
	return m[1]
}

func decodeUsers(t *testing.T, body []byte) []roster.User {
	t.Helper()
	var users []roster.User
	if err := json.Unmarshal(body, &users); err != nil {
		t.Fatalf("decode users from %q: %v", body, err)
	}
	return users
}

func names(users []roster.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Name)
	}
	return out
}

func TestListFiltersAndSorts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		// Created in this order, so newest first is the reverse.
		for _, n := range []string{"bob", "Alice", "carol", "alfred", "Dave"} {
			h.createUser(n, strings.ToLower(n)+"@example.com") // the harness clock: distinct created_at; ties are covered by the store suite
		}
		mid := h.createUser("zed", "zed@corp.example")
		all := h.do(request{method: "GET", path: "/api/users?sort=created_at", token: h.admin})
		created := decodeUsers(t, all.Body.Bytes())

		tests := []struct {
			query string
			want  []string
		}{
			{"", []string{"zed", "Dave", "alfred", "carol", "Alice", "bob"}},
			{"?sort=-created_at", []string{"zed", "Dave", "alfred", "carol", "Alice", "bob"}},
			{"?sort=created_at", []string{"bob", "Alice", "carol", "alfred", "Dave", "zed"}},
			{"?sort=name", []string{"alfred", "Alice", "bob", "carol", "Dave", "zed"}},
			{"?sort=-name", []string{"zed", "Dave", "carol", "bob", "Alice", "alfred"}},
			{"?email=ALICE@example.com", []string{"Alice"}},
			{"?email=alice@example", nil},
			{"?q=AL&sort=name", []string{"alfred", "Alice"}},
			{"?q=zed%40corp", []string{"zed"}},
			{"?q=%25", nil}, // LIKE wildcards are literal
			{"?q=_", nil},
			// From three characters on, q is found anywhere in the name or
			// the email, in any case; match=prefix asks for the start only.
			{"?q=LIC", []string{"Alice"}},
			{"?q=ORP.EX", []string{"zed"}},
			{"?q=example.com&sort=name", []string{"alfred", "Alice", "bob", "carol", "Dave"}},
			{"?q=lic&match=prefix", nil},
			{"?q=ALI&match=prefix", []string{"Alice"}},
			{"?q=ali&match=contains", []string{"Alice"}},
			{"?q=ar", nil}, // two characters: at the start only, and carol has it inside
			{"?q=%25%25%25", nil},
			{"?created_after=" + url.QueryEscape(created[2].CreatedAt.Format(time.RFC3339Nano)) + "&sort=created_at", []string{"alfred", "Dave", "zed"}},
			{"?created_before=" + url.QueryEscape(created[2].CreatedAt.Format(time.RFC3339Nano)) + "&sort=created_at", []string{"bob", "Alice"}},
			{"?created_after=" + url.QueryEscape(created[0].CreatedAt.Format(time.RFC3339Nano)) + "&created_before=" + url.QueryEscape(mid.CreatedAt.Format(time.RFC3339Nano)) + "&sort=name", []string{"alfred", "Alice", "carol", "Dave"}},
		}
		for _, tt := range tests {
			rec := h.do(request{method: "GET", path: "/api/users" + tt.query, token: h.admin})
			if rec.Code != 200 {
				t.Errorf("%s: got %d %s", tt.query, rec.Code, rec.Body)
				continue
			}
			if got := names(decodeUsers(t, rec.Body.Bytes())); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
			}
		}

		rec := h.do(request{method: "GET", path: "/api/users?q=a&count=exact&per_page=1", token: h.admin})
		if got := rec.Header().Get("X-Total-Count"); got != "2" || len(decodeUsers(t, rec.Body.Bytes())) != 1 {
			t.Errorf("q=a&count=exact&per_page=1: X-Total-Count %q, want 2 (Alice, alfred) with one user in the page", got)
		}
		if rec := h.do(request{method: "GET", path: "/api/users", token: h.admin}); rec.Header().Get("X-Total-Count") != "" {
			t.Errorf("X-Total-Count without count=exact")
		}
	})
}

// Keyset pages walk the whole list in every order with no gap and no
// repeat, and links keep the filters.
func TestKeysetPagination(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for i := range 11 {
			h.createUser(fmt.Sprintf("user %02d", i%4), fmt.Sprintf("u%02d@example.com", i))
		}
		h.createUser("other", "other@elsewhere.example")
		for _, sort := range []string{"-created_at", "created_at", "name", "-name"} {
			want := names(decodeUsers(t, h.do(request{method: "GET", path: "/api/users?per_page=100&q=u&sort=" + sort, token: h.admin}).Body.Bytes()))
			var got []string
			path := "/api/users?limit=3&q=u&sort=" + sort
			for pages := 0; path != ""; pages++ {
				if pages > 10 {
					t.Fatalf("%s: no end to the pages", sort)
				}
				rec := h.do(request{method: "GET", path: path, token: h.admin})
				if rec.Code != 200 {
					t.Fatalf("%s: %s: got %d %s", sort, path, rec.Code, rec.Body)
				}
				page := decodeUsers(t, rec.Body.Bytes())
				got = append(got, names(page)...)
				path = nextLink(t, rec.Header().Get("Link"))
				if path != "" && (!strings.Contains(path, "q=u") || !strings.Contains(path, "sort=") || len(page) != 3) {
					t.Errorf("%s: next link %q after a page of %d", sort, path, len(page))
				}
			}
			if len(want) != 11 || !slices.Equal(got, want) {
				t.Errorf("sort %s: keyset walk gave %v, offset listing %v", sort, got, want)
			}
		}

		rec := h.do(request{method: "GET", path: "/api/users?limit=2", token: h.admin})
		next := nextLink(t, rec.Header().Get("Link"))
		cursor, _ := url.ParseQuery(next[strings.Index(next, "?")+1:])
		c := cursor.Get("cursor")
		bad := []string{
			"/api/users?cursor=" + url.QueryEscape(flipChar(c, len(c)-2)), // signature changed
			"/api/users?cursor=" + url.QueryEscape(flipChar(c, 0)),        // body changed
			"/api/users?cursor=garbage",
			"/api/users?cursor=" + url.QueryEscape(c) + "&sort=name", // another order
			"/api/users?cursor=" + url.QueryEscape(c) + "&page=2",    // mixed modes
		}
		for _, path := range bad {
			env := checkError(t, h.do(request{method: "GET", path: path, token: h.admin}), http.StatusBadRequest, "BAD_REQUEST")
			if len(env.Error.Details) == 0 {
				t.Errorf("%s: no details", path)
			}
		}
		// A cursor from another server (another key) is refused too.
		other := newHarness(t, sqliteStore(t))
		checkError(t, other.do(request{method: "GET", path: next, token: other.admin}), http.StatusBadRequest, "BAD_REQUEST")
	})
}

func TestListParameterErrors(t *testing.T) {
	h := newHarness(t, sqliteStore(t))
	tests := []struct {
		query  string
		fields []string
	}{
		{"?sort=email", []string{"sort"}},
		{"?count=estimate", []string{"count"}},
		{"?created_after=yesterday", []string{"created_after"}},
		{"?limit=0", []string{"limit"}},
		{"?limit=x&page=2", []string{"cursor", "limit"}},
		{"?foo=1&bar=2", []string{"bar", "foo"}},
		{"?email=a@x.io&email=b@x.io", []string{"email"}},
		{"?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z", []string{"created_before"}},
		// Offsets that overflow: (page-1)*100 wrapped to 84, a wrong page
		// answered 200, or to a negative "page must be at least 1".
		{"?page=184467440737095518&per_page=100", []string{"page"}},
		{"?page=9223372036854775807", []string{"page"}},
		{"?page=2147483648", []string{"page"}},
		{"?q=" + strings.Repeat("a", roster.MaxSearchLength+1), []string{"q"}},
		{"?q=" + strings.Repeat("%C3%A9", roster.MaxSearchLength+1) + "&match=exact", []string{"match", "q"}},
		{"?q=a%00b", []string{"q"}},
		{"?q=%FF%FE%FD", []string{"q"}},
		{"?match=Prefix", []string{"match"}},
		{"?q=ada&match=prefix&match=contains", []string{"match"}},
	}
	for _, tt := range tests {
		env := checkError(t, h.do(request{method: "GET", path: "/api/users" + tt.query, token: h.admin}), http.StatusBadRequest, "BAD_REQUEST")
		var got []string
		for _, d := range env.Error.Details {
			got = append(got, d.Field)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%s: got fields %v, want %v", tt.query, got, tt.fields)
		}
	}
}

// q is capped at roster.MaxSearchLength characters, not bytes, matches in
// any case beyond ASCII on both engines alike, and the export takes q and
// match as the list does.
func TestSearchParameter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) { testSearchParameter(t, h) })
}

func testSearchParameter(t *testing.T, h *harness) {
	h.createUser(strings.Repeat("é", 50)+"x", "long@example.com")
	for _, tt := range []struct {
		path string
		want int // users
	}{
		{"/api/users?q=" + strings.Repeat("%C3%A9", roster.MaxSearchLength), 0},
		{"/api/users?q=" + strings.Repeat("%C3%89", 50), 1},
		{"/api/users?q=%C3%A9%C3%A9X&match=contains", 1},
		{"/api/users?q=%C3%89%C3%89X", 1}, // ÉÉX: any case, beyond ASCII
		{"/api/users?q=%C3%A9%C3%A9Y", 0},
		{"/api/users?q=eex", 0}, // accents count
		{"/api/users?q=%C3%A9%C3%A9X&match=prefix", 0},
		{"/api/users/export?q=%C3%A9%C3%A9X", 1},
		{"/api/users/export?q=%C3%A9%C3%A9X&match=prefix", 0},
	} {
		rec := h.do(request{method: "GET", path: tt.path, token: h.admin})
		if rec.Code != http.StatusOK {
			t.Errorf("%s: got %d %s, want 200", tt.path, rec.Code, rec.Body)
			continue
		}
		n := strings.Count(rec.Body.String(), `"long@example.com"`)
		if n != tt.want {
			t.Errorf("%s: got %d users, want %d", tt.path, n, tt.want)
		}
	}
	env := checkError(t, h.do(request{method: "GET", path: "/api/users/export?match=any", token: h.admin}), http.StatusBadRequest, "BAD_REQUEST")
	if len(env.Error.Details) != 1 || env.Error.Details[0].Field != "match" {
		t.Errorf("export ?match=any: got details %+v, want one for match", env.Error.Details)
	}
}

// flipChar changes the character at i of a base64 string to another one.
// (The second-to-last character of unpadded base64 carries only data
// bits; the last may carry unused ones, whose change decodes the same.)
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == c {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
