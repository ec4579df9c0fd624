//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// The article's test_create_and_get_user.
func TestCreateAndGetUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		rec := h.do(request{method: "POST", path: "/api/users", token: h.admin, body: `{"name":"  Alice  ","email":"Alice@Example.com"}`})
		if rec.Code != http.StatusCreated {
			t.Fatalf("create: got %d, want 201; body %s", rec.Code, rec.Body)
		}
		created := decodeUser(t, rec)
		if created.Name != "Alice" || created.Email != "alice@example.com" {
			t.Errorf("got name %q email %q, want trimmed Alice and lower-cased alice@example.com", created.Name, created.Email)
		}
		if created.ID.Version() != 7 {
			t.Errorf("got id version %d, want UUIDv7", created.ID.Version())
		}
		if loc, want := rec.Header().Get("Location"), "/api/users/"+created.ID.String(); loc != want {
			t.Errorf("got Location %q, want %q", loc, want)
		}
		if !created.CreatedAt.Equal(created.UpdatedAt) || created.CreatedAt.Location().String() != "UTC" {
			t.Errorf("got created_at %v updated_at %v, want equal UTC times", created.CreatedAt, created.UpdatedAt)
		}

		rec = h.do(request{method: "GET", path: "/api/users/" + created.ID.String(), token: h.admin})
		if rec.Code != http.StatusOK {
			t.Fatalf("get: got %d, want 200", rec.Code)
		}
		got := decodeUser(t, rec)
		if got != created {
			t.Errorf("got %+v, want %+v", got, created)
		}
		// The wire format is exactly the five documented fields, RFC 3339 UTC.
		var raw map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(raw) != 5 || !strings.HasSuffix(raw["created_at"], "Z") {
			t.Errorf("got fields %v, want id, name, email, created_at, updated_at in UTC", raw)
		}
	})
}

// The article's test_full_crud_cycle, with every status of the walkthrough.
func TestFullCRUDCycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		u := h.createUser("Bob", "bob@example.com")
		path := "/api/users/" + u.ID.String()

		rec := h.do(request{method: "GET", path: "/api/users", token: h.admin})
		var list []roster.User
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("list: got %d %s (%v)", rec.Code, rec.Body, err)
		}
		if len(list) != 1 || list[0].ID != u.ID {
			t.Fatalf("list: got %+v, want just %s", list, u.ID)
		}

		rec = h.do(request{method: "PATCH", path: path, token: h.admin, body: `{"name":"Robert"}`})
		if rec.Code != http.StatusOK {
			t.Fatalf("patch: got %d, want 200; body %s", rec.Code, rec.Body)
		}
		patched := decodeUser(t, rec)
		if patched.Name != "Robert" || patched.Email != u.Email || !patched.UpdatedAt.After(u.UpdatedAt) || !patched.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("patch: got %+v, want name Robert, same email and created_at, later updated_at than %v", patched, u.UpdatedAt)
		}

		rec = h.do(request{method: "PUT", path: path, token: h.admin, body: `{"email":"robert@example.com"}`})
		if rec.Code != http.StatusOK {
			t.Fatalf("put: got %d, want 200; body %s", rec.Code, rec.Body)
		}
		put := decodeUser(t, rec)
		if put.Name != "Robert" || put.Email != "robert@example.com" || !put.UpdatedAt.After(patched.UpdatedAt) {
			t.Errorf("put: got %+v, want Robert <robert@example.com> with a later updated_at", put)
		}

		rec = h.do(request{method: "DELETE", path: path, token: h.admin})
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("delete: got %d with %d body bytes, want 204 and no body", rec.Code, rec.Body.Len())
		}
		env := checkError(t, h.do(request{method: "GET", path: path, token: h.admin}), http.StatusNotFound, "NOT_FOUND")
		if want := fmt.Sprintf("User %s not found", u.ID); env.Error.Message != want {
			t.Errorf("got message %q, want %q", env.Error.Message, want)
		}
		checkError(t, h.do(request{method: "DELETE", path: path, token: h.admin}), http.StatusNotFound, "NOT_FOUND")
	})
}

