//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// rawUsers decodes a user or a list of users into field maps, so that an
// absent field and an empty one differ.
func rawUsers(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err == nil {
		return list
	}
	var one map[string]any
	if err := json.Unmarshal(body, &one); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return []map[string]any{one}
}

// emailOf returns the email a response shows for the user with id, and
// whether the field is there at all.
func emailOf(t *testing.T, body []byte, id string) (string, bool) {
	t.Helper()
	for _, u := range rawUsers(t, body) {
		if u["id"] == id {
			e, ok := u["email"]
			if ok {
				s, _ := e.(string)
				return s, true
			}
			return "", false
		}
	}
	t.Fatalf("user %s not in %s", id, body)
	return "", false
}

// With the default --email-visibility self, a non-admin sees its own email
// and no one else's, on every path that hands out a user, and cannot use
// the email filter to learn whether an address exists.
func TestEmailVisibilitySelf(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		self := h.createUser("Self", "self@example.com")
		other := h.createUser("Other", "other@example.com")
		selfTok := h.token(self.ID.String(), "user")
		stranger := h.token("not-a-user", "user")

		for _, tt := range []struct {
			name, token, path, id string
			want                  string // "" means absent
		}{
			{"admin lists", h.admin, "/api/users", other.ID.String(), "other@example.com"},
			{"admin gets", h.admin, "/api/users/" + other.ID.String(), other.ID.String(), "other@example.com"},
			{"user lists another", selfTok, "/api/users", other.ID.String(), ""},
			{"user lists itself", selfTok, "/api/users", self.ID.String(), "self@example.com"},
			{"user gets another", selfTok, "/api/users/" + other.ID.String(), other.ID.String(), ""},
			{"user gets itself", selfTok, "/api/users/" + self.ID.String(), self.ID.String(), "self@example.com"},
			{"stranger lists", stranger, "/api/users?sort=name", self.ID.String(), ""},
		} {
			rec := h.do(request{method: "GET", path: tt.path, token: tt.token})
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: got %d %s", tt.name, rec.Code, rec.Body)
			}
			got, present := emailOf(t, rec.Body.Bytes(), tt.id)
			if got != tt.want || present != (tt.want != "") {
				t.Errorf("%s: got email %q (present %v), want %q (absent when empty)", tt.name, got, present, tt.want)
			}
			if !slices.Contains(rec.Header().Values("Vary"), "Authorization") {
				t.Errorf("%s: Vary %q lacks Authorization: the body depends on the caller", tt.name, rec.Header().Values("Vary"))
			}
		}

		// Its own writes come back whole.
		rec := h.do(request{method: "PATCH", path: "/api/users/" + self.ID.String(), token: selfTok, body: `{"name":"Me"}`})
		if got, _ := emailOf(t, rec.Body.Bytes(), self.ID.String()); rec.Code != 200 || got != "self@example.com" {
			t.Errorf("self PATCH: got %d, email %q; want its email", rec.Code, got)
		}

		// Another's email filters to nothing, exactly like an unknown one:
		// same body, same headers that matter.
		noMatch := h.do(request{method: "GET", path: "/api/users?email=nobody@example.com&count=exact", token: selfTok})
		for _, email := range []string{"other@example.com", "OTHER@example.com"} {
			rec := h.do(request{method: "GET", path: "/api/users?email=" + email + "&count=exact", token: selfTok})
			if rec.Code != 200 || rec.Body.String() != noMatch.Body.String() ||
				rec.Header().Get("X-Total-Count") != "0" || noMatch.Header().Get("X-Total-Count") != "0" ||
				strings.ReplaceAll(rec.Header().Get("Link"), url.QueryEscape(email), "nobody%40example.com") != noMatch.Header().Get("Link") {
				t.Errorf("?email=%s as a non-admin: got %d %q total %q, want the no-match answer %q total 0",
					email, rec.Code, rec.Body, rec.Header().Get("X-Total-Count"), noMatch.Body)
			}
		}
		rec = h.do(request{method: "GET", path: "/api/users?email=SELF@example.com&count=exact", token: selfTok})
		if got, _ := emailOf(t, rec.Body.Bytes(), self.ID.String()); got != "self@example.com" || rec.Header().Get("X-Total-Count") != "1" {
			t.Errorf("?email= its own: got %s, total %q", rec.Body, rec.Header().Get("X-Total-Count"))
		}
		rec = h.do(request{method: "GET", path: "/api/users?email=other@example.com", token: h.admin})
		if got, _ := emailOf(t, rec.Body.Bytes(), other.ID.String()); got != "other@example.com" {
			t.Errorf("?email= as admin: got %s", rec.Body)
		}

		// The ETag names what was sent: the redacted view has its own, so a
		// cache or client holding the admin's copy gets no 304 for it.
		path := "/api/users/" + other.ID.String()
		adminTag := h.do(request{method: "GET", path: path, token: h.admin}).Header().Get("ETag")
		userGet := h.do(request{method: "GET", path: path, token: selfTok})
		userTag := userGet.Header().Get("ETag")
		if userTag == "" || userTag == adminTag {
			t.Errorf("ETag of the redacted view %q, admin's %q: want two different tags", userTag, adminTag)
		}
		if rec := h.do(request{method: "GET", path: path, token: selfTok, header: http.Header{"If-None-Match": {adminTag}}}); rec.Code != 200 {
			t.Errorf("If-None-Match with the admin's tag, as a user: got %d, want 200 and the redacted body", rec.Code)
		}
		if rec := h.do(request{method: "GET", path: path, token: selfTok, header: http.Header{"If-None-Match": {userTag}}}); rec.Code != http.StatusNotModified {
			t.Errorf("If-None-Match with its own tag: got %d, want 304", rec.Code)
		}
		// The redacted tag still names the version for a conditional write.
		if rec := h.do(request{method: "PATCH", path: path, token: h.admin, body: `{"name":"O"}`, header: http.Header{"If-Match": {userTag}}}); rec.Code != 200 {
			t.Errorf("If-Match with the redacted view's tag: got %d %s", rec.Code, rec.Body)
		}
	})
}

