package httpapi

// Fuzz targets for the parsers that read what a caller sends before any
// authorization or store is involved: the request JSON decoder, the list
// query, cursors and the Authorization header. Each runs its seeds as an
// ordinary test under `go test`; `go test -fuzz=FuzzX` explores further.
// The invariants: no panic, every refusal is a *roster.Error whose code the
// error table maps to a 4xx, and what is accepted round-trips.
//
// Fuzz with the fuzzing tag: go test -tags fuzzing -fuzz=FuzzX ./internal/httpapi.
// The fuzzer instruments every package the test binary links, and the
// package's other tests (package httpapi_test, built only without the tag)
// link both database engines, the OpenAPI validator and a browser driver:
// instrumenting those took most of a CI run's fuzz step. These targets use
// none of them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/bulk/bulktest"
	"github.com/rosterhq/roster/internal/roster"
)

// clientError fails t unless err is a *roster.Error with one of codes,
// which the error table answers with a 4xx.
func clientError(t *testing.T, err error, codes ...roster.Code) *roster.Error {
	t.Helper()
	var e *roster.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want a *roster.Error", err, err)
	}
	if !contains(codes, e.Code) {
		t.Fatalf("got code %s (%v), want one of %v", e.Code, e, codes)
	}
	if st := statusOf[e.Code]; st < 400 || st > 499 {
		t.Fatalf("code %s answers %d, want a 4xx", e.Code, st)
	}
	return e
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func FuzzDecode(f *testing.F) {
	const js = "application/json"
	for _, s := range []struct {
		contentType, body string
	}{
		{js, `{"name":"Ada","email":"ada@example.com"}`},
		{js + "; charset=utf-8", `{"name":"Ada"}`},
		{"Application/JSON", `{"email":null}`},
		{js, `{"name":"Ada","email":"ada@example.com","admin":true}`},
		{js, `{"name":1}`},
		{js, `{"name":"a"}{"name":"b"}`},
		{js, `{"name":"a"} trailing`},
		{js, `[1,2]`},
		{js, `"just a string"`},
		{js, `null`},
		{js, ``},
		{js, `{"name":"`},
		{js, `{"name":"\ud800 bad surrogate \xff"}`},
		{js, `{"NAME":"case-insensitive match"}`},
		{js, strings.Repeat("[", 10000)},
		{"text/plain", `{"name":"Ada"}`},
		{"", `{}`},
		{"application/json; charset=", `{}`},
		{"multipart/form-data; boundary=x", `{}`},
	} {
		for kind := range uint8(2) {
			f.Add(kind, s.contentType, []byte(s.body))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, contentType string, body []byte) {
		// The two bodies the API decodes: POST's NewUser, PUT/PATCH's UserUpdate.
		newV := func() any { return new(roster.NewUser) }
		if kind%2 == 1 {
			newV = func() any { return new(roster.UserUpdate) }
		}
		decodeBody := func(body []byte) (any, error) {
			r := httptest.NewRequest(http.MethodPost, "/api/users", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			v := newV()
			return v, decode(httptest.NewRecorder(), r, v)
		}
		v, err := decodeBody(body)
		if err != nil {
			// VALIDATION_ERROR: text that is not valid UTF-8 (a 422, never
			// stored as U+FFFD).
			clientError(t, err, roster.CodeBadRequest, roster.CodeInvalid, codePayloadTooLarge, codeUnsupportedMediaType)
			return
		}
		if len(body) > maxBodyBytes {
			t.Fatalf("accepted a body of %d bytes, over the limit of %d", len(body), maxBodyBytes)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not one JSON value: %q", body)
		}
		// What was accepted says the same when encoded and read again.
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", v, err)
		}
		w, err := decodeBody(again)
		if err != nil {
			t.Fatalf("re-decode %s: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip: got %+v, want %+v", w, v)
		}
	})
}

// fuzzCursorKey signs the cursors of the fuzz targets.
var fuzzCursorKey = []byte("fuzz-cursor-key-of-thirty-two-bytes!")

