package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/bulk/bulktest"
	"github.com/rosterhq/roster/internal/roster"
)

// encodeUser and encodeUsers answer exactly as encode (encoding/json)
// would: the same status, headers and bytes, for every escaping case and
// every time, including those encoding/json refuses.
func TestEncodeUsersAsEncode(t *testing.T) {
	var users []roster.User
	for i, s := range bulktest.Strings {
		at := bulktest.Times[i%len(bulktest.Times)]
		users = append(users, roster.User{ID: uuid.New(), Name: s, Email: bulktest.Strings[len(bulktest.Strings)-1-i], CreatedAt: at, UpdatedAt: at})
	}
	same := func(name string, got, want *httptest.ResponseRecorder) {
		t.Helper()
		if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || got.Body.String() != want.Body.String() {
			t.Errorf("%s:\n got %d %q %q\nwant %d %q %q", name, got.Code, got.Header().Get("Content-Type"), got.Body,
				want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
	for _, u := range users {
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		encodeUser(got, http.StatusCreated, u)
		encode(want, http.StatusCreated, u)
		same("encodeUser("+u.Name+")", got, want)
	}
	pages := map[string][]roster.User{
		"empty": {},
		"one":   users[:1],
		"valid": users[:7], // times encoding/json accepts
		"all":   users,     // one it refuses, so encode's own output
	}
	for name, page := range pages {
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		encodeUsers(got, http.StatusOK, page)
		encode(want, http.StatusOK, page)
		same("encodeUsers("+name+")", got, want)
	}
	got := httptest.NewRecorder()
	encodeUsers(got, http.StatusOK, nil)
	if got.Body.String() != "[]\n" {
		t.Errorf("encodeUsers(nil): got %q, want an empty array", got.Body)
	}
}
