package feed

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// memEvents is an in-memory outbox with the EventStore contract.
type memEvents struct {
	mu     sync.Mutex
	events []roster.Event
	wakers []func()
}

func (m *memEvents) append(n int) {
	m.mu.Lock()
	for range n {
		var next int64 = 1
		if len(m.events) > 0 {
			next = m.events[len(m.events)-1].ID + 1
		}
		m.events = append(m.events, roster.Event{ID: next, Type: roster.EventUserCreated, UserID: uuid.New(), At: time.Now()})
	}
	wakers := append([]func(){}, m.wakers...)
	m.mu.Unlock()
	for _, w := range wakers {
		w()
	}
}

func (m *memEvents) EventsAfter(_ context.Context, after int64, limit int) ([]roster.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []roster.Event
	for _, e := range m.events {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memEvents) EventBounds(context.Context) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) == 0 {
		return 0, 0, nil
	}
	return m.events[0].ID, m.events[len(m.events)-1].ID, nil
}

func (m *memEvents) PurgeEvents(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(m.events)-1 && m.events[n].At.Before(before) {
		n++
	}
	m.events = m.events[n:]
	return int64(n), nil
}

// purgeThrough drops events up to id, as retention would.
func (m *memEvents) purgeThrough(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.events) > 1 && m.events[0].ID <= id {
		m.events = m.events[1:]
	}
}

func (m *memEvents) Listen(ctx context.Context, wake func()) error {
	m.mu.Lock()
	m.wakers = append(m.wakers, wake)
	m.mu.Unlock()
	wake()
	<-ctx.Done()
	return nil
}

// start runs a broker over store until the test ends.
func start(t *testing.T, store roster.EventStore, cfg Config) *Broker {
	t.Helper()
	cfg.Store = store
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour // wake-ups only: the tests must not lean on polling
	}
	b := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return b
}

