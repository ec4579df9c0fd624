package sqlite

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/roster"
)

// traceUnder runs fn under a root span of tp and returns the spans that
// ended under it, the root last.
func traceUnder(t *testing.T, tp *sdktrace.TracerProvider, rec *tracetest.SpanRecorder, fn func(ctx context.Context)) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	t.Helper()
	before := len(rec.Ended())
	ctx, root := tp.Tracer("test").Start(t.Context(), "request")
	fn(ctx)
	root.End()
	ended := rec.Ended()[before:]
	if len(ended) == 0 || ended[len(ended)-1].Name() != "request" {
		t.Fatalf("the root span did not end last")
	}
	return ended[len(ended)-1], ended[:len(ended)-1]
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name()
	}
	return names
}

// checkStatementSpans checks that each span is a client span of root's,
// of SQLite, carrying none of secrets.
func checkStatementSpans(t *testing.T, root sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		if s.Parent().SpanID() != root.SpanContext().SpanID() || s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s: parent got %s, want the root %s", s.Name(), s.Parent().SpanID(), root.SpanContext().SpanID())
		}
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("%s: kind got %s, want client", s.Name(), s.SpanKind())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
			for _, secret := range secrets {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("%s: %s carries %q", s.Name(), kv.Key, secret)
				}
			}
		}
		if attrs["db.system.name"] != "sqlite" || attrs["db.operation.name"] != s.Name() {
			t.Errorf("%s: attributes got %v, want db.system.name sqlite and db.operation.name %s", s.Name(), attrs, s.Name())
		}
	}
}

// TestStatementSpans: with Options.Tracing, each statement of a store
// call is a client span of the caller's span, named by sqlc's name.
func TestStatementSpans(t *testing.T) {
	db := mustOpenMigratedWith(t, Options{Tracing: true})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ada := roster.User{ID: uuid.New(), Name: "Ada Lovelace", Email: "ada@example.com", CreatedAt: now, UpdatedAt: now}

	t.Run("create", func(t *testing.T) {
		idem := &roster.Idempotency{Subject: "admin-1", Key: "k1", Fingerprint: "f1", ExpiresAt: now.Add(time.Hour)}
		root, spans := traceUnder(t, tp, rec, func(ctx context.Context) {
			if _, _, err := db.CreateUser(ctx, ada, idem); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
		})
		want := []string{"BEGIN", "PurgeIdempotencyKeys", "ClaimIdempotencyKey", "CreateUser", "AppendEvent", "COMMIT"}
		if got := spanNames(spans); !slices.Equal(got, want) {
			t.Fatalf("spans got %v, want %v", got, want)
		}
		checkStatementSpans(t, root, spans, ada.Email, ada.Name, ada.ID.String(), "k1")
		for _, s := range spans {
			if s.Status().Code != codes.Unset {
				t.Errorf("%s: status got %v, want unset", s.Name(), s.Status())
			}
		}
	})

	t.Run("create conflict", func(t *testing.T) {
		again := roster.User{ID: uuid.New(), Name: "Ada Again", Email: ada.Email, CreatedAt: now, UpdatedAt: now}
		root, spans := traceUnder(t, tp, rec, func(ctx context.Context) {
			if _, _, err := db.CreateUser(ctx, again, nil); !errors.Is(err, roster.ErrEmailTaken) {
				t.Fatalf("CreateUser: got %v, want ErrEmailTaken", err)
			}
		})
		// No COMMIT: the transaction is rolled back.
		if got, want := spanNames(spans), []string{"BEGIN", "CreateUser"}; !slices.Equal(got, want) {
			t.Fatalf("spans got %v, want %v", got, want)
		}
		checkStatementSpans(t, root, spans, again.Email)
		s := spans[1]
		if s.Status().Code != codes.Error || s.Status().Description != "2067" { // SQLITE_CONSTRAINT_UNIQUE
			t.Errorf("CreateUser: status got %v %q, want Error 2067", s.Status().Code, s.Status().Description)
		}
	})

	t.Run("get and list", func(t *testing.T) {
		root, spans := traceUnder(t, tp, rec, func(ctx context.Context) {
			if _, err := db.User(ctx, ada.ID); err != nil {
				t.Fatalf("User: %v", err)
			}
			if _, err := db.ListUsers(ctx, roster.ListQuery{Sort: roster.SortNewest, Limit: 10}); err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
		})
		if got, want := spanNames(spans), []string{"GetUser", "ListUsersNewest"}; !slices.Equal(got, want) {
			t.Fatalf("spans got %v, want %v", got, want)
		}
		checkStatementSpans(t, root, spans)
	})

	t.Run("import and export", func(t *testing.T) {
		rows := []roster.ImportRow{
			{Line: 1, User: roster.User{ID: uuid.New(), Name: "Grace", Email: "grace@example.com"}},
			{Line: 2, User: roster.User{ID: uuid.New(), Name: "Edsger", Email: "edsger@example.com"}},
		}
		root, spans := traceUnder(t, tp, rec, func(ctx context.Context) {
			tx, err := db.BeginImport(ctx, roster.ImportOptions{At: now})
			if err != nil {
				t.Fatalf("BeginImport: %v", err)
			}
			defer tx.Rollback()
			if _, err := tx.Write(ctx, rows); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := tx.Commit(ctx, &roster.ImportSummary{Inserted: 2}); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if err := db.ExportUsers(ctx, roster.UserFilter{}, func(roster.User) error { return nil }); err != nil {
				t.Fatalf("ExportUsers: %v", err)
			}
		})
		// The batch is one span, not one per row; the export reads in
		// a transaction of its own.
		want := []string{"BEGIN", "ImportUser", "AppendEvent", "COMMIT", "BEGIN", "ListUsersOldest"}
		if got := spanNames(spans); !slices.Equal(got, want) {
			t.Fatalf("spans got %v, want %v", got, want)
		}
		checkStatementSpans(t, root, spans, "grace@example.com")
		var size int64
		for _, kv := range spans[1].Attributes() {
			if kv.Key == "db.operation.batch.size" {
				size = kv.Value.AsInt64()
			}
		}
		if size != 2 {
			t.Errorf("ImportUser: db.operation.batch.size got %d, want 2", size)
		}
	})

	t.Run("not sampled", func(t *testing.T) {
		off := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.NeverSample()))
		before := len(rec.Ended())
		ctx, root := off.Tracer("test").Start(t.Context(), "request")
		if _, err := db.User(ctx, ada.ID); err != nil {
			t.Fatalf("User: %v", err)
		}
		root.End()
		if n := len(rec.Ended()) - before; n != 0 {
			t.Errorf("got %d spans under an unsampled request, want 0", n)
		}
	})
}

// TestStatementSpansOff: without Options.Tracing no statement makes a
// span, even under a recording one.
func TestStatementSpansOff(t *testing.T) {
	db := mustOpenMigrated(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	now := time.Now()
	_, spans := traceUnder(t, tp, rec, func(ctx context.Context) {
		if _, _, err := db.CreateUser(ctx, roster.User{ID: uuid.New(), Name: "Ada", Email: "ada@example.com", CreatedAt: now, UpdatedAt: now}, nil); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	})
	if len(spans) != 0 {
		t.Errorf("spans got %v, want none", spanNames(spans))
	}
}
