//go:build !fuzzing

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite"
	"github.com/rosterhq/roster/internal/tracing"
)

// tracedEngines are the engines with their statement spans on, as serve
// opens them when tracing is; system is their db.system.name, and
// importStmt the statement each import batch runs.
var tracedEngines = []struct {
	name, system, importStmt string
	open                     func(t *testing.T) roster.UserStore
}{
	{"sqlite", "sqlite", "ImportUser", func(t *testing.T) roster.UserStore {
		t.Helper()
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roster.db"), sqlite.Options{Tracing: true})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		migrateUp(t, db.Migrator)
		return db
	}},
	{"postgres", "postgresql", "COPY", func(t *testing.T) roster.UserStore {
		t.Helper()
		db, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{Tracing: true})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(db.Close)
		migrateUp(t, db.Migrator)
		return db
	}},
}

// spanTree is what one request left in the recorder; system is the
// engine's db.system.name.
type spanTree struct {
	t      *testing.T
	system string
	spans  []sdktrace.ReadOnlySpan
}

func (st spanTree) root() sdktrace.ReadOnlySpan {
	st.t.Helper()
	var roots []sdktrace.ReadOnlySpan
	for _, s := range st.spans {
		if s.SpanKind() == trace.SpanKindServer {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 {
		st.t.Fatalf("got %d server spans, want 1: %s", len(roots), st)
	}
	return roots[0]
}

func (st spanTree) children(parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range st.spans {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() && s.SpanContext().TraceID() == parent.SpanContext().TraceID() {
			out = append(out, s)
		}
	}
	return out
}

// child is parent's only child named name.
func (st spanTree) child(parent sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	st.t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range st.children(parent) {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		st.t.Fatalf("%s: got %d children named %q, want 1: %s", parent.Name(), len(found), name, st)
	}
	return found[0]
}

func (st spanTree) String() string {
	var b strings.Builder
	for _, s := range st.spans {
		fmt.Fprintf(&b, "\n  %s %s parent=%s kind=%s status=%s", s.SpanContext().SpanID(), s.Name(), s.Parent().SpanID(), s.SpanKind(), s.Status().Code)
	}
	return b.String()
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := attr(s, k)
		if !ok || got.String() != v {
			t.Errorf("%s: attribute %s got %q (set %v), want %q", s.Name(), k, got.String(), ok, v)
		}
	}
}

// sqlSpans checks parent's SQL children: at least one, each a client span
// named by a statement, with no value of the request anywhere in it.
func (st spanTree) sqlSpans(parent sdktrace.ReadOnlySpan, secrets ...string) []string {
	st.t.Helper()
	var names []string
	var walk func(sdktrace.ReadOnlySpan)
	walk = func(p sdktrace.ReadOnlySpan) {
		for _, s := range st.children(p) {
			if s.SpanKind() == trace.SpanKindClient {
				names = append(names, s.Name())
				if v, _ := attr(s, "db.system.name"); v.AsString() != st.system {
					st.t.Errorf("%s: db.system.name %q, want %s", s.Name(), v.AsString(), st.system)
				}
				for _, kv := range s.Attributes() {
					for _, secret := range secrets {
						if strings.Contains(kv.Value.String(), secret) || strings.Contains(s.Name(), secret) {
							st.t.Errorf("%s: %s carries %q", s.Name(), kv.Key, secret)
						}
					}
				}
			}
			walk(s)
		}
	}
	walk(parent)
	if len(names) == 0 {
		st.t.Errorf("%s: no SQL spans under it: %s", parent.Name(), st)
	}
	return names
}

// TestTraceSpans drives requests through the real chain with an
// in-memory recorder and checks the span tree each leaves.
func TestTraceSpans(t *testing.T) {
	for _, e := range tracedEngines {
		t.Run(e.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			h := newHarness(t, e.open(t), func(c *httpapi.Config) {
				c.Tracer, c.TrustTraceparent = tp, true
				c.Logger = slog.New(tracing.NewLogHandler(c.Logger.Handler()))
			})
			// do makes one request and returns the spans it ended.
			do := func(r request) (spanTree, *http.Response) {
				t.Helper()
				before := len(rec.Ended())
				resp := h.do(r).Result()
				return spanTree{t: t, system: e.system, spans: rec.Ended()[before:]}, resp
			}

			t.Run("create", func(t *testing.T) {
				const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
				st, resp := do(request{method: "POST", path: "/api/users", token: h.admin,
					body: userJSON("Ada Lovelace", "ada@example.com"), header: http.Header{"Traceparent": {parent}}})
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status got %d, want 201", resp.StatusCode)
				}
				root := st.root()
				if root.Name() != "POST /api/users" {
					t.Errorf("server span name got %q, want %q", root.Name(), "POST /api/users")
				}
				if got := root.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
					t.Errorf("trace id got %s, want the caller's", got)
				}
				if got := root.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
					t.Errorf("parent span got %s, want the caller's", got)
				}
				wantAttrs(t, root, map[string]string{
					"http.request.method":       "POST",
					"http.route":                "/api/users",
					"http.response.status_code": "201",
					"user.id":                   "admin-1",
				})
				if root.Status().Code != codes.Unset {
					t.Errorf("server span status got %v, want unset", root.Status().Code)
				}
				want := fmt.Sprintf("00-%s-%s-01", root.SpanContext().TraceID(), root.SpanContext().SpanID())
				if got := resp.Header.Get("Traceresponse"); got != want {
					t.Errorf("traceresponse got %q, want %q", got, want)
				}
				svc := st.child(root, "roster.CreateUser")
				st.sqlSpans(svc, "ada@example.com", "Ada Lovelace")
				// The access log line carries the ids.
				line := lastLogLine(t, h, "request")
				if line["trace_id"] != root.SpanContext().TraceID().String() || line["span_id"] != root.SpanContext().SpanID().String() {
					t.Errorf("access log trace_id/span_id got %v/%v, want the server span's", line["trace_id"], line["span_id"])
				}
			})

			t.Run("create conflict", func(t *testing.T) {
				st, resp := do(request{method: "POST", path: "/api/users", token: h.admin, body: userJSON("Ada Again", "ada@example.com")})
				if resp.StatusCode != http.StatusConflict {
					t.Fatalf("status got %d, want 409", resp.StatusCode)
				}
				root := st.root()
				wantAttrs(t, root, map[string]string{"http.response.status_code": "409", "error.type": "CONFLICT"})
				if root.Status().Code != codes.Unset {
					t.Errorf("server span of a 4xx: status got %v, want unset", root.Status().Code)
				}
				svc := st.child(root, "roster.CreateUser")
				if svc.Status().Code != codes.Error || svc.Status().Description != "CONFLICT" {
					t.Errorf("service span status got %v %q, want Error CONFLICT", svc.Status().Code, svc.Status().Description)
				}
				st.sqlSpans(svc, "ada@example.com")
			})

			t.Run("list", func(t *testing.T) {
				st, resp := do(request{method: "GET", path: "/api/users?limit=5", token: h.admin})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status got %d, want 200", resp.StatusCode)
				}
				root := st.root()
				if root.Name() != "GET /api/users" {
					t.Errorf("server span name got %q", root.Name())
				}
				svc := st.child(root, "roster.ListUsers")
				st.sqlSpans(svc)
			})

			t.Run("get by id names the route, not the path", func(t *testing.T) {
				id := "0190d3e2-0000-7000-8000-000000000000"
				st, _ := do(request{method: "GET", path: "/api/users/" + id, token: h.admin})
				root := st.root()
				if root.Name() != "GET /api/users/{id}" {
					t.Errorf("server span name got %q, want GET /api/users/{id}", root.Name())
				}
				wantAttrs(t, root, map[string]string{"http.route": "/api/users/{id}", "http.response.status_code": "404"})
			})

			t.Run("import", func(t *testing.T) {
				// One row more than a batch: two batches.
				var body strings.Builder
				for i := range roster.ImportBatchSize + 1 {
					fmt.Fprintf(&body, `{"name":"User %d","email":"u%d@example.com"}`+"\n", i, i)
				}
				st, resp := do(request{method: "POST", path: "/api/users/import", token: h.admin, body: body.String(), contentType: "application/x-ndjson"})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status got %d, want 200", resp.StatusCode)
				}
				root := st.root()
				svc := st.child(root, "roster.ImportUsers")
				var batches []sdktrace.ReadOnlySpan
				for _, s := range st.children(svc) {
					if s.Name() == "roster.import.batch" {
						batches = append(batches, s)
					}
				}
				if len(batches) != 2 {
					t.Fatalf("got %d batch spans, want 2: %s", len(batches), st)
				}
				wantAttrs(t, batches[0], map[string]string{"roster.import.rows": fmt.Sprint(roster.ImportBatchSize), "roster.import.last": "false"})
				wantAttrs(t, batches[1], map[string]string{"roster.import.rows": "1", "roster.import.last": "true"})
				for _, b := range batches {
					names := st.sqlSpans(b, "u1@example.com")
					if !strings.Contains(strings.Join(names, " "), e.importStmt) {
						t.Errorf("batch: no %s span among %v", e.importStmt, names)
					}
				}
			})
		})
	}
}

