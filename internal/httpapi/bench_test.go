//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/bulk/bulktest"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/prommetrics"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite"
	"github.com/rosterhq/roster/internal/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The hot paths of the HTTP layer, through the whole handler chain as
// roster serve builds it (metrics, in-flight cap, deadline, access log at
// warn level; no rate limit, as in bench/run). The fake store variants
// measure the HTTP layer alone; the others add one real store call.
//
//	go test -run '^$' -bench . -benchmem ./internal/httpapi

func BenchmarkGetUser(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) roster.UserStore
	}{
		{"fake", func(*testing.B) roster.UserStore { return newFakeStore(1) }},
		{"sqlite", func(b *testing.B) roster.UserStore {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "roster.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			benchMigrate(b, db.Migrator)
			return db
		}},
		{"postgres", func(b *testing.B) roster.UserStore {
			db, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(db.Close)
			benchMigrate(b, db.Migrator)
			return db
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			store := s.open(b)
			u := benchUser(0)
			if _, ok := store.(*fakeStore); !ok {
				if _, _, err := store.CreateUser(context.Background(), u, nil); err != nil {
					b.Fatal(err)
				}
			}
			srv, token := benchServer(b, store)
			benchRequest(b, srv, token, "/api/users/"+u.ID.String(), "")
		})
	}
}

// BenchmarkGetUserTraced is BenchmarkGetUser's fake store with tracing
// off, and on at 1 % and 100 % sampling: the spans go through the SDK's
// batch processor to an exporter that drops them, so the figure is the
// cost of tracing inside the process, without the network.
func BenchmarkGetUserTraced(b *testing.B) {
	for _, tt := range []struct {
		name  string
		ratio float64 // < 0: off
	}{{"off", -1}, {"ratio-0.01", 0.01}, {"ratio-1", 1}} {
		b.Run(tt.name, func(b *testing.B) {
			store := newFakeStore(1)
			u := benchUser(0)
			var configure []func(*httpapi.Config)
			if tt.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(
					sdktrace.WithBatcher(tracetest.NewNoopExporter()),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tt.ratio))))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				configure = append(configure, func(c *httpapi.Config) {
					c.Tracer = tp
					c.Logger = slog.New(tracing.NewLogHandler(c.Logger.Handler()))
				})
			}
			srv, token := benchServer(b, store, configure...)
			benchRequest(b, srv, token, "/api/users/"+u.ID.String(), "")
		})
	}
}

// BenchmarkListUsers100 encodes a page of 100 users, as is and gzipped
// (clients that send Accept-Encoding get bodies over 1 KiB compressed).
func BenchmarkListUsers100(b *testing.B) {
	srv, token := benchServer(b, newFakeStore(200))
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			benchRequest(b, srv, token, "/api/users?per_page=100", enc)
		})
	}
}

