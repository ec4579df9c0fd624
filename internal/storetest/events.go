package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// eventReader is the outbox's side of roster.EventStore without Listen:
// every store writes the outbox, and one whose instances share no memory
// (D1) can read and purge it but not announce commits.
type eventReader interface {
	EventsAfter(ctx context.Context, after int64, limit int) ([]roster.Event, error)
	EventBounds(ctx context.Context) (oldest, newest int64, err error)
	PurgeEvents(ctx context.Context, before time.Time) (int64, error)
}

// eventStore returns the outbox of s.
func eventStore(t *testing.T, s roster.UserStore) eventReader {
	t.Helper()
	es, ok := s.(eventReader)
	if !ok {
		t.Fatalf("%T cannot read its events (EventsAfter, EventBounds, PurgeEvents)", s)
	}
	return es
}

// listener returns the roster.EventStore side of s, for Listen.
func listener(t *testing.T, s roster.UserStore) roster.EventStore {
	t.Helper()
	es, ok := s.(roster.EventStore)
	if !ok {
		t.Fatalf("%T does not implement roster.EventStore", s)
	}
	return es
}

// allEvents reads every event, in pages smaller than the suite's tests
// write, so that paging is exercised everywhere.
func allEvents(t *testing.T, es eventReader) []roster.Event {
	t.Helper()
	var all []roster.Event
	after := int64(0)
	for {
		page, err := es.EventsAfter(t.Context(), after, 7)
		if err != nil {
			t.Fatalf("EventsAfter(%d, 7): got error %v, want nil", after, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
}

// wantEvent is an expected event: its ID only has to grow.
type wantEvent struct {
	typ  roster.EventType
	id   uuid.UUID
	user *roster.User // nil for deletes
	at   time.Time
}

func created(u roster.User) wantEvent {
	return wantEvent{typ: roster.EventUserCreated, id: u.ID, user: &u, at: u.UpdatedAt}
}

func updated(u roster.User) wantEvent {
	return wantEvent{typ: roster.EventUserUpdated, id: u.ID, user: &u, at: u.UpdatedAt}
}

func deleted(id uuid.UUID, at time.Time) wantEvent {
	return wantEvent{typ: roster.EventUserDeleted, id: id, at: at}
}

// checkEvents checks that the store holds exactly want, in order, with
// increasing IDs.
func checkEvents(t *testing.T, es eventReader, want ...wantEvent) []roster.Event {
	t.Helper()
	got := allEvents(t, es)
	if len(got) != len(want) {
		t.Fatalf("got %d events %v, want %d", len(got), eventTypes(got), len(want))
	}
	for i, ev := range got {
		w := want[i] // #nosec G602 -- the lengths are equal: checked above
		op := fmt.Sprintf("event %d (%s)", i, w.typ)
		if i > 0 && ev.ID <= got[i-1].ID {
			t.Errorf("%s: got id %d after %d, want it greater", op, ev.ID, got[i-1].ID)
		}
		if ev.Type != w.typ {
			t.Errorf("%s: got type %q, want %q", op, ev.Type, w.typ)
		}
		if ev.UserID != w.id {
			t.Errorf("%s: got user id %s, want %s", op, ev.UserID, w.id)
		}
		switch {
		case w.user == nil && ev.User != nil:
			t.Errorf("%s: got user %+v, want none", op, *ev.User)
		case w.user != nil && ev.User == nil:
			t.Errorf("%s: got no user, want %+v", op, *w.user)
		case w.user != nil:
			checkUser(t, op, *ev.User, *w.user)
		}
		if ev.At.Location() != time.UTC {
			t.Errorf("%s: got at in %v, want UTC", op, ev.At.Location())
		}
		if !ev.At.Equal(w.at) {
			t.Errorf("%s: got at %v, want %v", op, ev.At, w.at)
		}
		if ev.At != ev.At.Truncate(time.Microsecond) {
			t.Errorf("%s: got at %v, want whole microseconds", op, ev.At)
		}
	}
	return got
}

func eventTypes(evs []roster.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%d:%s", ev.ID, ev.Type))
	}
	return out
}

// Each change writes one event, with the user as it was stored.
func testEventsOfChanges(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	checkEvents(t, es)
	ada := newUser(t, "Ada", "ada@example.com", base.Add(999*time.Nanosecond))
	got, _, err := s.CreateUser(t.Context(), ada, nil)
	if err != nil {
		t.Fatalf("CreateUser: got error %v, want nil", err)
	}
	grace := mustCreate(t, s, newUser(t, "Grace", "grace@example.com", base.Add(time.Second)))
	upd, err := s.UpdateUser(t.Context(), got.ID, roster.UserUpdate{Name: ptr("Ada L.")}, base.Add(time.Hour))
	if err != nil {
		t.Fatalf("UpdateUser: got error %v, want nil", err)
	}
	// A conditional update that holds is an update like any other.
	upd2, err := s.UpdateUser(t.Context(), got.ID, roster.UserUpdate{Email: ptr("ada@example.org"), IfUpdatedAt: &upd.UpdatedAt}, base.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("conditional UpdateUser: got error %v, want nil", err)
	}
	// A delete's event is at the time the caller gives, like the others.
	deletedAt := base.Add(3 * time.Hour)
	if err := s.DeleteUser(t.Context(), got.ID, &upd2.UpdatedAt, deletedAt); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	if err := s.DeleteUser(t.Context(), grace.ID, nil, deletedAt.Add(time.Microsecond)); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	checkEvents(t, es,
		created(got), created(grace), updated(upd), updated(upd2),
		deleted(got.ID, deletedAt), deleted(grace.ID, deletedAt.Add(time.Microsecond)))
}

// A write that fails or changes nothing writes no event: the event is in
// the write's transaction.
func testEventsNoneWithoutChange(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	ada := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	keyedUser := create(t, s, newUser(t, "Grace", "grace@example.com", base), keyed("k1", "fp1", base), false)
	stale := base.Add(-time.Second)
	at := base.Add(time.Minute)
	failures := []struct {
		name string
		op   func() error
		want error
	}{
		{"duplicate email", func() error {
			_, _, err := s.CreateUser(t.Context(), newUser(t, "Other", "ADA@example.com", at), nil)
			return err
		}, roster.ErrEmailTaken},
		{"keyed duplicate email", func() error {
			_, _, err := s.CreateUser(t.Context(), newUser(t, "Other", "ADA@example.com", at), keyed("k2", "fp2", at))
			return err
		}, roster.ErrEmailTaken},
		{"idempotency mismatch", func() error {
			_, _, err := s.CreateUser(t.Context(), newUser(t, "Other", "other@example.com", at), keyed("k1", "fp2", at))
			return err
		}, roster.ErrIdempotencyMismatch},
		{"update to a taken email", func() error {
			_, err := s.UpdateUser(t.Context(), ada.ID, roster.UserUpdate{Email: ptr("GRACE@example.com")}, at)
			return err
		}, roster.ErrEmailTaken},
		{"failed conditional update", func() error {
			_, err := s.UpdateUser(t.Context(), ada.ID, roster.UserUpdate{Name: ptr("X"), IfUpdatedAt: &stale}, at)
			return err
		}, roster.ErrPreconditionFailed},
		{"update of an unknown user", func() error {
			_, err := s.UpdateUser(t.Context(), mustID(t), roster.UserUpdate{Name: ptr("X")}, at)
			return err
		}, roster.ErrNotFound},
		{"failed conditional delete", func() error { return s.DeleteUser(t.Context(), ada.ID, &stale, at) }, roster.ErrPreconditionFailed},
		{"delete of an unknown user", func() error { return s.DeleteUser(t.Context(), mustID(t), nil, at) }, roster.ErrNotFound},
	}
	for _, f := range failures {
		checkErr(t, f.name, f.op(), f.want)
	}
	replay := create(t, s, newUser(t, "Grace", "grace@example.com", at), keyed("k1", "fp1", at), true)
	checkUser(t, "replayed CreateUser", replay, keyedUser)
	checkEvents(t, es, created(ada), created(keyedUser))
}

func testEventsAfterPages(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	var want []wantEvent
	for i := range 5 {
		u := mustCreate(t, s, newUser(t, fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@example.com", i), base.Add(time.Duration(i)*time.Second)))
		want = append(want, created(u))
	}
	all := checkEvents(t, es, want...)
	for _, tt := range []struct {
		after int64
		limit int
		want  []roster.Event
	}{
		{0, 2, all[:2]},
		{all[1].ID, 2, all[2:4]},
		{all[3].ID, 2, all[4:]},
		{all[4].ID, 2, nil},
		{all[0].ID - 1, 100, all},
		{all[2].ID, 1, all[3:4]},
		{all[4].ID + 1000, 10, nil},
	} {
		got, err := es.EventsAfter(t.Context(), tt.after, tt.limit)
		if err != nil {
			t.Fatalf("EventsAfter(%d, %d): got error %v, want nil", tt.after, tt.limit, err)
		}
		if !slices.Equal(eventTypes(got), eventTypes(tt.want)) {
			t.Errorf("EventsAfter(%d, %d): got %v, want %v", tt.after, tt.limit, eventTypes(got), eventTypes(tt.want))
		}
	}
	for _, limit := range []int{0, -1} {
		if got, err := es.EventsAfter(t.Context(), 0, limit); err == nil {
			t.Errorf("EventsAfter(0, %d): got %d events and nil error, want an error", limit, len(got))
		}
	}
}

func checkBounds(t *testing.T, es eventReader, wantOldest, wantNewest int64) {
	t.Helper()
	oldest, newest, err := es.EventBounds(t.Context())
	if err != nil {
		t.Fatalf("EventBounds: got error %v, want nil", err)
	}
	if oldest != wantOldest || newest != wantNewest {
		t.Errorf("EventBounds: got %d, %d, want %d, %d", oldest, newest, wantOldest, wantNewest)
	}
}

func purge(t *testing.T, es eventReader, before time.Time, want int64) {
	t.Helper()
	n, err := es.PurgeEvents(t.Context(), before)
	if err != nil {
		t.Fatalf("PurgeEvents(%v): got error %v, want nil", before, err)
	}
	if n != want {
		t.Errorf("PurgeEvents(%v): got %d deleted, want %d", before, n, want)
	}
}

// Purging deletes old events but never the newest, so that the newest ID
// never goes back and a new event always gets a greater one.
func testEventBoundsAndPurge(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	checkBounds(t, es, 0, 0)
	purge(t, es, base.Add(time.Hour), 0)

	u1 := mustCreate(t, s, newUser(t, "One", "one@example.com", base))
	u2 := mustCreate(t, s, newUser(t, "Two", "two@example.com", base.Add(time.Hour)))
	u3 := mustCreate(t, s, newUser(t, "Three", "three@example.com", base.Add(2*time.Hour)))
	evs := checkEvents(t, es, created(u1), created(u2), created(u3))
	checkBounds(t, es, evs[0].ID, evs[2].ID)

	purge(t, es, base.Add(time.Hour), 1) // before, not at
	checkBounds(t, es, evs[1].ID, evs[2].ID)
	purge(t, es, base.Add(24*time.Hour), 1)
	checkBounds(t, es, evs[2].ID, evs[2].ID)
	purge(t, es, base.Add(24*time.Hour), 0) // the newest stays
	checkEvents(t, es, created(u3))

	// An event older than the newest is still deleted.
	u4 := mustCreate(t, s, newUser(t, "Four", "four@example.com", base.Add(-time.Hour)))
	evs = checkEvents(t, es, created(u3), created(u4))
	if evs[1].ID <= evs[0].ID {
		t.Fatalf("got id %d after %d, want it greater", evs[1].ID, evs[0].ID)
	}
	purge(t, es, base.Add(24*time.Hour), 1)
	checkEvents(t, es, created(u4))

	// Deleting the newest event's user does not free its id.
	if err := s.DeleteUser(t.Context(), u4.ID, nil, base); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	purge(t, es, base.Add(time.Hour), 1)
	_, newest, err := es.EventBounds(t.Context())
	if err != nil {
		t.Fatalf("EventBounds: %v", err)
	}
	u5 := mustCreate(t, s, newUser(t, "Five", "five@example.com", base))
	evs = allEvents(t, es)
	if last := evs[len(evs)-1]; last.ID <= newest || last.UserID != u5.ID {
		t.Errorf("got last event %d for %s, want one after %d for %s", last.ID, last.UserID, newest, u5.ID)
	}
}

// Listen wakes once when it starts listening and after every commit, and
// returns nil when its context ends.
func testEventsListen(t *testing.T, s roster.UserStore) {
	l := StartListen(t, listener(t, s))
	l.WaitWake(t, "starting to listen")
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	l.WaitWake(t, "a create")
	if _, err := s.UpdateUser(t.Context(), u.ID, roster.UserUpdate{Name: ptr("Grace")}, base.Add(time.Hour)); err != nil {
		t.Fatalf("UpdateUser: got error %v, want nil", err)
	}
	l.WaitWake(t, "an update")
	if err := s.DeleteUser(t.Context(), u.ID, nil, base.Add(2*time.Hour)); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	l.WaitWake(t, "a delete")
	if err := l.Stop(t); err != nil {
		t.Errorf("Listen: got error %v after its context ended, want nil", err)
	}
}

// Listener runs an EventStore's Listen for a test.
type Listener struct {
	woke    chan struct{}
	cancel  context.CancelFunc
	stopped chan struct{}
	err     error // Listen's result, once stopped is closed
}

// StartListen calls es.Listen in a goroutine until Stop or the end of the
// test.
func StartListen(tb testing.TB, es roster.EventStore) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{woke: make(chan struct{}, 1), cancel: cancel, stopped: make(chan struct{})}
	go func() {
		defer close(l.stopped)
		l.err = es.Listen(ctx, func() {
			select {
			case l.woke <- struct{}{}:
			default: // a wake is already pending
			}
		})
	}()
	tb.Cleanup(func() { _ = l.Stop(tb) })
	return l
}

// listenTimeout bounds the waits of a Listener; only a failure takes it.
const listenTimeout = 10 * time.Second

// WaitWake waits for a call of wake, if none is pending, and fails the
// test if none comes.
func (l *Listener) WaitWake(tb testing.TB, after string) {
	tb.Helper()
	select {
	case <-l.woke:
	case <-l.stopped:
		tb.Fatalf("Listen returned %v before waking after %s", l.err, after)
	case <-time.After(listenTimeout):
		tb.Fatalf("Listen did not wake within %s after %s", listenTimeout, after)
	}
}

// Stop ends Listen's context and returns what Listen returned.
func (l *Listener) Stop(tb testing.TB) error {
	tb.Helper()
	l.cancel()
	select {
	case <-l.stopped:
		return l.err
	case <-time.After(listenTimeout):
		tb.Fatalf("Listen still running %s after its context ended", listenTimeout)
		return nil
	}
}

// A reader that pages with EventsAfter from the largest ID it has seen,
// while writers commit concurrently, must see every event exactly once:
// IDs must become visible in increasing order. Without that, a reader can
// pass an ID whose transaction commits later and never see its event.
func testEventsConcurrentOrder(t *testing.T, s roster.UserStore) {
	es := eventStore(t, s)
	const writers, writes = 8, 50 // per writer: a create, updates, a delete
	users := make([]roster.User, writers)
	for i := range users {
		users[i] = newUser(t, fmt.Sprintf("Writer %d", i), fmt.Sprintf("writer%d@example.com", i), base)
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			ctx := t.Context()
			if _, _, err := s.CreateUser(ctx, u, nil); err != nil {
				errs[i] = fmt.Errorf("CreateUser: %w", err)
				return
			}
			for j := range writes - 2 {
				name := fmt.Sprintf("Writer %d.%d", i, j)
				if _, err := s.UpdateUser(ctx, u.ID, roster.UserUpdate{Name: &name}, base.Add(time.Duration(j+1)*time.Second)); err != nil {
					errs[i] = fmt.Errorf("UpdateUser: %w", err)
					return
				}
			}
			if err := s.DeleteUser(ctx, u.ID, nil, base.Add(time.Duration(writes)*time.Second)); err != nil {
				errs[i] = fmt.Errorf("DeleteUser: %w", err)
			}
		})
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	defer func() { <-finished }() // no writer outlives the test, even a failed one

	// Several readers, as several feeds or instances would be: each read
	// may also be the one that makes events visible (on PostgreSQL).
	const readers = 3
	seen := make([][]roster.Event, readers)
	readErrs := make([]error, readers)
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() { seen[r], readErrs[r] = readUntil(t.Context(), es, finished) })
	}
	rg.Wait()
	if err := errors.Join(append(errs, readErrs...)...); err != nil {
		t.Fatalf("writers and readers: %v", err)
	}

	var stored []int64
	for _, ev := range allEvents(t, es) {
		stored = append(stored, ev.ID)
	}
	if len(stored) != writers*writes {
		t.Fatalf("got %d events stored, want %d", len(stored), writers*writes)
	}
	for r, evs := range seen {
		ids := make([]int64, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("reader %d saw ids out of order or twice", r)
		}
		if missed := difference(stored, ids); len(missed) > 0 {
			t.Errorf("reader %d missed %d of %d events, ids %v: they became visible after a greater id", r, len(missed), len(stored), missed)
		}
		if extra := difference(ids, stored); len(extra) > 0 {
			t.Errorf("reader %d saw ids %v that are not stored", r, extra)
		}
	}
	// Each user's events come in the order of its changes.
	for _, u := range users {
		var names []string
		for _, ev := range seen[0] {
			if ev.UserID != u.ID {
				continue
			}
			switch ev.Type {
			case roster.EventUserDeleted:
				names = append(names, "deleted")
			default:
				names = append(names, ev.User.Name)
			}
		}
		want := []string{u.Name}
		for j := range writes - 2 {
			want = append(want, fmt.Sprintf("%s.%d", u.Name, j))
		}
		want = append(want, "deleted")
		if !slices.Equal(names, want) {
			t.Errorf("events of %s: got %q, want %q", u.Name, names, want)
		}
	}
}

// readUntil pages through es with EventsAfter from the largest ID it has
// seen until a read that starts after finished is closed finds nothing
// new: such a read sees every event written before.
func readUntil(ctx context.Context, es eventReader, finished <-chan struct{}) ([]roster.Event, error) {
	var seen []roster.Event
	last := int64(0)
	for done := false; ; {
		select {
		case <-finished:
			done = true
		default:
		}
		page, err := es.EventsAfter(ctx, last, 100)
		if err != nil {
			return seen, fmt.Errorf("EventsAfter(%d): %w", last, err)
		}
		for _, ev := range page {
			seen = append(seen, ev)
			last = max(last, ev.ID)
		}
		if done && len(page) == 0 {
			return seen, nil
		}
	}
}

// difference returns the elements of a not in b.
func difference(a, b []int64) []int64 {
	in := make(map[int64]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []int64
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