// collect reads n events from s, failing on any error.
func collect(t *testing.T, s *Subscription, n int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []int64
	for len(ids) < n {
		ev, err := s.Next(ctx, nil)
		if err != nil {
			t.Fatalf("after %d events (%v): %v", len(ids), ids, err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestLiveAndResume(t *testing.T) {
	store := &memEvents{}
	store.append(5) // history: 1..5
	b := start(t, store, Config{})

	live, reset, err := b.Subscribe(context.Background(), "sub", -1)
	if err != nil || reset {
		t.Fatal(err, reset)
	}
	resumed, reset, err := b.Subscribe(context.Background(), "sub", 2)
	if err != nil || reset {
		t.Fatal(err, reset)
	}
	store.append(3) // 6..8
	if got := collect(t, live, 3); !equal(got, 6, 8) {
		t.Errorf("live subscriber got %v, want 6..8", got)
	}
	if got := collect(t, resumed, 6); !equal(got, 3, 8) {
		t.Errorf("resumed subscriber got %v, want 3..8", got)
	}
}

// An event committed before Subscribe but not yet seen by the broker (its
// wake-up still on the way) is history to a live subscriber, not news.
func TestLiveStartsAtTheStoresNewest(t *testing.T) {
	store := &memEvents{}
	store.append(5)
	b := start(t, store, Config{})
	collect(t, subscribe(t, b, "warm", 4), 1) // the broker has seen 1..5

	store.mu.Lock() // event 6, committed, its wake-up not yet sent
	store.events = append(store.events, roster.Event{ID: 6, Type: roster.EventUserCreated, UserID: uuid.New(), At: time.Now()})
	store.mu.Unlock()
	live := subscribe(t, b, "sub", -1)
	store.append(1) // 7, and the wake-up that brings 6 and 7 to the broker
	if got := collect(t, live, 1); !equal(got, 7, 7) {
		t.Errorf("live subscriber got %v first, want 7 (6 was committed before it subscribed)", got)
	}
}

// subscribe subscribes, failing t on an error or a reset.
func subscribe(t *testing.T, b *Broker, subject string, after int64) *Subscription {
	t.Helper()
	s, reset, err := b.Subscribe(context.Background(), subject, after)
	if err != nil || reset {
		t.Fatalf("Subscribe(%d): %v, reset %v", after, err, reset)
	}
	return s
}

// Writes racing with a resume: the backlog-to-live handoff loses and
// repeats nothing.
func TestResumeDuringWrites(t *testing.T) {
	store := &memEvents{}
	store.append(100)
	b := start(t, store, Config{Buffer: 1000})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
				store.append(1)
			}
		}
	}()
	s, _, err := b.Subscribe(context.Background(), "sub", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s, 290)
	close(stop)
	wg.Wait()
	if !equal(got, 11, 300) {
		t.Errorf("got %d events from %d to %d, want 11..300 in order", len(got), got[0], got[len(got)-1])
	}
}

// A subscriber that stops reading is dropped once it lags more than
// MaxLag events behind; one that reads continues, and the broker holds
// nothing per subscriber for the one that stopped.
func TestSlowConsumerIsDroppedOthersContinue(t *testing.T) {
	store := &memEvents{}
	b := start(t, store, Config{Buffer: 4, MaxLag: 8})
	slow, _, _ := b.Subscribe(context.Background(), "sub", -1)
	healthy, _, _ := b.Subscribe(context.Background(), "sub", -1)

	// The healthy one reads each event before the next is written; the
	// slow one never reads. The broker checks the lag before it wakes
	// readers, so after event 9 is read the slow one has been dropped.
	for i := int64(1); i <= 50; i++ {
		store.append(1)
		if ids := collect(t, healthy, 1); ids[0] != i {
			t.Fatalf("healthy subscriber got %v, want [%d]", ids, i)
		}
		if i == 8 && b.Len() != 2 {
			t.Fatalf("dropped at a lag of 8, want the drop beyond MaxLag")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = slow.Next(ctx, nil)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Errorf("slow subscriber: got %v, want ErrSlowConsumer", err)
	}
	if n := b.Len(); n != 1 {
		t.Errorf("%d subscriptions left, want 1", n)
	}
}

// A burst larger than the ring (the fault suite's SIGTERM scenario: a
// few hundred events in one delivery round) does not drop a subscriber
// that reads: what the ring no longer holds comes from the store, in
// order, without gaps or repeats. Before the shared ring, each subscriber
// had a 64-event queue and every one of them was dropped by this burst.
func TestBurstDoesNotDropReaders(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		burst int
	}{
		{"defaults", Config{}, 500},
		{"burst beyond the ring", Config{Buffer: 8}, 300},
		{"several rounds beyond the ring", Config{Buffer: 8}, 1200}, // EventsAfter returns 500 at most
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := &memEvents{}
			store.append(3)
			b := start(t, store, tt.cfg)
			var subs []*Subscription
			for range 20 {
				s, _, err := b.Subscribe(context.Background(), "sub", -1)
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			}
			resumed, _, err := b.Subscribe(context.Background(), "sub", 1) // mid-backlog when the burst comes
			if err != nil {
				t.Fatal(err)
			}
			if got := collect(t, resumed, 1); got[0] != 2 {
				t.Fatalf("resumed got %v, want [2]", got)
			}
			// The burst lands while nobody reads; one subscriber has read
			// none of it when the next event comes.
			store.append(tt.burst)
			last := int64(3 + tt.burst)
			var wg sync.WaitGroup
			for i, s := range subs[1:] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got := collect(t, s, tt.burst); !equal(got, 4, last) {
						t.Errorf("subscriber %d: got %d events %d..%d, want 4..%d", i+1, len(got), got[0], got[len(got)-1], last)
					}
				}()
			}
			wg.Wait()
			store.append(1)
			if got := collect(t, subs[0], tt.burst+1); !equal(got, 4, last+1) {
				t.Errorf("the subscriber that read late: got %d events %d..%d, want 4..%d", len(got), got[0], got[len(got)-1], last+1)
			}
			if got := collect(t, resumed, tt.burst+2); !equal(got, 3, last+1) {
				t.Errorf("resumed: got %d events %d..%d, want 3..%d", len(got), got[0], got[len(got)-1], last+1)
			}
			if n := b.Len(); n != len(subs)+1 {
				t.Errorf("%d subscriptions left, want %d", n, len(subs)+1)
			}
		})
	}
}

func TestResetWhenHistoryIsGone(t *testing.T) {
	store := &memEvents{}
	store.append(10)
	store.purgeThrough(5) // 6..10 retained
	b := start(t, store, Config{})
	for _, tt := range []struct {
		after        int64
		reset, ahead bool
	}{{-1, false, false}, {5, false, false}, {10, false, false}, {4, true, false}, {0, true, false}, {11, true, true}} {
		s, reset, err := b.Subscribe(context.Background(), "sub", tt.after)
		if err != nil || reset != tt.reset || s.Ahead() != tt.ahead {
			t.Errorf("Subscribe(%d): reset %v, ahead %v, err %v; want reset %v, ahead %v", tt.after, reset, s.Ahead(), err, tt.reset, tt.ahead)
			continue
		}
		s.Close()
	}
	// After a reset the subscription is live only.
	s, _, _ := b.Subscribe(context.Background(), "sub", 2)
	store.append(1)
	if got := collect(t, s, 1); got[0] != 11 {
		t.Errorf("after reset got %v, want [11]", got)
	}
}

