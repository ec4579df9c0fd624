//go:build js && wasm

// Command roster-edge is roster's API as a Cloudflare Worker: the same
// HTTP handler and service as cmd/roster, compiled to WebAssembly
// (GOOS=js GOARCH=wasm), over a D1 database (internal/d1). edge/build
// builds it, edge/worker.mjs runs it and edge/README.md says what it
// serves and what it does not.
//
// The Go runtime starts once per isolate: main registers rosterServe,
// which edge/worker.mjs calls for every request (bridge.go says how the
// two pass requests and responses), and then waits for ever, so that each
// request is a callback into the running program, not a fresh runtime.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall/js"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/d1"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// version is set at build time (-ldflags -X main.version=…).
var version = "dev"

// notImplemented are the routes the edge build answers with 501, and why.
var notImplemented = map[string]string{
	"GET /api/events": "the change feed needs one process that sees every commit and holds streams open; " +
		"Worker isolates come and go and share no memory",
	"POST /api/users/import": "a bulk import needs a body above the Workers request limit and one long transaction, which D1 has not",
	"GET /api/users/export":  "an export reads one consistent snapshot for as long as it takes, which D1 has not",
}

func main() {
	w := &worker{bridge: newBridge(), jobs: make(chan job)}
	js.Global().Set("rosterServe", js.FuncOf(w.serve))
	select {} // requests arrive as callbacks for as long as the isolate lives
}

// worker serves the requests of one isolate with one server, built from
// the Worker's environment at the first request.
type worker struct {
	bridge *bridge
	jobs   chan job // requests for the idle answering goroutines (bridge.go)
	mu     sync.Mutex
	srv    *httpapi.Server
}

// server returns the isolate's server, building it at the first call. A
// configuration error is returned to every request (as a 500 with the
// cause in the log), not cached, so fixing a secret needs no redeploy.
func (w *worker) server() (*httpapi.Server, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv != nil {
		return w.srv, nil
	}
	// Read only until the server is built: a js.Value costs a finalizer.
	srv, err := newServer(w.bridge.object.Get("env"))
	if err != nil {
		return nil, err
	}
	w.srv = srv
	return srv, nil
}

// newServer builds the server from the Worker's bindings and variables:
// DB (D1), JWT_SECRET (a secret of 32+ bytes), and optionally
// JWT_ISSUER, JWT_AUDIENCE and LOG_LEVEL, as for `roster serve`.
func newServer(env js.Value) (*httpapi.Server, error) {
	str := func(name string) string {
		if v := env.Get(name); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	secret := str("JWT_SECRET")
	if len(secret) < 32 {
		return nil, errors.New("roster-edge: JWT_SECRET must be set to 32 bytes or more (wrangler secret put JWT_SECRET)")
	}
	a, err := auth.New(auth.Config{Secret: []byte(secret), Issuer: str("JWT_ISSUER"), Audience: str("JWT_AUDIENCE")})
	if err != nil {
		return nil, fmt.Errorf("roster-edge: %w", err)
	}
	db, err := d1.Open(env.Get("DB"))
	if err != nil {
		return nil, fmt.Errorf("roster-edge: %w", err)
	}
	level := slog.LevelInfo
	if l := str("LOG_LEVEL"); l != "" {
		if err := level.UnmarshalText([]byte(l)); err != nil {
			return nil, fmt.Errorf("roster-edge: LOG_LEVEL %q: use debug, info, warn or error", l)
		}
	}
	return httpapi.NewServer(httpapi.Config{
		Users:  roster.NewService(db, nil),
		Auth:   a,
		Logger: slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})), // console.log, in the Worker's logs
		// Every isolate must read the cursors of every other, as every
		// instance of `roster serve` does: the same derivation.
		CursorKey:      deriveKey(secret, "roster list cursor v1"),
		Version:        version + " (edge)",
		NotImplemented: notImplemented,
	}), nil
}

// deriveKey is cmd/roster's: a key for one purpose from the JWT secret.
func deriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// background is the context of every request: a Worker's request ends
// with its response, and a client that goes away is not reported.
var background = context.Background()
