package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
	"go.opentelemetry.io/otel/trace"
)

// GroupCommit is what the group-commit contract needs to see of an
// engine's batching of concurrent creates (internal/batch).
type GroupCommit struct {
	// Open returns a fresh, migrated, empty store, closed when t ends.
	Open func(t *testing.T) roster.UserStore
	// Hold keeps the store's writes from reaching the database (it holds
	// the connections they need) until release is called.
	Hold func(t *testing.T, s roster.UserStore) (release func())
	// Creates reports whether a batch of creates is being committed and
	// how many creates wait for the next (batch.Batcher.State).
	Creates func(s roster.UserStore) (busy bool, waiting int)
}

// RunGroupCommit checks that creates committed together answer each
// caller as if each had committed alone: with the writes held, a first
// create is out and several gather behind it, among them a taken email,
// two creates of one email, and one whose caller leaves before its batch
// starts. Then the first caller leaves too, and the writes go: every
// remaining create gets its own answer, and the store holds exactly the
// users (and user.created events) that were acknowledged.
func RunGroupCommit(t *testing.T, gc GroupCommit) {
	s := gc.Open(t)
	es := eventStore(t, s)
	taken := mustCreate(t, s, newUser(t, "Taken", "taken@example.com", base))
	at := base.Add(time.Second)
	type create struct {
		u      roster.User
		want   error // nil: created
		leaves bool  // its caller gives up before the batch starts
	}
	creates := []create{
		{u: newUser(t, "One", "one@example.com", at)},
		{u: newUser(t, "Taken again", "TAKEN@example.com", at), want: roster.ErrEmailTaken},
		{u: newUser(t, "Two", "two@example.com", at)},
		{u: newUser(t, "Two again", "two@EXAMPLE.com", at), want: roster.ErrEmailTaken},
		{u: newUser(t, "Gone", "gone@example.com", at), want: context.Canceled, leaves: true},
		{u: newUser(t, "Three", "three@example.com", at)},
	}
	wait := func(what string, ok func(busy bool, waiting int) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if ok(gc.Creates(s)) {
				return
			}
			if time.Now().After(deadline) {
				busy, waiting := gc.Creates(s)
				t.Fatalf("waiting for %s: busy %v, %d waiting", what, busy, waiting)
			}
		}
	}
	type result struct {
		u   roster.User
		err error
	}
	// Each create is made in a span of its own, which its event must keep
	// (the batch runs on the first caller's context).
	spans := map[uuid.UUID]trace.SpanContext{}
	var lastSpan byte
	start := func(ctx context.Context, u roster.User) <-chan result {
		lastSpan++
		sc := spanContext(t, lastSpan)
		spans[u.ID] = sc
		ctx = trace.ContextWithSpanContext(ctx, sc)
		ch := make(chan result, 1)
		go func() {
			got, _, err := s.CreateUser(ctx, u, nil)
			ch <- result{got, err}
		}()
		return ch
	}

	release := gc.Hold(t, s)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	firstCtx, leaveFirst := context.WithCancel(t.Context())
	defer leaveFirst()
	first := start(firstCtx, newUser(t, "First", "first@example.com", at))
	wait("the first create to be out", func(busy bool, waiting int) bool { return busy && waiting == 0 })
	results := make([]<-chan result, len(creates))
	leave := make([]context.CancelFunc, len(creates))
	for i, c := range creates {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		leave[i] = cancel
		results[i] = start(ctx, c.u)
		wait("the creates to gather", func(_ bool, waiting int) bool { return waiting == i+1 })
	}
	gathered := len(creates)
	for i, c := range creates {
		if c.leaves {
			leave[i]()
			gathered--
		}
	}
	wait("the leaving callers to be gone", func(_ bool, waiting int) bool { return waiting == gathered })
	// The first caller leaves while its create waits for the database; the
	// creates gathered behind it go on without it.
	leaveFirst()
	if r := <-first; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("first create, its caller gone: got %v, want %v", r.err, context.Canceled)
	}
	release()
	released = true

	want := []roster.User{taken}
	wantEvents := []wantEvent{created(taken)}
	for i, c := range creates {
		r := <-results[i]
		if c.want == nil {
			if r.err != nil {
				t.Errorf("create %q: got error %v, want nil", c.u.Email, r.err)
				continue
			}
			checkUser(t, "CreateUser", r.u, c.u)
			want = append(want, c.u)
			wantEvents = append(wantEvents, created(c.u))
			continue
		}
		if !errors.Is(r.err, c.want) {
			t.Errorf("create %q: got error %v, want %v", c.u.Email, r.err, c.want)
		}
	}
	got, err := s.ListUsers(t.Context(), roster.ListQuery{Sort: roster.SortOldest, Limit: 100})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	slices.SortFunc(want, compareUsers(roster.SortOldest))
	checkUsers(t, "ListUsers", got, want)
	// One user.created per user acknowledged, none for the others; a
	// batch's events are in the order its creates gathered.
	for _, ev := range checkEvents(t, es, wantEvents...)[1:] {
		if want := spans[ev.UserID]; !ev.Trace.Equal(want.WithRemote(true)) && !ev.Trace.Equal(want) {
			t.Errorf("event of %s: trace %s/%s, want its create's %s/%s", ev.UserID, ev.Trace.TraceID(), ev.Trace.SpanID(), want.TraceID(), want.SpanID())
		}
	}
	if busy, waiting := gc.Creates(s); busy || waiting != 0 {
		t.Errorf("after the creates: busy %v, %d waiting; want idle", busy, waiting)
	}
}
