package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestNewRejectsShortSecret(t *testing.T) {
	_, err := New(Config{Secret: []byte("short")})
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes, got 5") {
		t.Fatalf("got %v, want a length error", err)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	a, err := New(Config{Secret: secret, Issuer: "roster", Audience: "api"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issue("user-1", []string{"admin", "ops"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "user-1" || !slices.Equal(c.Roles, []string{"admin", "ops"}) {
		t.Fatalf("got %+v", c)
	}
}

// Expires tells a long-lived user of one verification (an event stream)
// when Verify would start refusing the token: exp plus the leeway, the
// same from the cache.
func TestVerifyExpires(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := New(Config{Secret: secret, Leeway: 5 * time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Issue("u", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"parsed", "cached"} {
		c, err := a.Verify(tok)
		if want := t0.Add(65 * time.Second); err != nil || !c.Expires.Equal(want) {
			t.Errorf("%s: Expires %v (err %v), want %v", pass, c.Expires, err, want)
		}
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	a, _ := New(Config{Secret: secret})
	if _, err := a.Issue("", nil, time.Hour); err == nil {
		t.Error("empty subject accepted")
	}
	if _, err := a.Issue("x", nil, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := New(Config{Secret: secret, Issuer: "roster", Audience: "api", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	base := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "u", "iss": "roster", "aud": "api", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	hs := func(c jwt.MapClaims, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es256, err := jwt.NewWithClaims(jwt.SigningMethodES256, base(nil)).SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, base(nil)).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"sub":"u","exp":9999999999}`)) + "."
	// withHeader signs claims under extra header fields, such as crit.
	withHeader := func(c jwt.MapClaims, header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	future := fmt.Sprint(now.Add(time.Hour).Unix())
	past := fmt.Sprint(now.Add(-time.Hour).Unix())

	tests := []struct {
		name  string
		token string
		want  Reason // "" accepted
	}{
		{"valid", hs(base(nil), secret), ""},
		{"expired within leeway", hs(base(func(c jwt.MapClaims) { c["exp"] = now.Add(-20 * time.Second).Unix() }), secret), ""},
		{"expired beyond leeway", hs(base(func(c jwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() }), secret), ReasonExpired},
		{"missing exp", hs(base(func(c jwt.MapClaims) { delete(c, "exp") }), secret), ReasonClaims},
		{"nbf within leeway", hs(base(func(c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Second).Unix() }), secret), ""},
		{"future nbf", hs(base(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), secret), ReasonNotYetValid},
		{"future iat", hs(base(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }), secret), ReasonNotYetValid},
		{"wrong issuer", hs(base(func(c jwt.MapClaims) { c["iss"] = "other" }), secret), ReasonClaims},
		{"missing issuer", hs(base(func(c jwt.MapClaims) { delete(c, "iss") }), secret), ReasonClaims},
		{"wrong audience", hs(base(func(c jwt.MapClaims) { c["aud"] = "other" }), secret), ReasonClaims},
		{"missing sub", hs(base(func(c jwt.MapClaims) { delete(c, "sub") }), secret), ReasonClaims},
		{"roles wrong type", hs(base(func(c jwt.MapClaims) { c["roles"] = "admin" }), secret), ReasonMalformed},
		{"bad signature", hs(base(nil), []byte("another-secret-of-at-least-32-bytes")), ReasonSignature},
		{"alg none", none, ReasonSignature},
		{"ES256", es256, ReasonSignature},
		{"HS384", hs384, ReasonSignature},
		{"garbage", "a.b.c", ReasonMalformed},
		{"empty", "", ReasonMalformed},
		// RFC 7515 §4.1.11: extensions listed in crit must be understood,
		// and this server understands none.
		{"crit extension", withHeader(base(nil), map[string]any{"crit": []string{"exp"}, "exp": 1}), ReasonUnsupported},
		{"crit empty", withHeader(base(nil), map[string]any{"crit": []string{}}), ReasonUnsupported},
		{"crit not a list", withHeader(base(nil), map[string]any{"crit": "b64"}), ReasonUnsupported},
		{"kid is fine", withHeader(base(nil), map[string]any{"kid": "k1"}), ""},
		// NumericDate is a JSON number (RFC 7519 §2); a string of digits is not one.
		{"exp a string", hs(base(func(c jwt.MapClaims) { c["exp"] = future }), secret), ReasonMalformed},
		{"nbf a string", hs(base(func(c jwt.MapClaims) { c["nbf"] = past }), secret), ReasonMalformed},
		{"iat a string", hs(base(func(c jwt.MapClaims) { c["iat"] = past }), secret), ReasonMalformed},
		{"exp null", hs(base(func(c jwt.MapClaims) { c["exp"] = nil }), secret), ReasonClaims},
		{"exp fractional", hs(base(func(c jwt.MapClaims) { c["exp"] = float64(now.Add(time.Hour).Unix()) + 0.5 }), secret), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Verify(tt.token)
			if tt.want == "" && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tt.want == "" {
				return
			}
			var te *TokenError
			if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &te) || te.Reason != tt.want {
				t.Fatalf("got %v (%#v), want ErrInvalidToken for %q", err, te, tt.want)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	s1, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := GenerateSecret()
	if len(s1) < MinSecretLength || s1 == s2 {
		t.Fatalf("secrets %q and %q: want distinct, at least %d bytes", s1, s2, MinSecretLength)
	}
	if _, err := New(Config{Secret: []byte(s1)}); err != nil {
		t.Fatalf("generated secret refused: %v", err)
	}
}

// A verified token is remembered, but its expiry still applies, and the
// cache stays bounded.
func TestVerifyCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := New(Config{Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := a.Issue("u", []string{"admin"}, time.Minute)
	for range 2 { // parsed, then cached
		if c, err := a.Verify(tok); err != nil || c.Subject != "u" || !slices.Equal(c.Roles, []string{"admin"}) {
			t.Fatalf("got %+v, %v", c, err)
		}
	}
	// A token differing in one signature byte is not the cached one.
	forged := tok[:len(tok)-2] + map[bool]string{true: "A", false: "B"}[tok[len(tok)-2] != 'A'] + tok[len(tok)-1:]
	if _, err := a.Verify(forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged token: got %v", err)
	}
	now = now.Add(time.Minute + DefaultLeeway + time.Second)
	if _, err := a.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired cached token: got %v, want ErrInvalidToken", err)
	}
	for i := range verifiedCacheSize + 100 {
		tok, _ := a.Issue(fmt.Sprint("user-", i), nil, time.Hour)
		if _, err := a.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.verified); n > verifiedCacheSize {
		t.Errorf("cache holds %d tokens, bound is %d", n, verifiedCacheSize)
	}
}
