// Package feed fans committed changes out to live subscribers.
//
// The events table is the source of truth: a Broker per process reads it
// in id order whenever the store says something may have been committed
// (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite) and on a slow timer
// besides, so a lost notification delays an event but never loses it.
// Subscribers resume from any retained event id: their backlog is read
// from the store, then they switch to the live stream without a gap or a
// duplicate.
//
// Fan-out is one shared ring of the latest events, not a queue per
// subscriber: the broker appends each event once and wakes every waiting
// subscriber with one channel close, and each subscriber reads the ring at
// its own pace. A burst larger than the ring costs a subscriber a read of
// the store (as a resume does), not its stream; only one that lags more
// than MaxLag events behind live is dropped (it can resume). So memory per
// subscriber is bounded and no subscriber slows writers or others.
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
	Buffer         int           // latest events kept in memory, shared by all subscribers (default 1024); one further behind reads the store
	MaxLag         int           // events a subscriber may lag behind live before it is dropped (default 10,000)
	MaxSubscribers int           // 0: unlimited
	MaxPerSubject  int           // subscriptions of one subject (token sub); 0: unlimited
	Retention      time.Duration // events older than this are purged (default 24h)
	PollInterval   time.Duration // fallback read of the events table (default 1s)
	// Now is the clock that dates events (the service's): purging judges
	// their age by it. Nil means time.Now.
	Now func() time.Time
}

// Broker is the per-process fan-out.
type Broker struct {
	store     roster.EventStore
	log       *slog.Logger
	maxLag    uint64
	max       int
	perSub    int
	retention time.Duration
	poll      time.Duration
	now       func() time.Time
	wake      chan struct{}

	// mu guards what follows. Subscribers read the ring under the read
	// lock; the broker writes it, and anything else changes, under the lock.
	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	bySub  map[string]int  // open subscriptions per subject, when perSub > 0
	last   int64           // highest event id delivered to the live stream
	ring   []*roster.Event // the latest events: the one numbered n at ring[n % len(ring)]
	seq    uint64          // events delivered to the live stream so far
	notify chan struct{}   // closed (and replaced) when events are added
	ready  chan struct{}
	closed bool
}

// readBatch is how many ring entries a subscriber takes per read lock.
const readBatch = 64