// TestErrors covers every client error of the users API: status, envelope
// and, where it matters, the details.
func TestErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		taken := h.createUser("Taken", "taken@example.com")
		other := h.createUser("Other", "other@example.com")
		missing := uuid.Must(uuid.NewV7())
		otherPath := "/api/users/" + other.ID.String()
		long := strings.Repeat("x", 101)
		longEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" // 255 bytes

		tests := []struct {
			name        string
			req         request
			status      int
			code        string
			wantDetails []string // fields expected in details, in order
		}{
			{"malformed JSON", request{method: "POST", path: "/api/users", body: `{"name":`}, 400, "BAD_REQUEST", nil},
			{"syntax error", request{method: "POST", path: "/api/users", body: `{"name" "x"}`}, 400, "BAD_REQUEST", nil},
			{"wrong type", request{method: "POST", path: "/api/users", body: `{"name":1,"email":"a@b.io"}`}, 400, "BAD_REQUEST", []string{"name"}},
			{"array body", request{method: "POST", path: "/api/users", body: `[]`}, 400, "BAD_REQUEST", nil},
			{"unknown field", request{method: "POST", path: "/api/users", body: `{"name":"A","email":"a@b.io","id":"x"}`}, 400, "BAD_REQUEST", []string{"id"}},
			{"trailing data", request{method: "POST", path: "/api/users", body: `{"name":"A","email":"a@b.io"} {}`}, 400, "BAD_REQUEST", nil},
			{"empty body", request{method: "POST", path: "/api/users", contentType: "application/json", header: http.Header{"Content-Type": {"application/json"}}}, 400, "BAD_REQUEST", nil},
			{"too large", request{method: "POST", path: "/api/users", body: `{"name":"` + strings.Repeat("x", 1<<20) + `"}`}, 413, "PAYLOAD_TOO_LARGE", nil},
			{"text content type", request{method: "POST", path: "/api/users", body: `{}`, contentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
			{"form content type", request{method: "PATCH", path: otherPath, body: `name=x`, contentType: "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE", nil},
			{"all problems at once", request{method: "POST", path: "/api/users", body: `{"name":"  ","email":"nope"}`}, 422, "VALIDATION_ERROR", []string{"name", "email"}},
			{"missing fields", request{method: "POST", path: "/api/users", body: `{}`}, 422, "VALIDATION_ERROR", []string{"name", "email"}},
			{"name too long", request{method: "POST", path: "/api/users", body: userJSON(long, "long@example.com")}, 422, "VALIDATION_ERROR", []string{"name"}},
			{"display name in email", request{method: "POST", path: "/api/users", body: userJSON("A", "Bob <bob@example.com>")}, 422, "VALIDATION_ERROR", []string{"email"}},
			{"email too long", request{method: "POST", path: "/api/users", body: userJSON("A", longEmail)}, 422, "VALIDATION_ERROR", []string{"email"}},
			{"duplicate email any case", request{method: "POST", path: "/api/users", body: userJSON("T", "TAKEN@example.COM")}, 409, "CONFLICT", []string{"email"}},
			{"malformed id", request{method: "GET", path: "/api/users/not-a-uuid"}, 400, "BAD_REQUEST", []string{"id"}},
			{"upper-case unknown id", request{method: "GET", path: "/api/users/" + strings.ToUpper(missing.String())}, 404, "NOT_FOUND", nil},
			{"id in braces", request{method: "GET", path: "/api/users/%7B" + missing.String() + "%7D"}, 400, "BAD_REQUEST", []string{"id"}},
			{"id without hyphens", request{method: "GET", path: "/api/users/" + strings.ReplaceAll(missing.String(), "-", "")}, 400, "BAD_REQUEST", []string{"id"}},
			{"unknown id", request{method: "GET", path: "/api/users/" + missing.String()}, 404, "NOT_FOUND", nil},
			{"empty update", request{method: "PATCH", path: otherPath, body: `{}`}, 422, "VALIDATION_ERROR", []string{"body"}},
			{"null update", request{method: "PUT", path: otherPath, body: `{"name":null}`}, 422, "VALIDATION_ERROR", []string{"body"}},
			{"invalid update", request{method: "PATCH", path: otherPath, body: `{"name":"","email":"x"}`}, 422, "VALIDATION_ERROR", []string{"name", "email"}},
			{"update to taken email", request{method: "PATCH", path: otherPath, body: `{"email":"Taken@Example.com"}`}, 409, "CONFLICT", []string{"email"}},
			{"update unknown", request{method: "PATCH", path: "/api/users/" + missing.String(), body: `{"name":"X"}`}, 404, "NOT_FOUND", nil},
			{"delete unknown", request{method: "DELETE", path: "/api/users/" + missing.String()}, 404, "NOT_FOUND", nil},
			{"page not a number", request{method: "GET", path: "/api/users?page=abc"}, 400, "BAD_REQUEST", []string{"page"}},
			{"per_page zero", request{method: "GET", path: "/api/users?per_page=0"}, 400, "BAD_REQUEST", []string{"per_page"}},
			{"page negative and per_page text", request{method: "GET", path: "/api/users?page=-1&per_page=x"}, 400, "BAD_REQUEST", []string{"page", "per_page"}},
			{"unknown query parameter", request{method: "GET", path: "/api/users?order=name"}, 400, "BAD_REQUEST", []string{"order"}},
			{"unknown route", request{method: "GET", path: "/api/nope"}, 404, "NOT_FOUND", nil},
			{"unknown root route", request{method: "GET", path: "/nope"}, 404, "NOT_FOUND", nil},
			{"wrong method", request{method: "DELETE", path: "/api/users"}, 405, "METHOD_NOT_ALLOWED", nil},
			{"wrong method on health", request{method: "POST", path: "/health"}, 405, "METHOD_NOT_ALLOWED", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.req.token == "" {
					tt.req.token = h.admin
				}
				rec := h.do(tt.req)
				env := checkError(t, rec, tt.status, tt.code)
				var fields []string
				for _, d := range env.Error.Details {
					fields = append(fields, d.Field)
					if d.Message == "" {
						t.Errorf("detail for %q has no message", d.Field)
					}
				}
				if tt.wantDetails != nil && strings.Join(fields, ",") != strings.Join(tt.wantDetails, ",") {
					t.Errorf("got detail fields %v, want %v", fields, tt.wantDetails)
				}
				if tt.status == 405 && rec.Header().Get("Allow") == "" {
					t.Errorf("405 without an Allow header")
				}
			})
		}

		// Nothing above changed anything.
		for _, u := range []roster.User{taken, other} {
			rec := h.do(request{method: "GET", path: "/api/users/" + u.ID.String(), token: h.admin})
			if got := decodeUser(t, rec); got != u {
				t.Errorf("after bad requests: got %+v, want unchanged %+v", got, u)
			}
		}
	})
}