func TestLimitsAndClose(t *testing.T) {
	store := &memEvents{}
	b := start(t, store, Config{MaxSubscribers: 2})
	s1, _, _ := b.Subscribe(context.Background(), "sub", -1)
	if _, _, err := b.Subscribe(context.Background(), "sub", -1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Subscribe(context.Background(), "sub", -1); !errors.Is(err, ErrTooMany) {
		t.Errorf("third subscriber: got %v, want ErrTooMany", err)
	}
	s1.Close()
	s3, _, err := b.Subscribe(context.Background(), "sub", -1)
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	idle := make(chan time.Time, 1)
	idle <- time.Now()
	if _, err := s3.Next(context.Background(), idle); !errors.Is(err, ErrIdle) {
		t.Errorf("idle: got %v", err)
	}
	b.Close()
	if _, err := s3.Next(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
	if _, _, err := b.Subscribe(context.Background(), "sub", -1); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: got %v", err)
	}
}

// One subject cannot take every slot: its cap counts only its own
// subscriptions, and every way a subscription ends gives its slot back.
func TestPerSubjectLimit(t *testing.T) {
	store := &memEvents{}
	b := start(t, store, Config{MaxSubscribers: 5, MaxPerSubject: 2, MaxLag: 1})
	ctx := context.Background()
	a1, _, err := b.Subscribe(ctx, "a", -1)
	if err != nil {
		t.Fatal(err)
	}
	a2, _, err := b.Subscribe(ctx, "a", -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Subscribe(ctx, "a", -1); !errors.Is(err, ErrTooManyForSubject) {
		t.Errorf("third stream of one subject: got %v, want ErrTooManyForSubject", err)
	}
	if _, _, err := b.Subscribe(ctx, "b", -1); err != nil {
		t.Errorf("another subject: got %v, want a subscription", err)
	}
	a1.Close()
	a1.Close() // twice: released once
	a3, _, err := b.Subscribe(ctx, "a", -1)
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	if _, _, err := b.Subscribe(ctx, "a", -1); !errors.Is(err, ErrTooManyForSubject) {
		t.Errorf("a closed subscription was released twice: got %v", err)
	}
	// A slow consumer's drop frees its slot too: no one reads, and two
	// events are more than the allowed lag of one.
	store.append(2)
	for deadline := time.Now().Add(10 * time.Second); b.Len() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers left, want all dropped", b.Len())
		}
	}
	for _, s := range []*Subscription{a2, a3} {
		for {
			if _, err := s.Next(ctx, nil); err != nil {
				if !errors.Is(err, ErrSlowConsumer) {
					t.Fatalf("got %v, want ErrSlowConsumer", err)
				}
				break
			}
		}
	}
	for range 2 {
		if _, _, err := b.Subscribe(ctx, "a", -1); err != nil {
			t.Errorf("after the drops: %v", err)
		}
	}
	if n := b.Len(); n != 2 {
		t.Errorf("Len %d, want 2", n)
	}

	unlimited := start(t, &memEvents{}, Config{})
	for i := range 20 {
		if _, _, err := unlimited.Subscribe(ctx, "a", -1); err != nil {
			t.Fatalf("subscription %d without a cap: %v", i, err)
		}
	}
}

// equal reports whether ids is exactly from..to.
func equal(ids []int64, from, to int64) bool {
	if int64(len(ids)) != to-from+1 {
		return false
	}
	for i, id := range ids {
		if id != from+int64(i) {
			return false
		}
	}
	return true
}

// failingListen cannot listen at all, as behind a pooler without LISTEN.
type failingListen struct{ memEvents }

func (f *failingListen) Listen(context.Context, func()) error {
	return errors.New("LISTEN not supported")
}

// Without notifications the feed still delivers, by polling, and stops.
func TestPollingWhenListenFails(t *testing.T) {
	store := &failingListen{}
	b := start(t, store, Config{PollInterval: 10 * time.Millisecond})
	s, _, err := b.Subscribe(context.Background(), "sub", -1)
	if err != nil {
		t.Fatal(err)
	}
	store.append(2)
	if got := collect(t, s, 2); !equal(got, 1, 2) {
		t.Errorf("got %v", got)
	}
}

// purgeRecorder reports the cut-off of the first purge.
type purgeRecorder struct {
	*memEvents
	before chan time.Time
}

func (p purgeRecorder) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	select {
	case p.before <- before:
	default: // a later purge: the test reads the first
	}
	return p.memEvents.PurgeEvents(ctx, before)
}

// Retention is judged by the clock the broker is given, the one that
// dated the events, not the machine's.
func TestPurgeUsesTheClock(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	store := purgeRecorder{memEvents: &memEvents{}, before: make(chan time.Time, 1)}
	start(t, store, Config{Retention: time.Hour, Now: func() time.Time { return now }})
	if got, want := <-store.before, now.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("purged events before %s, want before %s", got, want)
	}
}