// TestTraceUntrustedParent: with TrustTraceparent off, a caller's
// traceparent is a link of a new trace, not its parent.
func TestTraceUntrustedParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h := newHarness(t, tracedEngines[0].open(t), func(c *httpapi.Config) { c.Tracer = tp })
	h.do(request{method: "GET", path: "/health", header: http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}})
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.SpanContext().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().IsValid() {
		t.Errorf("span joined the caller's trace (trace %s, parent %s), want a new root", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("links got %v, want the caller's span", s.Links())
	}
}

// lastLogLine is the last JSON log record with message msg.
func lastLogLine(t *testing.T, h *harness, msg string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log record %q", msg)
	return nil
}

// TestTraceEventDelivery: a delivery of an event on a stream is a span of
// its own, linked to the write that made the event and to the request
// that opened the stream.
func TestTraceEventDelivery(t *testing.T) {
	for _, e := range tracedEngines {
		t.Run(e.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			h := newHarness(t, e.open(t), func(c *httpapi.Config) { c.Tracer, c.TrustTraceparent = tp, true })
			srv := httptest.NewServer(h.srv)
			t.Cleanup(srv.Close) // after the stream's cleanup
			const subscriber = "00-11111111111111111111111111111111-2222222222222222-01"
			s := openStream(t, srv.URL, h.admin, http.Header{"Traceparent": {subscriber}}, "")

			before := len(rec.Ended())
			h.do(request{method: "POST", path: "/api/users", token: h.admin, body: userJSON("Ada", "ada@example.com")})
			st := spanTree{t: t, system: e.system, spans: rec.Ended()[before:]}
			write := st.child(st.root(), "roster.CreateUser")
			ev := s.next()
			if ev.event != "user.created" {
				t.Fatalf("got event %+v, want user.created", ev)
			}
			// The span ends once the frame is written; the client may
			// read it first.
			var deliver sdktrace.ReadOnlySpan
			for deadline := time.Now().Add(10 * time.Second); deliver == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				for _, sp := range rec.Ended() {
					if sp.Name() == "roster.event.deliver" {
						deliver = sp
					}
				}
			}
			if deliver == nil {
				t.Fatal("no roster.event.deliver span")
			}
			if deliver.Parent().IsValid() || deliver.SpanKind() != trace.SpanKindProducer {
				t.Errorf("delivery: parent %v, kind %s; want a new trace's root, producer", deliver.Parent().SpanID(), deliver.SpanKind())
			}
			wantAttrs(t, deliver, map[string]string{"roster.event.id": ev.id, "roster.event.type": "user.created", "user.id": "admin-1"})
			links := map[string]trace.SpanContext{}
			for _, l := range deliver.Links() {
				for _, kv := range l.Attributes {
					if kv.Key == "roster.link" {
						links[kv.Value.AsString()] = l.SpanContext
					}
				}
			}
			if got := links["write"]; got.TraceID() != write.SpanContext().TraceID() || got.SpanID() != write.SpanContext().SpanID() {
				t.Errorf("write link: got %s/%s, want the create's service span %s/%s", got.TraceID(), got.SpanID(),
					write.SpanContext().TraceID(), write.SpanContext().SpanID())
			}
			if got := links["subscription"]; got.TraceID().String() != "11111111111111111111111111111111" || !got.IsValid() {
				t.Errorf("subscription link: got %s/%s, want the stream's request span, in the subscriber's trace", got.TraceID(), got.SpanID())
			}
		})
	}
}
