// Package consistency carries read-your-writes tokens through a request's
// context, between the HTTP layer and a store with read replicas, so that
// the domain between them need not know that replicas exist.
//
// A token is opaque to everyone but the store that issued it (PostgreSQL:
// the WAL position of a write's commit). The HTTP layer reads the token a
// request presents into the context with NewContext; the store reads it
// with After to decide where a read may go, and records the position of
// each write it commits with Commit; the HTTP layer returns the last one
// with the response.
package consistency

import (
	"context"
	"sync"
)

// Header is the HTTP header that carries tokens both ways.
const Header = "X-Roster-Consistency"

// MaxLen bounds a token a client presents.
const MaxLen = 64

// Valid reports whether s can be a token: 1 to MaxLen printable ASCII
// characters other than space. What it means is the store's business.
func Valid(s string) bool {
	if s == "" || len(s) > MaxLen {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Tokens is one request's: the token it presented and the position of
// its last committed write.
type Tokens struct {
	after string

	mu     sync.Mutex
	commit string
}

type key struct{}

// NewContext returns ctx carrying after (empty: none presented) and a
// place for the request's commit positions.
func NewContext(ctx context.Context, after string) (context.Context, *Tokens) {
	t := &Tokens{after: after}
	return context.WithValue(ctx, key{}, t), t
}

// After is the token the request presented, or "".
func After(ctx context.Context) string {
	if t, ok := ctx.Value(key{}).(*Tokens); ok {
		return t.after
	}
	return ""
}

// Tracked reports whether ctx has a place for commit positions: a store
// need not look its commit position up otherwise.
func Tracked(ctx context.Context) bool {
	_, ok := ctx.Value(key{}).(*Tokens)
	return ok
}

// Commit records the position of a write committed for ctx's request. A
// request's writes commit one after another, so the last is the latest.
func Commit(ctx context.Context, pos string) {
	if t, ok := ctx.Value(key{}).(*Tokens); ok {
		t.mu.Lock()
		t.commit = pos
		t.mu.Unlock()
	}
}

// Committed is the position of the request's last committed write, or "".
func (t *Tokens) Committed() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commit
}