func FuzzParseList(f *testing.F) {
	codec := cursorCodec{key: fuzzCursorKey}
	valid := codec.encode(roster.Cursor{Sort: roster.SortName, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		ID: uuid.MustParse("0192f3c4-5d6e-7f80-9a1b-abcdef012345"), Name: "ada"})
	for _, q := range []string{
		"", "page=2&per_page=10", "per_page=1000", "page=0", "page=-1", "page=x",
		"page=9223372036854775807&per_page=100", "page=92233720368547758&per_page=100",
		"limit=5", "limit=5&cursor=" + url.QueryEscape(valid) + "&sort=name",
		"cursor=" + url.QueryEscape(valid) + "&sort=-name", "cursor=" + url.QueryEscape(valid) + "&page=2",
		"cursor=garbage", "cursor=.", "cursor=" + url.QueryEscape(valid[:len(valid)-1]),
		"email=ada@example.com", "q=Ad%25_", "q=%00%ff",
		"created_after=2026-01-02T15:04:05Z&created_before=2026-01-01T00:00:00Z",
		"created_after=2026-01-02T15:04:05.123456789%2B05:30", "created_after=yesterday",
		"sort=name", "sort=bogus", "count=exact", "count=yes",
		"page=1&page=2", "unknown=1", "a=%zz", ";;&&==",
	} {
		f.Add(q)
	}
	s := &Server{cursors: codec}
	users := roster.NewService(checkingStore{}, nil)
	admin := roster.WithActor(context.Background(), roster.Actor{Subject: "admin", Roles: []string{roster.RoleAdmin}})
	f.Fuzz(func(t *testing.T, rawQuery string) {
		// As r.URL.Query() does: malformed pairs are dropped, not refused.
		q, _ := url.ParseQuery(rawQuery)
		lr, err := s.parseList(q)
		if err != nil {
			if e := clientError(t, err, roster.CodeBadRequest); len(e.Details) == 0 {
				t.Fatalf("refused %q with no detail saying why", rawQuery)
			}
			return
		}
		// Whatever parses, the service refuses as a client error or passes
		// on as a query the stores accept: no 500 follows.
		if _, err := users.ListUsers(admin, lr.query); err != nil {
			clientError(t, err, roster.CodeBadRequest)
		}
		if !lr.keyset {
			if lr.query.Limit < 1 || lr.query.Limit > roster.MaxPerPage {
				t.Fatalf("%q: per_page became %d", rawQuery, lr.query.Limit)
			}
			if lr.query.Offset != (lr.page-1)*lr.query.Limit || lr.query.Offset/lr.query.Limit != lr.page-1 {
				t.Fatalf("%q: page %d of %d gave offset %d", rawQuery, lr.page, lr.query.Limit, lr.query.Offset)
			}
		}
		// The Link header's pages parse again, to the page they name.
		next := &roster.Cursor{Sort: roster.SortNewest, CreatedAt: time.Unix(1, 0).UTC(), ID: uuid.Nil}
		r := httptest.NewRequest(http.MethodGet, "/api/users", nil)
		for _, link := range strings.Split(s.listLinks(r, lr, next), ", ") {
			target, rel, ok := strings.Cut(strings.TrimPrefix(link, "</api/users?"), `>; rel="`)
			if !ok {
				t.Fatalf("%q: malformed link %q", rawQuery, link)
			}
			lq, err := url.ParseQuery(target)
			if err != nil {
				t.Fatalf("%q: link %q: %v", rawQuery, link, err)
			}
			if lq.Has("cursor") {
				lq.Del("sort") // the test's cursor is for the default order
			}
			rel = strings.TrimSuffix(rel, `"`)
			got, err := s.parseList(lq)
			if err != nil {
				t.Fatalf("%q: the %s link %q does not parse: %v", rawQuery, rel, link, err)
			}
			want := map[string]int{"first": 1, "prev": lr.page - 1, "next": lr.page + 1}
			if p, ok := want[rel]; ok && !lr.keyset && got.page != p {
				t.Fatalf("%q: the %s link %q names page %d, want %d", rawQuery, rel, link, got.page, p)
			}
		}
	})
}

// checkingStore lists no users and fails, as the real stores do, on a
// query they cannot answer meaningfully.
type checkingStore struct{ roster.UserStore }

func (checkingStore) ListUsers(_ context.Context, q roster.ListQuery) ([]roster.User, error) {
	return nil, q.Check()
}

func FuzzCursorDecode(f *testing.F) {
	codec := cursorCodec{key: fuzzCursorKey}
	other := cursorCodec{key: []byte("another-server's-key-of-32-bytes!!")}
	for i, sort := range roster.Sorts {
		c := roster.Cursor{Sort: sort, CreatedAt: time.UnixMicro(int64(i) * 1e15).UTC(), ID: uuid.New(), Name: bulktest.Strings[i]}
		f.Add(codec.encode(c))
		f.Add(other.encode(c))
	}
	for _, s := range []string{"", ".", "..", "garbage", "AAAA.AAAA", "====.====", "AQA.", strings.Repeat("A", 300) + ".x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := codec.decode(s)
		if err != nil {
			if err != errBadCursor {
				t.Fatalf("decode(%q): got %v, want errBadCursor", s, err)
			}
			clientError(t, err, roster.CodeBadRequest)
			return
		}
		// Only this server's cursors decode, and they decode to themselves.
		if !contains(roster.Sorts, c.Sort) {
			t.Fatalf("decode(%q): sort %q", s, c.Sort)
		}
		back, err := codec.decode(codec.encode(c))
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("decode(%q) = %+v; re-encoded it decodes to %+v, %v", s, c, back, err)
		}
	})
}

