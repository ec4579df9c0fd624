package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// exportStrings are names and emails that exercise every escaping rule
// (the cases of internal/bulk's writer tests, whose appenders encodeUser
// uses).
var exportStrings = []string{
	"", "Ada Lovelace", "ada@example.com", "Émile Zoë", "日本語", "😀 emoji",
	`quote " and backslash \`, "<script>&amp;</script>", "\u2028line\u2029para", "\u2027\u202a",
	"tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f", "del\x7f", "bad \xff byte", "\xe2\x80", "cut \xe2\x80\xa8\xe2",
	"\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 above max", "comma, inside", " leading space", "\u00a0nbsp",
	"\tleading tab", `\.`, `\`, "trailing space ", `"quoted"`, "line\r\nend",
}

// exportTimes cover the stored case (UTC, microseconds) and the ones
// time.Time.MarshalJSON formats differently or refuses.
var exportTimes = []time.Time{
	time.Date(2026, 11, 26, 10, 44, 5, 123456000, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+30*60)),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(7*3600+17))),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 24*3600)),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -25*3600)),
	time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	{},
}

// encodeUser and encodeUsers answer exactly as encode (encoding/json)
// would: the same status, headers and bytes, for every escaping case and
// every time, including those encoding/json refuses.
func TestEncodeUsersAsEncode(t *testing.T) {
	var users []roster.User
	for i, s := range exportStrings {
		at := exportTimes[i%len(exportTimes)]
		users = append(users, roster.User{ID: uuid.New(), Name: s, Email: exportStrings[len(exportStrings)-1-i], CreatedAt: at, UpdatedAt: at})
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
