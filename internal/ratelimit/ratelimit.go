// Package ratelimit gives each client its own token bucket and remembers at
// most a fixed number of clients, so a flood of distinct clients cannot grow
// memory without bound.
//
// Buckets are golang.org/x/time/rate limiters driven by an injected clock.
// There is no background goroutine: idle buckets are dropped by the Allow
// calls themselves, which keeps the package free of lifecycle (nothing to
// Close) and of OS-specific code.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys is the number of clients tracked when Config.MaxKeys is unset.
const DefaultMaxKeys = 100_000

// minIdleTTL is the shortest default IdleTTL. Buckets that refill within a
// second would otherwise be dropped and recreated for every slow client.
const minIdleTTL = time.Minute

// maxSweepEvery bounds how long an idle bucket outlives IdleTTL. A sweep
// that finds nothing to drop costs one lock per shard, so once a second is
// cheap.
const maxSweepEvery = time.Second

// maxShards is enough shards that goroutines rarely wait on the same lock,
// and few enough that each shard's LRU list still approximates a global one.
const maxShards = 64

// Config configures a Limiter.
type Config struct {
	// Rate is the number of tokens per second each client earns. Zero,
	// negative, NaN or +Inf disables limiting: every request is allowed.
	Rate float64

	// Burst is the bucket size. When <= 0 it is max(1, int(Rate)).
	Burst int

	// IdleTTL is how long a bucket may go unused before it is forgotten.
	// It defaults to the time a bucket takes to refill from empty (at least
	// a minute), so a forgotten bucket would have been full anyway; a
	// shorter IdleTTL lets a client regain its burst early. A bucket may
	// outlive IdleTTL by up to a second, until the next sweep.
	IdleTTL time.Duration

	// MaxKeys caps the number of clients tracked (default DefaultMaxKeys).
	// When full, the least recently used client is forgotten to make room;
	// its next request starts with a full bucket.
	MaxKeys int

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Decision is the outcome of one Allow, with what a caller needs for the
// RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset
// (draft-ietf-httpapi-ratelimit-headers) and Retry-After headers.
type Decision struct {
	Allowed    bool
	Limit      int           // the burst: the most a client can spend at once
	Remaining  int           // whole tokens left after this request, >= 0
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // when !Allowed, until one token is available
}

// Limiter rate-limits requests per client key. It is safe for concurrent use.
type Limiter struct {
	enabled    bool
	limit      float64
	burst      int
	idleTTL    int64 // nanoseconds
	sweepEvery int64 // nanoseconds
	now        func() time.Time

	seed   maphash.Seed
	mask   uint64
	shards []shard

	// nextSweep and entry.lastSeen are nanoseconds since epoch, the clock
	// reading at New. Subtracting time.Time values uses the monotonic clock
	// when there is one, so wall-clock steps do not make buckets look idle.
	epoch     time.Time
	nextSweep atomic.Int64
}

// New returns a Limiter for cfg, filling in the defaults described on Config.
func New(cfg Config) *Limiter {
	l := &Limiter{now: cfg.Now}
	if l.now == nil {
		l.now = time.Now
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 1) {
		return l
	}
	l.enabled = true
	l.limit = cfg.Rate

	l.burst = cfg.Burst
	if l.burst <= 0 {
		l.burst = int(max(1, min(cfg.Rate, math.MaxInt32)))
	}

	ttl := cfg.IdleTTL
	if ttl <= 0 {
		ttl = max(minIdleTTL, l.durationFor(float64(l.burst)))
	}
	l.idleTTL = int64(ttl)
	l.sweepEvery = int64(max(1, min(ttl/4, maxSweepEvery)))

	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	// Every shard must hold at least one key, and the shard capacities
	// must add up to exactly maxKeys so Len never exceeds it.
	n := maxShards
	for n > 1 && n > maxKeys {
		n /= 2
	}
	l.seed = maphash.MakeSeed()
	l.mask = uint64(n - 1) // #nosec G115 -- n is a power of two, at least 1
	l.shards = make([]shard, n)
	for i := range l.shards {
		s := &l.shards[i]
		s.entries = make(map[uint64]*entry)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.capacity = maxKeys / n
		if i < maxKeys%n {
			s.capacity++
		}
	}
	l.epoch = l.now()
	l.nextSweep.Store(l.sweepEvery)
	return l
}

// Enabled reports whether the Limiter limits anything. When it does not,
// Allow always allows and callers should omit the RateLimit headers.
func (l *Limiter) Enabled() bool { return l.enabled }

// Allow spends one token from key's bucket if it has one.
func (l *Limiter) Allow(key string) Decision {
	if !l.enabled {
		return Decision{Allowed: true}
	}
	now := l.now()
	nowNano := int64(now.Sub(l.epoch))
	h := maphash.String(l.seed, key)
	s := &l.shards[h&l.mask]

	s.mu.Lock()
	b := s.bucket(h, nowNano, l)
	allowed := b.AllowN(now, 1)
	tokens := b.TokensAt(now)
	s.mu.Unlock()

	l.maybeSweep(nowNano)

	d := Decision{
		Allowed:   allowed,
		Limit:     l.burst,
		Remaining: int(max(0, math.Floor(tokens))),
		Reset:     l.durationFor(float64(l.burst) - tokens),
	}
	if !allowed {
		d.RetryAfter = l.durationFor(1 - tokens)
	}
	return d
}

// Len returns the number of clients currently tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// durationFor returns how long a bucket takes to earn tokens. It rounds up
// so that a client waiting exactly that long is not refused for want of a
// nanosecond.
func (l *Limiter) durationFor(tokens float64) time.Duration {
	if tokens <= 0 {
		return 0
	}
	ns := math.Ceil(tokens / l.limit * float64(time.Second))
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// maybeSweep drops idle buckets from every shard once per sweepEvery. Only
// the caller that wins the compare-and-swap pays for the sweep.
func (l *Limiter) maybeSweep(now int64) {
	next := l.nextSweep.Load()
	// next-now > sweepEvery means the clock went backwards; sweeping
	// anyway reschedules from the new time instead of stalling until the
	// clock catches up.
	if now < next && next-now <= l.sweepEvery {
		return
	}
	if !l.nextSweep.CompareAndSwap(next, now+l.sweepEvery) {
		return
	}
	for i := range l.shards {
		l.shards[i].evictIdle(now, now-l.idleTTL)
	}
}

// shard is one lock's worth of clients.
type shard struct {
	shardState
	// Padding keeps neighbouring shards' locks off shared cache lines, so
	// contention on one shard does not slow down the others.
	_ [128 - unsafe.Sizeof(shardState{})%128]byte
}

type shardState struct {
	mu sync.Mutex
	// entries is keyed by the 64-bit hash of the client key rather than the
	// key itself, so memory per client is fixed however long the keys are.
	// With a per-process random seed, two live clients sharing a bucket by
	// collision is vanishingly unlikely and cannot be engineered.
	entries  map[uint64]*entry
	lru      entry // sentinel: lru.next is the most recently used entry
	capacity int
}

type entry struct {
	prev, next *entry
	hash       uint64
	lastSeen   int64 // nanoseconds since Limiter.epoch
	bucket     *rate.Limiter
}

// bucket returns the bucket for hash, creating it (and evicting the least
// recently used entry if the shard is full), and marks it used at now.
// s.mu must be held.
func (s *shard) bucket(hash uint64, now int64, l *Limiter) *rate.Limiter {
	e, ok := s.entries[hash]
	switch {
	case ok:
		s.unlink(e)
	case len(s.entries) < s.capacity:
		e = &entry{hash: hash, bucket: rate.NewLimiter(rate.Limit(l.limit), l.burst)}
		s.entries[hash] = e
	default:
		// Reuse the evicted entry so churn at capacity allocates only the
		// new rate.Limiter.
		e = s.lru.prev
		s.unlink(e)
		delete(s.entries, e.hash)
		e.hash = hash
		e.bucket = rate.NewLimiter(rate.Limit(l.limit), l.burst)
		s.entries[hash] = e
	}
	s.pushFront(e, now)
	return e.bucket
}

// evictIdle drops entries last used at or before cutoff. The LRU list is
// ordered by last use, so it stops at the first entry still in use.
func (s *shard) evictIdle(now, cutoff int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e := s.lru.prev; e != &s.lru && (e.lastSeen <= cutoff || e.lastSeen > now); e = s.lru.prev {
		s.unlink(e)
		if e.lastSeen > now {
			// Last used in the future: an injected clock went backwards.
			// Count it as used now so it cannot shield older entries
			// behind it from eviction.
			s.pushFront(e, now)
			continue
		}
		delete(s.entries, e.hash)
	}
}

func (s *shard) pushFront(e *entry, now int64) {
	e.lastSeen = now
	e.prev, e.next = &s.lru, s.lru.next
	e.prev.next, e.next.prev = e, e
}

func (s *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
