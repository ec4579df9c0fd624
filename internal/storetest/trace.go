package storetest

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/roster"
)

// spanContext is a sampled span context made up for a write, as a
// request's span would be.
func spanContext(t *testing.T, i byte) trace.SpanContext {
	t.Helper()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
		SpanID:     trace.SpanID{0, 0xf0, i, 1, 2, 3, 4, 5},
		TraceFlags: trace.FlagsSampled,
	})
	if !sc.IsValid() {
		t.Fatal("made-up span context is not valid")
	}
	return sc
}

// Each write's event keeps the sampled span in the write's context, for
// the feed to link its deliveries to; a write without one, or with an
// unsampled one, leaves the event's Trace not valid.
func testEventsKeepTrace(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	in := func(i byte) context.Context {
		return trace.ContextWithSpanContext(t.Context(), spanContext(t, i))
	}
	ada := newUser(t, "Ada", "ada@example.com", base)
	if _, _, err := s.CreateUser(in(1), ada, nil); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	keyed := newUser(t, "Keyed", "keyed@example.com", base)
	if _, _, err := s.CreateUser(in(2), keyed, &roster.Idempotency{Subject: "s", Key: "k", Fingerprint: "f", ExpiresAt: base.Add(time.Hour)}); err != nil {
		t.Fatalf("keyed CreateUser: %v", err)
	}
	if _, err := s.UpdateUser(in(3), ada.ID, roster.UserUpdate{Name: ptr("Ada L.")}, base.Add(time.Minute)); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if err := s.DeleteUser(in(4), keyed.ID, nil, base.Add(time.Minute)); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	tx, err := s.BeginImport(in(5), roster.ImportOptions{At: base.Add(time.Hour)})
	if err != nil {
		t.Fatalf("BeginImport: %v", err)
	}
	defer tx.Rollback()
	if _, err := tx.Write(in(5), []roster.ImportRow{{Line: 1, User: roster.User{ID: mustID(t), Name: "Imp", Email: "imp@example.com"}}}); err != nil {
		t.Fatalf("import Write: %v", err)
	}
	if err := tx.Commit(in(5), &roster.ImportSummary{Inserted: 1}); err != nil {
		t.Fatalf("import Commit: %v", err)
	}
	untraced := newUser(t, "Untraced", "untraced@example.com", base)
	if _, _, err := s.CreateUser(t.Context(), untraced, nil); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	unsampled := trace.ContextWithSpanContext(t.Context(), spanContext(t, 7).WithTraceFlags(0))
	if _, _, err := s.CreateUser(unsampled, newUser(t, "Unsampled", "unsampled@example.com", base), nil); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	evs := allEvents(t, es)
	want := []struct {
		typ   roster.EventType
		trace byte // 0: none
	}{
		{roster.EventUserCreated, 1}, {roster.EventUserCreated, 2}, {roster.EventUserUpdated, 3},
		{roster.EventUserDeleted, 4}, {roster.EventUsersImported, 5}, {roster.EventUserCreated, 0}, {roster.EventUserCreated, 0},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events %v, want %d", len(evs), eventTypes(evs), len(want))
	}
	for i, w := range want {
		ev := evs[i]
		if ev.Type != w.typ {
			t.Errorf("event %d: got type %s, want %s", i, ev.Type, w.typ)
		}
		if w.trace == 0 {
			if ev.Trace.IsValid() {
				t.Errorf("event %d (%s): got trace %s/%s, want none", i, ev.Type, ev.Trace.TraceID(), ev.Trace.SpanID())
			}
			continue
		}
		sc := spanContext(t, w.trace)
		if ev.Trace.TraceID() != sc.TraceID() || ev.Trace.SpanID() != sc.SpanID() || !ev.Trace.IsSampled() {
			t.Errorf("event %d (%s): got trace %s/%s sampled %t, want %s/%s sampled", i, ev.Type,
				ev.Trace.TraceID(), ev.Trace.SpanID(), ev.Trace.IsSampled(), sc.TraceID(), sc.SpanID())
		}
	}
}
