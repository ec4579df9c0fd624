package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzNow is the clock of the fuzz targets, so seeds stay valid.
var fuzzNow = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func fuzzAuthority(tb testing.TB) *Authority {
	tb.Helper()
	a, err := New(Config{Secret: secret, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// signed makes a token with any header and claims, signed with secret as
// an HS256 token would be, so that only the content decides its fate.
func signed(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	seg := func(v map[string]any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := seg(header) + "." + seg(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FuzzVerify feeds Verify any string. It never panics, every refusal wraps
// ErrInvalidToken, and what it accepts is an HS256 token with a subject
// whose signature is the secret's.
func FuzzVerify(f *testing.F) {
	a := fuzzAuthority(f)
	valid, err := a.Issue("ada", []string{"admin"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	exp, iat := fuzzNow.Add(time.Hour).Unix(), fuzzNow.Unix()
	for _, s := range []string{
		valid, valid + "x", valid[:len(valid)-1], strings.Replace(valid, ".", "..", 1), "", ".", "..", "a.b.c", "a.b.c.d",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEifQ.",
		signed(f, hs256, map[string]any{"sub": "ada", "exp": exp, "iat": iat, "roles": []string{"user"}}),
		signed(f, hs256, map[string]any{"sub": "", "exp": exp}),
		signed(f, hs256, map[string]any{"sub": "ada"}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": iat - 3600}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": exp, "nbf": exp}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": exp, "iat": exp + 3600}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": "9999999999"}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": 1e300}),
		signed(f, hs256, map[string]any{"sub": "ada", "exp": exp, "roles": "admin"}),
		signed(f, hs256, map[string]any{"sub": 42, "exp": exp}),
		signed(f, map[string]any{"alg": "HS256", "crit": []string{"b64"}, "b64": false}, map[string]any{"sub": "ada", "exp": exp}),
		signed(f, map[string]any{"alg": "HS384"}, map[string]any{"sub": "ada", "exp": exp}),
		signed(f, map[string]any{"alg": "none"}, map[string]any{"sub": "ada", "exp": exp}),
		signed(f, map[string]any{"alg": "RS256"}, map[string]any{"sub": "ada", "exp": exp}),
		signed(f, map[string]any{}, map[string]any{"sub": "ada", "exp": exp}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := a.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q): got %v, want ErrInvalidToken", token, err)
			}
			return
		}
		if c.Subject == "" {
			t.Fatalf("Verify(%q) accepted a token without a subject", token)
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("Verify(%q) accepted %d segments", token, len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(parts[0] + "." + parts[1]))
		if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
			t.Fatalf("Verify(%q) accepted a signature that is not the secret's", token)
		}
		var header struct{ Alg string }
		if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &header) != nil || header.Alg != "HS256" {
			t.Fatalf("Verify(%q) accepted a header that is not HS256", token)
		}
		again, err := a.Verify(token) // from the cache now: the same answer
		if err != nil || again.Subject != c.Subject || !slices.Equal(again.Roles, c.Roles) {
			t.Fatalf("Verify(%q) again: got %+v, %v; want %+v", token, again, err, c)
		}
	})
}

// FuzzIssueVerify: what Issue signs, Verify returns unchanged, and the
// token with any one byte changed is refused or names the same claims.
func FuzzIssueVerify(f *testing.F) {
	a := fuzzAuthority(f)
	f.Add("ada", "admin", int64(3600), 0, byte(1))
	f.Add("user-1", "user,ops", int64(1), 17, byte(0x20))
	f.Add("日本語 \u202e", "", int64(86400*365), -1, byte(0x80))
	f.Add(`"quoted\"`, ",,", int64(60), 1000, byte(0xff))
	f.Fuzz(func(t *testing.T, subject, roles string, ttlSeconds int64, pos int, xor byte) {
		if subject == "" || !utf8.ValidString(subject) || !utf8.ValidString(roles) {
			return // Issue refuses the first; JSON replaces bad UTF-8 in the others
		}
		var rs []string
		if roles != "" {
			rs = strings.Split(roles, ",")
		}
		ttl := time.Duration(1+(ttlSeconds&(1<<32-1))) * time.Second // 1 s to 136 years
		tok, err := a.Issue(subject, rs, ttl)
		if err != nil {
			t.Fatalf("Issue(%q, %q, %s): %v", subject, rs, ttl, err)
		}
		c, err := a.Verify(tok)
		if err != nil || c.Subject != subject || !slices.Equal(c.Roles, rs) {
			t.Fatalf("Verify(Issue(%q, %q)): got %+v, %v", subject, rs, c, err)
		}
		if xor == 0 {
			xor = 1
		}
		b := []byte(tok)
		i := ((pos % len(b)) + len(b)) % len(b)
		b[i] ^= xor
		forged, err := a.Verify(string(b))
		if err == nil && (forged.Subject != c.Subject || !slices.Equal(forged.Roles, c.Roles)) {
			t.Fatalf("token %q changed at byte %d accepted as %+v", tok, i, forged)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("changed token: got %v, want ErrInvalidToken", err)
		}
	})
}