// FuzzCursorTamper changes one byte of a cursor this server issued: the
// result is refused or, when the change is lost in base64's unused bits,
// names the very same position. A forged cursor never moves the reader.
func FuzzCursorTamper(f *testing.F) {
	codec := cursorCodec{key: fuzzCursorKey}
	f.Add(uint8(0), int64(0), []byte("0123456789abcdef"), "", 0, byte(1))
	f.Add(uint8(2), int64(1798761600123456), []byte("\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"), "ada lovelace", 3, byte(0x20))
	f.Add(uint8(3), int64(-1), []byte("zzzzzzzzzzzzzzzz"), "日本語 \xff", 40, byte(0x80))
	f.Add(uint8(1), int64(1<<62), []byte("0123456789abcdef"), "x", -1, byte(1))
	f.Fuzz(func(t *testing.T, sort uint8, micros int64, id []byte, name string, pos int, xor byte) {
		var uid uuid.UUID
		copy(uid[:], id)
		c := roster.Cursor{Sort: roster.Sorts[int(sort)%len(roster.Sorts)], CreatedAt: time.UnixMicro(micros).UTC(), ID: uid, Name: name}
		s := codec.encode(c)
		got, err := codec.decode(s)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip of %+v: got %+v, %v", c, got, err)
		}
		if xor == 0 {
			xor = 1
		}
		b := []byte(s)
		i := pos % len(b)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= xor
		forged, err := codec.decode(string(b))
		if err == nil && !reflect.DeepEqual(forged, c) {
			t.Fatalf("tampered cursor %q (byte %d of %q) accepted as %+v", b, i, s, forged)
		}
		if err != nil && err != errBadCursor {
			t.Fatalf("tampered cursor: got %v, want errBadCursor", err)
		}
	})
}

// FuzzBearerToken sends any Authorization header through the middleware
// that reads it: the answer is 204 with the token's subject for a token
// this server issued and 401 otherwise, never a panic or a 5xx.
func FuzzBearerToken(f *testing.F) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	a, err := auth.New(auth.Config{Secret: []byte("fuzz-secret-of-at-least-32-bytes!!"), Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := a.Issue("ada", []string{"admin"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "bearer " + valid, "BEARER  " + valid + " ", "Bearer " + valid,
		"Basic " + valid, "Bearer\t" + valid, "Bearer " + valid + "x", "Bearer " + valid[:len(valid)-2],
		"Bearer a.b.c", "Bearer ..", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEifQ.", "Bearer " + valid + " " + valid,
		"Token " + valid, " Bearer " + valid, "Bearer \x00",
	} {
		f.Add(h)
	}
	s := &Server{auth: a, log: slog.New(slog.DiscardHandler)}
	h := s.identify(s.requireAuth(func(w http.ResponseWriter, r *http.Request) {
		actor, _ := roster.ActorFrom(r.Context())
		w.Header().Set("X-Subject", actor.Subject)
		w.WriteHeader(http.StatusNoContent)
	}))
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := bearerToken(header)
		if ok {
			if token == "" || token != strings.TrimSpace(token) {
				t.Fatalf("bearerToken(%q) = %q", header, token)
			}
			if again, ok := bearerToken("Bearer " + token); !ok || again != token {
				t.Fatalf("bearerToken(Bearer %q) = %q, %v", token, again, ok)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/api/users", nil)
		r.Header["Authorization"] = []string{header} // as sent, unchecked by the client
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		claims, verr := a.Verify(token)
		switch {
		case w.Code == http.StatusNoContent && ok && verr == nil && w.Header().Get("X-Subject") == claims.Subject:
		case w.Code == http.StatusUnauthorized && (!ok || verr != nil):
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != roster.CodeUnauthorized {
				t.Fatalf("401 without the error envelope: %q", w.Body)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if len(token) >= 32 && strings.Contains(w.Body.String()+w.Header().Get("WWW-Authenticate"), token) {
				t.Fatalf("the answer echoes the token: %q", w.Body)
			}
		default:
			t.Fatalf("Authorization %q: got %d (subject %q), token %q ok %v verify %v",
				header, w.Code, w.Header().Get("X-Subject"), token, ok, verr)
		}
	})
}
