package auth

import (
	"testing"
	"time"
)

// benchAuthority signs like production: HS256, with an issuer and an
// audience to check.
func benchAuthority(b *testing.B) *Authority {
	b.Helper()
	a, err := New(Config{Secret: []byte("benchmark-secret-of-at-least-32-bytes"), Issuer: "roster", Audience: "api"})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkVerify is the per-request cost of authentication: a typical
// token (UUID subject, one role) parsed, its signature and claims checked.
func BenchmarkVerify(b *testing.B) {
	a := benchAuthority(b)
	tok, err := a.Issue("0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", []string{"admin"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue is the cost of signing one such token.
func BenchmarkIssue(b *testing.B) {
	a := benchAuthority(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Issue("0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", []string{"admin"}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
