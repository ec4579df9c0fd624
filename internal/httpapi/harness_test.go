//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testSecret signs every token of the suite.
var testSecret = []byte("integration-test-secret-of-32+bytes!")

// engine opens a fresh, migrated store of one database engine.
type engine struct {
	name string
	open func(t *testing.T) roster.UserStore
}

// engines are the stores every integration scenario runs against.
var engines = []engine{
	{"sqlite", func(t *testing.T) roster.UserStore {
		t.Helper()
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), sqlite.Options{})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		migrateUp(t, db.Migrator)
		return db
	}},
	{"postgres", func(t *testing.T) roster.UserStore {
		t.Helper()
		db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(db.Close)
		migrateUp(t, db.Migrator)
		return db
	}},
}

func migrateUp(t *testing.T, migrator func() (*goose.Provider, error)) {
	t.Helper()
	p, err := migrator()
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
}

// forEachEngine runs test once per engine, each with a fresh store.
func forEachEngine(t *testing.T, test func(t *testing.T, h *harness)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			test(t, newHarness(t, e.open(t)))
		})
	}
}

// harness drives the real handler chain over one store.
type harness struct {
	t     *testing.T
	store roster.UserStore
	srv   *httpapi.Server
	auth  *auth.Authority
	admin string
	logs  *syncBuffer
	check func(*http.Request, []byte, *httptest.ResponseRecorder) // holds each exchange to api/openapi.yaml
}

// newHarness serves store with the given changes to the default
// configuration (no limits, no metrics).
func newHarness(t *testing.T, store roster.UserStore, configure ...func(*httpapi.Config)) *harness {
	t.Helper()
	a, err := auth.New(auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	logs := &syncBuffer{}
	clock := newTestClock()
	cfg := httpapi.Config{
		Users:  roster.NewService(store, clock.Now),
		Auth:   a,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if _, ok := store.(roster.EventStore); ok {
		startFeed(t, store, feed.Config{Now: clock.Now})(&cfg) // every engine has a change feed
	}
	for _, c := range configure {
		c(&cfg)
	}
	srv := httpapi.NewServer(cfg)
	h := &harness{t: t, store: store, srv: srv, auth: a, logs: logs, check: conformance(t)}
	t.Cleanup(func() {
		if t.Failed() { // the server's side of what went wrong
			t.Logf("server log:\n%s", logs.String())
		}
	})
	h.admin = h.token("admin-1", roster.RoleAdmin)
	return h
}

// testClock is the service's clock in the harness: each reading is a
// millisecond after the one before, so every write gets a time of its own
// (list orders, cursors and ETags can be tested without sleeping). It
// starts at the real time, so that whatever else judges times by the
// machine's clock (token expiry, a feed a test starts itself) agrees.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// token issues a valid token for sub with roles.
func (h *harness) token(sub string, roles ...string) string {
	h.t.Helper()
	tok, err := h.auth.Issue(sub, roles, time.Hour)
	if err != nil {
		h.t.Fatalf("issue token: %v", err)
	}
	return tok
}

// request is one HTTP call; zero fields mean "not sent".
type request struct {
	method, path, token, body string
	contentType               string // defaults to application/json when body is set
	header                    http.Header
	remote                    string // peer address; httptest's 192.0.2.1:1234 when empty
}

func (h *harness) do(r request) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	h.check(req, []byte(r.body), rec)
	return rec
}

// createUser creates a user as admin and returns it.
func (h *harness) createUser(name, email string) roster.User {
	h.t.Helper()
	rec := h.do(request{method: "POST", path: "/api/users", token: h.admin, body: userJSON(name, email)})
	if rec.Code != http.StatusCreated {
		h.t.Fatalf("create %s: got status %d, want 201; body %s", email, rec.Code, rec.Body)
	}
	return decodeUser(h.t, rec)
}

func userJSON(name, email string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "email": email})
	return string(b)
}

func decodeUser(t *testing.T, rec *httptest.ResponseRecorder) roster.User {
	t.Helper()
	var u roster.User
	if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil {
		t.Fatalf("decode user from %q: %v", rec.Body, err)
	}
	return u
}

// envelope is the error body every error response must have.
type envelope struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details []roster.FieldError `json:"details"`
	} `json:"error"`
}

// checkError asserts status, the JSON envelope and its code.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) envelope {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("got status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("got Content-Type %q, want application/json; charset=utf-8", ct)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("body %q is not the error envelope: %v", rec.Body, err)
	}
	if env.Error.Code != code {
		t.Errorf("got code %q, want %q (message %q)", env.Error.Code, code, env.Error.Message)
	}
	if env.Error.Message == "" {
		t.Errorf("error message is empty")
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed by the next Write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

// waitFor waits until the buffer contains s, woken by each write.
func (b *syncBuffer) waitFor(s string) {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return
		}
		if b.wrote == nil {
			b.wrote = make(chan struct{})
		}
		wrote := b.wrote
		b.mu.Unlock()
		<-wrote
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
