// Package feed fans committed changes out to live subscribers.
//
// The events table is the source of truth: a Broker per process reads it
// in id order whenever the store says something may have been committed
// (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite) and on a slow timer
// besides, so a lost notification delays an event but never loses it.
// Subscribers resume from any retained event id: their backlog is read
// from the store, then they switch to the live stream without a gap or a
// duplicate. Each subscriber has a small bounded buffer; one that falls
// behind is dropped (it can resume) and never slows writers or others.
package feed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// Errors that end a subscription.
var (
	ErrSlowConsumer = errors.New("feed: subscriber fell behind")
	ErrClosed       = errors.New("feed: closed")
	ErrTooMany      = errors.New("feed: too many subscribers")
	// ErrTooManyForSubject refuses a subscription beyond MaxPerSubject.
	ErrTooManyForSubject = errors.New("feed: too many subscriptions for one subject")
	ErrIdle              = errors.New("feed: idle")
)

// Config configures a Broker. Zero values take the defaults.
type Config struct {
	Store          roster.EventStore
	Logger         *slog.Logger
	Buffer         int           // events a subscriber may lag behind live (default 64)
	MaxSubscribers int           // 0: unlimited
	MaxPerSubject  int           // subscriptions of one subject (token sub); 0: unlimited
	Retention      time.Duration // events older than this are purged (default 24h)
	PollInterval   time.Duration // fallback read of the events table (default 1s)
}

// Broker is the per-process fan-out.
type Broker struct {
	store     roster.EventStore
	log       *slog.Logger
	buffer    int
	max       int
	perSub    int
	retention time.Duration
	poll      time.Duration
	wake      chan struct{}

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	bySub  map[string]int // open subscriptions per subject, when perSub > 0
	last   int64          // highest event id delivered to the live stream
	ready  chan struct{}
	closed bool
}

// New returns a Broker; Run makes it live.
func New(cfg Config) *Broker {
	b := &Broker{
		store: cfg.Store, log: cfg.Logger, buffer: cfg.Buffer, max: cfg.MaxSubscribers, perSub: cfg.MaxPerSubject,
		retention: cfg.Retention, poll: cfg.PollInterval,
		wake: make(chan struct{}, 1), subs: map[*Subscription]struct{}{}, bySub: map[string]int{}, ready: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.buffer <= 0 {
		b.buffer = 64
	}
	if b.retention <= 0 {
		b.retention = 24 * time.Hour
	}
	if b.poll <= 0 {
		b.poll = time.Second
	}
	return b
}

// Run reads and fans out events until ctx ends, then closes every
// subscription. It owns the store's Listen goroutine.
func (b *Broker) Run(ctx context.Context) error {
	defer b.Close()
	_, newest, err := b.store.EventBounds(ctx)
	b.mu.Lock()
	b.last = newest
	b.closed = b.closed || err != nil // subscribers get ErrClosed, not a hang
	b.mu.Unlock()
	close(b.ready)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: not a fault
		}
		return err
	}

	listenDone := make(chan error, 1)
	go func() { listenDone <- b.store.Listen(ctx, b.Wake) }()
	poll := time.NewTicker(b.poll)
	defer poll.Stop()
	purge := time.NewTicker(time.Minute)
	defer purge.Stop()
	b.purge(ctx)
	for {
		select {
		case <-ctx.Done():
			if listenDone != nil {
				<-listenDone
			}
			return nil
		case err := <-listenDone:
			listenDone = nil // it has returned; nothing more to wait for
			if ctx.Err() != nil {
				return nil
			}
			// Listen only returns early on a fault it cannot recover; the
			// poll timer still delivers every event, just later.
			b.log.Error("event listener stopped; falling back to polling", "err", err)
		case <-b.wake:
		case <-poll.C:
		case <-purge.C:
			b.purge(ctx)
			continue
		}
		if err := b.deliver(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("reading events", "err", err)
		}
	}
}

// Wake asks Run to read new events soon; it never blocks.
func (b *Broker) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// deliver reads every event after the last delivered one and fans it out.
func (b *Broker) deliver(ctx context.Context) error {
	for {
		b.mu.Lock()
		after := b.last
		b.mu.Unlock()
		events, err := b.store.EventsAfter(ctx, after, 500)
		if err != nil || len(events) == 0 {
			return err
		}
		b.mu.Lock()
		for i := range events {
			ev := &events[i]
			for s := range b.subs {
				select {
				case s.live <- ev:
				default:
					b.drop(s, ErrSlowConsumer)
				}
			}
			b.last = ev.ID
		}
		b.mu.Unlock()
	}
}

