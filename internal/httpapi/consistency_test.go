package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/roster"
)

// A consistency token is only honoured with this deployment's signature:
// a forged position would make its caller's reads wait for a replica.
func TestConsistencyToken(t *testing.T) {
	c := cursorCodec{key: []byte("consistency-test-key-thirty-two-bytes")}
	other := cursorCodec{key: []byte("another-deployment-key-thirty-two-b")}
	sealed := c.sealToken("16/B374D848")
	pos, sig, _ := strings.Cut(sealed, ".")
	cursor := c.encode(roster.Cursor{Sort: roster.Sorts[0]})
	_, cursorSig, _ := strings.Cut(cursor, ".")

	tests := []struct {
		name  string
		token string
		want  string // "" means refused
	}{
		{"sealed here", sealed, "16/B374D848"},
		{"unsigned", "16/B374D848", ""},
		{"forged position", "FFFFFFFF/FFFFFFFF." + sig, ""},
		{"another key", other.sealToken("16/B374D848"), ""},
		{"a cursor's signature", pos + "." + cursorSig, ""},
		{"empty position", "." + sig, ""},
		{"bad base64", pos + ".***", ""},
		{"too long", c.sealToken(strings.Repeat("1", 60)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.openToken(tt.token)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("openToken(%q) = %q, %v; want %q", tt.token, got, ok, tt.want)
			}
		})
	}
}

// With the cookie option a write's token also goes out as a cookie,
// Secure exactly when the client came over TLS, and a read presents it.
func TestConsistencyCookie(t *testing.T) {
	s := &Server{cursors: cursorCodec{key: []byte("consistency-test-key-thirty-two-bytes")}, tokenCookie: true}
	var seen string
	h := s.consistent(func(w http.ResponseWriter, r *http.Request) {
		seen = consistency.After(r.Context())
		if r.Method == http.MethodPost {
			consistency.Commit(r.Context(), "16/B374D848")
		}
		w.WriteHeader(http.StatusOK)
	})
	for _, tt := range []struct {
		name   string
		proto  string // X-Forwarded-Proto
		secure bool
	}{
		{"plain HTTP", "", false},
		{"behind a TLS proxy", "https", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/users", nil)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			rec := httptest.NewRecorder()
			h(rec, req)
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 || cookies[0].Name != consistencyCookie || cookies[0].Value != rec.Header().Get(consistency.Header) ||
				!cookies[0].HttpOnly || cookies[0].Secure != tt.secure {
				t.Fatalf("cookies %+v, header %q; want one HttpOnly %s cookie with the header's token, Secure %v",
					cookies, rec.Header().Get(consistency.Header), consistencyCookie, tt.secure)
			}
			read := httptest.NewRequest(http.MethodGet, "/api/users", nil)
			read.AddCookie(cookies[0])
			h(httptest.NewRecorder(), read)
			if seen != "16/B374D848" {
				t.Errorf("a read with the cookie presented %q, want the write's position", seen)
			}
		})
	}
	// A cookie that does not check is dropped, not refused.
	read := httptest.NewRequest(http.MethodGet, "/api/users", nil)
	read.AddCookie(&http.Cookie{Name: consistencyCookie, Value: "FFFFFFFF/FFFFFFFF.forged"})
	rec := httptest.NewRecorder()
	h(rec, read)
	if rec.Code != http.StatusOK || seen != "" {
		t.Errorf("forged cookie: got %d presenting %q, want 200 presenting nothing", rec.Code, seen)
	}
}