func TestListPagination(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		var created []roster.User
		for i := range 5 {
			created = append(created, h.createUser(fmt.Sprintf("User %d", i), fmt.Sprintf("u%d@example.com", i)))
		}
		page := func(query string) ([]roster.User, string) {
			t.Helper()
			rec := h.do(request{method: "GET", path: "/api/users" + query, token: h.admin})
			if rec.Code != http.StatusOK {
				t.Fatalf("list %s: got %d, want 200; body %s", query, rec.Code, rec.Body)
			}
			var users []roster.User
			if err := json.Unmarshal(rec.Body.Bytes(), &users); err != nil {
				t.Fatalf("decode list: %v", err)
			}
			return users, rec.Header().Get("Link")
		}

		all, _ := page("")
		if len(all) != 5 {
			t.Fatalf("got %d users, want 5", len(all))
		}
		for i, u := range all { // newest first
			if want := created[len(created)-1-i]; u.ID != want.ID {
				t.Errorf("position %d: got %s, want %s", i, u.Name, want.Name)
			}
		}

		tests := []struct {
			query    string
			wantLen  int
			wantLink string
		}{
			{"?per_page=2", 2, `</api/users?page=1&per_page=2>; rel="first", </api/users?page=2&per_page=2>; rel="next"`},
			{"?page=2&per_page=2", 2, `</api/users?page=1&per_page=2>; rel="first", </api/users?page=1&per_page=2>; rel="prev", </api/users?page=3&per_page=2>; rel="next"`},
			{"?page=3&per_page=2", 1, `</api/users?page=1&per_page=2>; rel="first", </api/users?page=2&per_page=2>; rel="prev"`},
			{"?page=9&per_page=2", 0, `</api/users?page=1&per_page=2>; rel="first", </api/users?page=8&per_page=2>; rel="prev"`},
			{"?per_page=1000", 5, `</api/users?page=1&per_page=100>; rel="first"`},
		}
		for _, tt := range tests {
			users, link := page(tt.query)
			if len(users) != tt.wantLen || link != tt.wantLink {
				t.Errorf("%s: got %d users and Link %q, want %d and %q", tt.query, len(users), link, tt.wantLen, tt.wantLink)
			}
		}
		second, _ := page("?page=2&per_page=2")
		if second[0].ID != all[2].ID || second[1].ID != all[3].ID {
			t.Errorf("page 2 does not continue page 1")
		}
		if body := h.do(request{method: "GET", path: "/api/users?page=9", token: h.admin}).Body.String(); strings.TrimSpace(body) != "[]" {
			t.Errorf("empty page: got %q, want []", body)
		}
	})
}