func (b *Broker) purge(ctx context.Context) {
	n, err := b.store.PurgeEvents(ctx, time.Now().Add(-b.retention))
	if err != nil {
		b.log.Warn("purging events", "err", err)
	} else if n > 0 {
		b.log.Info("purged events", "count", n, "retention", b.retention.String())
	}
}

// drop ends s with err and frees its slots; b.mu is held. Every way a
// subscription ends comes here, once.
func (b *Broker) drop(s *Subscription, err error) {
	delete(b.subs, s)
	if b.perSub > 0 {
		if n := b.bySub[s.subject] - 1; n > 0 {
			b.bySub[s.subject] = n
		} else {
			delete(b.bySub, s.subject)
		}
	}
	s.err = err
	close(s.done)
}

// Close ends every subscription and refuses new ones (shutdown).
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.drop(s, ErrClosed)
	}
}

// Len is the number of live subscriptions.
func (b *Broker) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Subscription is one subscriber's view of the feed.
type Subscription struct {
	b       *Broker
	subject string
	live    chan *roster.Event
	done    chan struct{}
	err     error // set before done is closed
	horizon int64 // events up to here come from the store, later ones live
	next    int64 // the id after which Next continues
	backlog []roster.Event
	// ahead is set on a reset whose Last-Event-ID is beyond the newest
	// event: no lost history, but an id this stream never sent.
	ahead bool
}

// Subscribe starts a subscription for subject (who asks: the per-subject
// cap counts by it). after is the id of the last event the client has (its
// Last-Event-ID), or -1 for live events only. reset is true when after is
// no longer retained (or unknown): the client missed events and must
// resync; the subscription then starts live.
func (b *Broker) Subscribe(ctx context.Context, subject string, after int64) (s *Subscription, reset bool, err error) {
	select {
	case <-b.ready:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	var oldest, newest int64
	if after >= 0 {
		if oldest, newest, err = b.store.EventBounds(ctx); err != nil {
			return nil, false, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return nil, false, ErrClosed
	case b.max > 0 && len(b.subs) >= b.max:
		return nil, false, ErrTooMany
	case b.perSub > 0 && b.bySub[subject] >= b.perSub:
		return nil, false, ErrTooManyForSubject
	}
	s = &Subscription{b: b, subject: subject, live: make(chan *roster.Event, b.buffer), done: make(chan struct{}), horizon: b.last}
	// Purged events between the client's and the oldest retained one, or
	// an id from the future (another database), mean a gap we cannot fill.
	if after >= 0 && (after+1 < oldest || after > newest) {
		reset = true
		s.ahead = after > newest
	}
	if after < 0 || reset {
		after = b.last
	}
	s.next = after
	b.subs[s] = struct{}{}
	if b.perSub > 0 {
		b.bySub[subject]++
	}
	return s, reset, nil
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.subs[s]; ok {
		s.b.drop(s, ErrClosed)
	}
}

// Next returns the next event in id order: first the backlog from the
// store, then live ones. It returns ErrIdle when idle fires first (time
// for a keep-alive), ErrSlowConsumer or ErrClosed when the subscription
// was dropped, or ctx's error.
func (s *Subscription) Next(ctx context.Context, idle <-chan time.Time) (roster.Event, error) {
	if s.next < s.horizon {
		if len(s.backlog) == 0 {
			evs, err := s.b.store.EventsAfter(ctx, s.next, 500)
			if err != nil {
				return roster.Event{}, err
			}
			s.backlog = evs
		}
		if len(s.backlog) > 0 && s.backlog[0].ID <= s.horizon {
			ev := s.backlog[0]
			s.backlog = s.backlog[1:]
			s.next = ev.ID
			return ev, nil
		}
		// The backlog is done: what follows (purged history aside) is on
		// the live channel, which has had every event after the horizon.
		s.backlog, s.horizon = nil, s.next
	}
	for {
		select {
		case ev := <-s.live:
			if ev.ID <= s.next {
				continue // already sent from the backlog
			}
			s.next = ev.ID
			return *ev, nil
		case <-s.done:
			return roster.Event{}, s.err
		case <-idle:
			return roster.Event{}, ErrIdle
		case <-ctx.Done():
			return roster.Event{}, ctx.Err()
		}
	}
}

// LastID is the id of the last event Next returned (or the starting point).
func (s *Subscription) LastID() int64 { return s.next }

// Ahead reports whether Subscribe reset the subscription because the id
// it was given is beyond the newest event (another database, or a
// client's made-up id), rather than because events were purged.
func (s *Subscription) Ahead() bool { return s.ahead }

// Pending is how many events Next can return without waiting.
func (s *Subscription) Pending() int {
	if s.next < s.horizon {
		return 1 // backlog to read from the store
	}
	return len(s.live)
}