// New returns a Broker; Run makes it live.
func New(cfg Config) *Broker {
	b := &Broker{
		store: cfg.Store, log: cfg.Logger, maxLag: uint64(max(cfg.MaxLag, 0)), max: cfg.MaxSubscribers, perSub: cfg.MaxPerSubject,
		retention: cfg.Retention, poll: cfg.PollInterval, now: cfg.Now,
		wake: make(chan struct{}, 1), subs: map[*Subscription]struct{}{}, bySub: map[string]int{}, ready: make(chan struct{}),
		notify: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	size := cfg.Buffer
	if size <= 0 {
		size = 1024
	}
	b.ring = make([]*roster.Event, size)
	if b.maxLag == 0 {
		b.maxLag = 10_000
	}
	if b.retention <= 0 {
		b.retention = 24 * time.Hour
	}
	if b.poll <= 0 {
		b.poll = time.Second
	}
	if b.now == nil {
		b.now = time.Now
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

// deliver reads every event after the last delivered one and fans it out:
// into the ring, then one wake-up for all waiting subscribers. The work
// under the lock is per event plus one check per subscriber, not per
// event and subscriber.
func (b *Broker) deliver(ctx context.Context) error {
	for {
		b.mu.RLock()
		after := b.last
		b.mu.RUnlock()
		events, err := b.store.EventsAfter(ctx, after, 500)
		if err != nil || len(events) == 0 {
			return err
		}
		b.mu.Lock()
		for i := range events {
			b.ring[b.seq%uint64(len(b.ring))] = &events[i]
			b.seq++
		}
		b.last = events[len(events)-1].ID
		for s := range b.subs {
			if b.seq-s.seq > b.maxLag {
				b.drop(s, ErrSlowConsumer)
			}
		}
		close(b.notify)
		b.notify = make(chan struct{})
		b.mu.Unlock()
	}
}

func (b *Broker) purge(ctx context.Context) {
	n, err := b.store.PurgeEvents(ctx, b.now().Add(-b.retention))
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
	done    chan struct{}
	err     error  // set before done is closed
	seq     uint64 // the ring number of the next live event to take; written under b.mu (read lock by Next)
	horizon int64  // events up to here come from the store, later ones live
	next    int64  // the id after which Next continues
	backlog []roster.Event
	// ahead is set on a reset whose Last-Event-ID is beyond the newest
	// event: no lost history, but an id this stream never sent.
	ahead bool
	taken []*roster.Event // live events taken from the ring; taken[took:] not yet returned
	took  int
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
	// The store's newest id, not only the broker's: an event committed
	// before this call but not yet seen by the broker is history, not live.
	oldest, newest, err := b.store.EventBounds(ctx)
	if err != nil {
		return nil, false, err
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
	s = &Subscription{b: b, subject: subject, done: make(chan struct{}), seq: b.seq, horizon: b.last}
	// Purged events between the client's and the oldest retained one, or
	// an id from the future (another database), mean a gap we cannot fill.
	if after >= 0 && (after+1 < oldest || after > newest) {
		reset = true
		s.ahead = after > newest
	}
	if after < 0 || reset {
		// Live from here: ring events up to newest are skipped by Next.
		after = max(b.last, newest)
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
	for {
		select {
		case <-s.done:
			return roster.Event{}, s.err
		default:
		}
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
			// The backlog is done: what follows (purged history aside) is
			// in the ring, from the number taken with the horizon on.
			s.backlog, s.horizon = nil, s.next
		}
		if s.took < len(s.taken) {
			ev := s.taken[s.took]
			s.taken[s.took] = nil // the ring, not a reader, keeps events alive
			s.took++
			if ev.ID <= s.next {
				continue // already sent from the backlog
			}
			s.next = ev.ID
			return *ev, nil
		}
		wait := s.take()
		if wait == nil {
			continue
		}
		select {
		case <-wait:
		case <-s.done:
			return roster.Event{}, s.err
		case <-idle:
			return roster.Event{}, ErrIdle
		case <-ctx.Done():
			return roster.Event{}, ctx.Err()
		}
	}
}

// take moves the next live events from the ring to s.taken, or, when the
// ring has moved past s, sets a horizon so that Next reads the missed ones
// from the store. With nothing new it returns the channel that is closed
// when there is.
func (s *Subscription) take() <-chan struct{} {
	b := s.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := b.seq - s.seq
	switch {
	case n == 0:
		return b.notify
	case n > uint64(len(b.ring)):
		// Overwritten before s read them: everything up to b.last comes
		// from the store, and the ring from b.seq on.
		s.horizon, s.seq = b.last, b.seq
		return nil
	}
	n = min(n, readBatch)
	s.taken, s.took = s.taken[:0], 0
	for i := range n {
		s.taken = append(s.taken, b.ring[(s.seq+i)%uint64(len(b.ring))])
	}
	s.seq += n
	return nil
}

// LastID is the id of the last event Next returned (or the starting point).
func (s *Subscription) LastID() int64 { return s.next }

// Ahead reports whether Subscribe reset the subscription because the id
// it was given is beyond the newest event (another database, or a
// client's made-up id), rather than because events were purged.
func (s *Subscription) Ahead() bool { return s.ahead }

// Pending is how many events Next can return without waiting (at least;
// 1 stands for a backlog still to read from the store).
func (s *Subscription) Pending() int {
	if n := len(s.taken) - s.took; s.next < s.horizon || n > 0 {
		return max(n, 1)
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return int(min(s.b.seq-s.seq, readBatch))
}