// Fifty clients create the same email in different cases at once: the
// database constraint lets exactly one through.
func TestConcurrentCreateSameEmail(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		const n = 50
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				email := []byte("race@example.com")
				for j := range email { // a different mix of cases per client
					if i>>(j%6)&1 == 1 && email[j] >= 'a' && email[j] <= 'z' {
						email[j] -= 'a' - 'A'
					}
				}
				rec := h.do(request{method: "POST", path: "/api/users", token: h.admin, body: userJSON("Racer", string(email))})
				codes[i] = rec.Code
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, c := range codes {
			count[c]++
		}
		if count[201] != 1 || count[409] != n-1 {
			t.Errorf("got status counts %v, want exactly one 201 and %d 409", count, n-1)
		}
	})
}

// countingBody is a request body that counts what the server reads.
type countingBody struct {
	n int
}

func (b *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	b.n += len(p)
	return len(p), nil
}

func (b *countingBody) Close() error { return nil }

// A body whose Content-Length is over the limit is refused before a byte
// of it is read: the client gets 413 at once, not after sending 1 MiB or
// after the server's read timeout.
func TestDeclaredOversizedBodyIsNotRead(t *testing.T) {
	h := newHarness(t, sqliteStore(t))
	u := h.createUser("Big", "big@example.com")
	for _, method := range []string{"POST", "PUT", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			path := "/api/users"
			if method != "POST" {
				path += "/" + u.ID.String()
			}
			body := &countingBody{}
			req := httptest.NewRequest(method, path, nil)
			req.Body, req.ContentLength = body, 1<<20+1
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.admin)
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			checkError(t, rec, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
			if body.n != 0 {
				t.Errorf("read %d bytes of the body, want 0", body.n)
			}
		})
	}
}

// An id in upper case names the same user (RFC 9562: hex digits are
// case-insensitive); answers carry the lower-case form.
func TestUpperCaseIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		u := h.createUser("Ada", "ada@example.com")
		upper := "/api/users/" + strings.ToUpper(u.ID.String())
		for _, r := range []request{
			{method: "GET", path: upper, token: h.admin},
			{method: "PATCH", path: upper, token: h.admin, body: `{"name":"Ada L."}`},
		} {
			rec := h.do(r)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s %s: got %d %s, want 200", r.method, r.path, rec.Code, rec.Body)
			}
			if got := decodeUser(t, rec); got.ID != u.ID || !strings.Contains(rec.Body.String(), `"id":"`+u.ID.String()+`"`) {
				t.Errorf("%s %s: got id %s in %s, want %s in lower case", r.method, r.path, got.ID, rec.Body, u.ID)
			}
		}
		if rec := h.do(request{method: "DELETE", path: upper, token: h.admin}); rec.Code != http.StatusNoContent {
			t.Errorf("DELETE %s: got %d, want 204", upper, rec.Code)
		}
	})
}

// Every time the API writes has six fractional digits, whole seconds
// included, so that times sort as strings: users in single answers,
// lists, exports (NDJSON and CSV) and the change feed.
func TestTimesHaveSixFractionalDigits(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC) // a whole second: RFC3339Nano would write no fraction
	forEachEngine(t, func(t *testing.T, h *harness) {
		svc := roster.NewService(h.store, func() time.Time { return at })
		h2 := newHarness(t, h.store, func(c *httpapi.Config) { c.Users = svc })
		u := h2.createUser("Ada", "ada@example.com")
		want := `2026-12-01T10:00:05.000000Z`
		for _, r := range []request{
			{method: "GET", path: "/api/users/" + u.ID.String(), token: h2.admin},
			{method: "GET", path: "/api/users", token: h2.admin},
			{method: "GET", path: "/api/users/export", token: h2.admin},
			{method: "GET", path: "/api/users/export", token: h2.admin, header: http.Header{"Accept": {"text/csv"}}},
		} {
			rec := h2.do(r)
			if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), want) != 2 {
				t.Errorf("%s %s %v: got %d %s, want created_at and updated_at %s", r.method, r.path, r.header, rec.Code, rec.Body, want)
			}
		}
	})
}
