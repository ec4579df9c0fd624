//go:build !fuzzing

package httpapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
)

// Names and emails that only look right are refused with the 422
// envelope naming the field, on create, update and import alike.
func TestCharacterValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		u := h.createUser("Ada", "ada@example.com")
		tests := []struct {
			name, body, field string
		}{
			// The raw bytes of the body: \xff is not UTF-8, which
			// encoding/json would otherwise turn into U+FFFD and store.
			{"invalid UTF-8 in a name", "{\"name\":\"Ada \xff\",\"email\":\"x1@example.com\"}", "name"},
			{"invalid UTF-8 in an email", "{\"name\":\"Ada\",\"email\":\"x2@ex\xe2\x80ample.com\"}", "email"},
			{"bidi override", `{"name":"Ada\u202egnp.exe","email":"x3@example.com"}`, "name"},
			{"zero-width space, escaped", `{"name":"A\u200bda","email":"x4@example.com"}`, "name"},
			{"zero-width joiner, raw", "{\"name\":\"A\u200dda\",\"email\":\"x5@example.com\"}", "name"},
			{"Cyrillic a in the local part", `{"name":"Ada","email":"\u0430dmin@example.com"}`, "email"},
			{"mixed-script domain", `{"name":"Ada","email":"ada@g\u03bfogle.com"}`, "email"},
		}
		for _, tt := range tests {
			for _, req := range []request{
				{method: "POST", path: "/api/users", token: h.admin, body: tt.body},
				{method: "PATCH", path: "/api/users/" + u.ID.String(), token: h.admin, body: tt.body},
			} {
				env := checkError(t, h.do(req), http.StatusUnprocessableEntity, "VALIDATION_ERROR")
				if !slices.ContainsFunc(env.Error.Details, func(d roster.FieldError) bool { return d.Field == tt.field }) {
					t.Errorf("%s, %s: got details %+v, want one for %s", tt.name, req.method, env.Error.Details, tt.field)
				}
			}
		}
		// Valid UTF-8 elsewhere in the body does not hide the bad field,
		// and a sent U+FFFD is a character like any other.
		rec := h.do(request{method: "POST", path: "/api/users", token: h.admin, body: "{\"email\":\"zoe@münchen.de\",\"name\":\"Zoë \uFFFD 李\"}"})
		if rec.Code != http.StatusCreated {
			t.Errorf("a pure IDN domain and U+FFFD as sent: got %d %s", rec.Code, rec.Body)
		}
		if got := decodeUser(t, h.do(request{method: "GET", path: "/api/users/" + u.ID.String(), token: h.admin})); got.Name != "Ada" {
			t.Errorf("a refused update changed the user: %+v", got)
		}

		// Import: each rule, each format, as a row error of the same kind.
		ndjson := "{\"name\":\"Bad \xff\",\"email\":\"i1@example.com\"}\n" +
			`{"name":"Ada\u202e","email":"i2@example.com"}` + "\n" +
			`{"name":"Ada","email":"\u0430dmin@example.com"}` + "\n" +
			`{"name":"Ok","email":"i4@example.com"}` + "\n"
		array := "[{\"name\":\"Bad \xff\",\"email\":\"j1@example.com\"}," +
			`{"name":"Ada\u202e","email":"j2@example.com"},` +
			`{"name":"Ada","email":"\u0430dmin@example.com"},` +
			`{"name":"Ok","email":"j4@example.com"}]`
		csvBody := "name,email\nBad \xff,k1@example.com\nAda\u202e,k2@example.com\nAda,\u0430dmin@example.com\nOk,k4@example.com\n"
		for _, f := range []struct{ ct, body string }{
			{"application/x-ndjson", ndjson}, {"application/json", array}, {"text/csv", csvBody},
		} {
			res := decodeImport(t, h.importBody("?on_conflict=skip", f.ct, f.body, nil))
			var got []string
			for _, e := range res.Errors {
				got = append(got, e.Field+" "+string(e.Code))
			}
			want := []string{"name VALIDATION_ERROR", "name VALIDATION_ERROR", "email VALIDATION_ERROR"}
			if res.Inserted != 1 || res.Failed != 3 || !slices.Equal(got, want) {
				t.Errorf("import %s: got %d inserted, %d failed, errors %v (%s); want 1, 3, %v", f.ct, res.Inserted, res.Failed, got, errLines(res), want)
			}
		}
	})
}