// ?q= matches inside names or emails (by prefix with match=prefix). With
// --email-visibility self a non-admin's q matches names, and its own
// email, only: matching other emails would tell whether an address exists
// (an oracle, a few letters at a time). Admins, and every caller under --email-visibility all, match
// emails too.
func TestSearchEmailVisibility(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		self := h.createUser("Self", "self@example.com")
		h.createUser("Other", "secret.agent@example.com")
		h.createUser("Secret Keeper", "keeper@example.com")
		selfTok := h.token(self.ID.String(), "user")
		stranger := h.token("not-a-user", "user")
		all := newHarness(t, h.store, func(c *httpapi.Config) {
			c.Users = roster.NewService(h.store, nil, roster.WithEmailVisibility(roster.EmailsAll))
		})
		allTok := all.token("not-a-user", "user")
		ids := func(rec *httptest.ResponseRecorder) string {
			var names []string
			for _, u := range rawUsers(t, rec.Body.Bytes()) {
				names = append(names, u["name"].(string))
			}
			slices.Sort(names)
			return strings.Join(names, ",") + " total " + rec.Header().Get("X-Total-Count")
		}
		for _, tt := range []struct {
			name string
			h    *harness
			tok  string
			q    string
			want string
		}{
			{"user, another's email", h, selfTok, "secret.", " total 0"},
			{"user, another's email, upper case", h, selfTok, "SECRET.AG", " total 0"},
			{"user, a name", h, selfTok, "secret", "Secret Keeper total 1"},
			{"user, its own email", h, selfTok, "self@", "Self total 1"},
			{"stranger, an email", h, stranger, "keeper@", " total 0"},
			{"stranger, a name", h, stranger, "oth", "Other total 1"},
			{"admin, an email", h, h.admin, "secret", "Other,Secret Keeper total 2"},
			{"all, an email", all, allTok, "secret", "Other,Secret Keeper total 2"},
			// Inside names and emails (issue 16), under the same rule.
			{"user, inside another's email", h, selfTok, "agent@", " total 0"},
			{"user, inside another's email, upper case", h, selfTok, "GENT@EX", " total 0"},
			{"user, a domain", h, selfTok, "example.com", "Self total 1"},
			{"user, inside a name", h, selfTok, "keeper", "Secret Keeper total 1"},
			{"user, inside its own email", h, selfTok, "LF@EX", "Self total 1"},
			{"stranger, inside an email", h, stranger, "eeper@", " total 0"},
			{"admin, inside an email", h, h.admin, "agent", "Other total 1"},
			{"all, inside an email", all, allTok, "agent", "Other total 1"},
			{"user, prefix, another's email", h, selfTok, "secret.&match=prefix", " total 0"},
			{"user, prefix, its own email", h, selfTok, "self@&match=prefix", "Self total 1"},
			{"admin, prefix, not inside", h, h.admin, "agent&match=prefix", " total 0"},
		} {
			q, extra, _ := strings.Cut(tt.q, "&")
			if extra != "" {
				extra = "&" + extra
			}
			rec := tt.h.do(request{method: "GET", path: "/api/users?count=exact&q=" + url.QueryEscape(q) + extra, token: tt.tok})
			if rec.Code != http.StatusOK || ids(rec) != tt.want {
				t.Errorf("%s: ?q=%s got %d %q, want %q", tt.name, tt.q, rec.Code, ids(rec), tt.want)
			}
		}
	})
}