// BenchmarkExport streams 10,000 users from memory as NDJSON and CSV,
// plain and gzipped: the HTTP layer's share of an export.
func BenchmarkExport(b *testing.B) {
	const users = 10000
	srv, token := benchServer(b, newFakeStore(users))
	for format, accept := range map[string]string{"ndjson": "application/x-ndjson", "csv": "text/csv"} {
		for _, enc := range []string{"identity", "gzip", "zstd"} {
			b.Run(format+"/"+enc, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/api/users/export", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept", accept)
				req.Header.Set("Accept-Encoding", enc)
				w := &discardWriter{header: http.Header{}}
				for b.Loop() {
					w.reset()
					srv.ServeHTTP(w, req)
				}
				if w.status != http.StatusOK {
					b.Fatalf("got status %d, want 200", w.status)
				}
				b.ReportMetric(float64(b.N*users)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkImport parses and validates 10,000 rows in each format into a
// store that only counts them: the HTTP and service layers' share of an
// import.
func BenchmarkImport(b *testing.B) {
	const rows = 10000
	ndjson, csv, array := bulktest.Bodies(rows)
	for _, f := range []struct {
		name, contentType string
		body              []byte
	}{{"ndjson", "application/x-ndjson", ndjson}, {"csv", "text/csv", csv}, {"json", "application/json", array}} {
		b.Run(f.name, func(b *testing.B) {
			srv, token := benchServer(b, newFakeStore(0))
			w := &discardWriter{header: http.Header{}}
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/users/import", bytes.NewReader(f.body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", f.contentType)
				w.reset()
				srv.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("got status %d, want 200", w.status)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchServer builds the handler chain over store and returns it with an
// admin token.
func benchServer(b *testing.B, store roster.UserStore, configure ...func(*httpapi.Config)) (http.Handler, string) {
	b.Helper()
	a, err := auth.New(auth.Config{Secret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	token, err := a.Issue("bench", []string{roster.RoleAdmin}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cfg := httpapi.Config{
		Users:          roster.NewService(store, nil),
		Auth:           a,
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics:        prommetrics.New(prometheus.NewRegistry()),
		MaxInflight:    512,
		InflightWait:   100 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
	}
	for _, c := range configure {
		c(&cfg)
	}
	return httpapi.NewServer(cfg), token
}

// benchRequest serves GET path over and over. The request and the
// response writer are reused, so allocs/op counts the server's own.
func benchRequest(b *testing.B, srv http.Handler, token, path, acceptEncoding string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	w := &discardWriter{header: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		b.Fatalf("GET %s: got status %d, want 200", path, w.status)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		srv.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("GET %s: got status %d, want 200", path, w.status)
	}
	b.ReportMetric(float64(w.bytes), "body-bytes")
}

// discardWriter is a reusable http.ResponseWriter that keeps only the
// status and the body size.
type discardWriter struct {
	header http.Header
	status int
	bytes  int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.bytes += len(p)
	return len(p), nil
}

func (w *discardWriter) reset() {
	clear(w.header)
	w.status, w.bytes = 0, 0
}

// fakeStore serves fixed users from memory. Only the reads the benchmarks
// make are implemented; the embedded nil interface makes any other call
// panic, and keeps the fake compiling when the interface grows.
type fakeStore struct {
	roster.UserStore
	users []roster.User // newest first
	byID  map[uuid.UUID]roster.User
}

func newFakeStore(n int) *fakeStore {
	s := &fakeStore{byID: make(map[uuid.UUID]roster.User, n)}
	for i := range n {
		u := benchUser(n - 1 - i)
		s.users = append(s.users, u)
		s.byID[u.ID] = u
	}
	return s
}

// benchUser is the i-th user of a fixed set: a typical name and email,
// times with microseconds as the stores return them.
func benchUser(i int) roster.User {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(i) * time.Minute)
	return roster.User{
		ID:        uuid.Must(uuid.Parse(fmt.Sprintf("0192f3c4-5d6e-7f80-9a1b-%012x", i))),
		Name:      fmt.Sprintf("Ada Lovelace %d", i),
		Email:     fmt.Sprintf("ada.lovelace%d@example.com", i),
		CreatedAt: at,
		UpdatedAt: at,
	}
}

func (s *fakeStore) User(_ context.Context, id uuid.UUID) (roster.User, error) {
	u, ok := s.byID[id]
	if !ok {
		return roster.User{}, roster.ErrNotFound
	}
	return u, nil
}

func (s *fakeStore) ListUsers(_ context.Context, q roster.ListQuery) ([]roster.User, error) {
	users := s.users[min(q.Offset, len(s.users)):]
	return users[:min(q.Limit, len(users))], nil
}

func (s *fakeStore) Ping(context.Context) error { return nil }

// ExportUsers sends the users oldest first.
func (s *fakeStore) ExportUsers(_ context.Context, _ roster.UserFilter, fn func(roster.User) error) error {
	for i := len(s.users) - 1; i >= 0; i-- {
		if err := fn(s.users[i]); err != nil {
			return err
		}
	}
	return nil
}

// BeginImport begins a transaction that takes every row as inserted and
// keeps none.
func (s *fakeStore) BeginImport(context.Context, roster.ImportOptions) (roster.ImportTx, error) {
	return fakeImportTx{}, nil
}

type fakeImportTx struct{}

func (fakeImportTx) Write(_ context.Context, rows []roster.ImportRow) ([]roster.ImportOutcome, error) {
	out := make([]roster.ImportOutcome, len(rows))
	for i := range out {
		out[i] = roster.ImportInserted
	}
	return out, nil
}
func (fakeImportTx) Commit(context.Context, *roster.ImportSummary) error { return nil }
func (fakeImportTx) Rollback()                                           {}

func benchMigrate(b *testing.B, migrator func() (*goose.Provider, error)) {
	b.Helper()
	p, err := migrator()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		b.Fatal(err)
	}
}