// --email-visibility all: a shared directory, every caller sees every
// email and may filter by any.
func TestEmailVisibilityAll(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		other := h.createUser("Other", "other@example.com")
		all := newHarness(t, h.store, func(c *httpapi.Config) {
			c.Users = roster.NewService(h.store, nil, roster.WithEmailVisibility(roster.EmailsAll))
		})
		tok := all.token("not-a-user", "user")
		for _, path := range []string{"/api/users", "/api/users/" + other.ID.String(), "/api/users?email=OTHER@example.com"} {
			rec := all.do(request{method: "GET", path: path, token: tok})
			if got, _ := emailOf(t, rec.Body.Bytes(), other.ID.String()); got != "other@example.com" {
				t.Errorf("GET %s: got %s, want other's email", path, rec.Body)
			}
		}
	})
}

// The change feed applies the same rule to live and replayed events: the
// field is absent, not empty.
func TestEventEmailVisibility(t *testing.T) {
	store := sqliteStore(t)
	h := newHarness(t, store, startFeed(t, store, feed.Config{}))
	srv := httptest.NewServer(h.srv)
	t.Cleanup(srv.Close)
	self := h.createUser("Self", "self@example.com")
	other := h.createUser("Other", "other@example.com")
	tok := h.token(self.ID.String())

	check := func(what string, s *stream) {
		t.Helper()
		for _, want := range []struct {
			id, email string
		}{{self.ID.String(), "self@example.com"}, {other.ID.String(), ""}} {
			ev := s.next()
			var d struct {
				User map[string]any `json:"user"`
			}
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			e, present := d.User["email"]
			if d.User["id"] != want.id || (want.email == "") == present || (present && e != want.email) {
				t.Errorf("%s: got %s, want user %s with email %q (absent when empty)", what, ev.data, want.id, want.email)
			}
		}
	}
	check("replayed", openStream(t, srv.URL, tok, nil, "?last_event_id=0"))
	live := openStream(t, srv.URL, tok, nil, "")
	h.do(request{method: "PATCH", path: "/api/users/" + self.ID.String(), token: h.admin, body: `{"name":"Me"}`})
	h.do(request{method: "PATCH", path: "/api/users/" + other.ID.String(), token: h.admin, body: `{"name":"O"}`})
	check("live", live)
}
