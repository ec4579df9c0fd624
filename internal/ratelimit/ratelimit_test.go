package ratelimit_test

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/ratelimit"
)

// fakeClock is a clock tests move by hand. It is safe for concurrent use so
// the race tests can advance it while Allow reads it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// nearly reports whether got is within a microsecond of want: durations
// come from float arithmetic and are rounded up to the nanosecond.
func nearly(got, want time.Duration) bool {
	return (got - want).Abs() <= time.Microsecond
}

func checkDecision(t *testing.T, label string, got, want ratelimit.Decision) {
	t.Helper()
	if got.Allowed != want.Allowed || got.Limit != want.Limit || got.Remaining != want.Remaining ||
		!nearly(got.Reset, want.Reset) || !nearly(got.RetryAfter, want.RetryAfter) {
		t.Errorf("%s: got %+v, want %+v", label, got, want)
	}
}

func TestAllow(t *testing.T) {
	type step struct {
		advance time.Duration
		key     string
		want    ratelimit.Decision
	}
	allow := func(limit, remaining int, reset time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Allowed: true, Limit: limit, Remaining: remaining, Reset: reset}
	}
	deny := func(limit int, reset, retryAfter time.Duration) ratelimit.Decision {
		return ratelimit.Decision{Limit: limit, Reset: reset, RetryAfter: retryAfter}
	}
	tests := []struct {
		name  string
		cfg   ratelimit.Config
		steps []step
	}{
		{
			name: "burst of 3 allows 3 then denies for 1/rate",
			cfg:  ratelimit.Config{Rate: 1, Burst: 3},
			steps: []step{
				{0, "a", allow(3, 2, 1*time.Second)},
				{0, "a", allow(3, 1, 2*time.Second)},
				{0, "a", allow(3, 0, 3*time.Second)},
				{0, "a", deny(3, 3*time.Second, 1*time.Second)},
				{0, "a", deny(3, 3*time.Second, 1*time.Second)},
			},
		},
		{
			name: "retry after and reset scale with rate",
			cfg:  ratelimit.Config{Rate: 4, Burst: 3},
			steps: []step{
				{0, "a", allow(3, 2, 250*time.Millisecond)},
				{0, "a", allow(3, 1, 500*time.Millisecond)},
				{0, "a", allow(3, 0, 750*time.Millisecond)},
				{0, "a", deny(3, 750*time.Millisecond, 250*time.Millisecond)},
				{100 * time.Millisecond, "a", deny(3, 650*time.Millisecond, 150*time.Millisecond)},
			},
		},
		{
			name: "refills as the clock advances",
			cfg:  ratelimit.Config{Rate: 1, Burst: 3},
			steps: []step{
				{0, "a", allow(3, 2, 1*time.Second)},
				{0, "a", allow(3, 1, 2*time.Second)},
				{0, "a", allow(3, 0, 3*time.Second)},
				{1 * time.Second, "a", allow(3, 0, 3*time.Second)},
				{1500 * time.Millisecond, "a", allow(3, 0, 2500*time.Millisecond)},
				{500 * time.Millisecond, "a", allow(3, 0, 3*time.Second)},
				{time.Hour, "a", allow(3, 2, 1*time.Second)},
			},
		},
		{
			name: "keys are independent",
			cfg:  ratelimit.Config{Rate: 1, Burst: 2},
			steps: []step{
				{0, "a", allow(2, 1, 1*time.Second)},
				{0, "a", allow(2, 0, 2*time.Second)},
				{0, "a", deny(2, 2*time.Second, 1*time.Second)},
				{0, "b", allow(2, 1, 1*time.Second)},
				{0, "a", deny(2, 2*time.Second, 1*time.Second)},
				{0, "b", allow(2, 0, 2*time.Second)},
			},
		},
		{
			name: "burst defaults to rate",
			cfg:  ratelimit.Config{Rate: 5},
			steps: []step{
				{0, "a", allow(5, 4, 200*time.Millisecond)},
			},
		},
		{
			name: "burst defaults to at least one",
			cfg:  ratelimit.Config{Rate: 0.5},
			steps: []step{
				{0, "a", allow(1, 0, 2*time.Second)},
				{0, "a", deny(1, 2*time.Second, 2*time.Second)},
				{2 * time.Second, "a", allow(1, 0, 2*time.Second)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			tt.cfg.Now = clock.Now
			l := ratelimit.New(tt.cfg)
			if !l.Enabled() {
				t.Fatalf("Enabled() = false, want true")
			}
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				checkDecision(t, "step "+strconv.Itoa(i)+" "+s.key, l.Allow(s.key), s.want)
			}
		})
	}
}

func TestRetryAfterIsLongEnough(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		burst int
	}{
		{"one per second", 1, 1},
		{"three per second", 3, 3},
		{"seven per second", 7, 2},
		{"slower than one per second", 0.3, 1},
		{"fast", 1000, 10},
		{"very fast", 1e6, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := ratelimit.New(ratelimit.Config{Rate: tt.rate, Burst: tt.burst, Now: clock.Now})
			for range tt.burst {
				l.Allow("a")
			}
			denied := l.Allow("a")
			if denied.Allowed || denied.RetryAfter <= 0 {
				t.Fatalf("after the burst: got %+v, want denied with RetryAfter > 0", denied)
			}
			clock.Advance(denied.RetryAfter)
			if got := l.Allow("a"); !got.Allowed {
				t.Errorf("after waiting RetryAfter %v: got %+v, want allowed", denied.RetryAfter, got)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	tests := []struct {
		name string
		rate float64
	}{
		{"zero rate", 0},
		{"negative rate", -1},
		{"NaN rate", math.NaN()},
		{"infinite rate", math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ratelimit.New(ratelimit.Config{Rate: tt.rate, Burst: 1})
			if l.Enabled() {
				t.Errorf("Enabled() = true, want false")
			}
			for i := range 1000 {
				if got := l.Allow("a"); got != (ratelimit.Decision{Allowed: true}) {
					t.Fatalf("call %d: got %+v, want only Allowed", i, got)
				}
			}
			if got := l.Len(); got != 0 {
				t.Errorf("Len() = %d, want 0", got)
			}
		})
	}
}

func TestMaxKeysCapsTrackedClients(t *testing.T) {
	tests := []struct {
		name    string
		maxKeys int
		keys    int
		wantMax int
	}{
		{"one key", 1, 10, 1},
		{"fewer keys than shards", 3, 100, 3},
		{"uneven split across shards", 1000, 5000, 1000},
		{"100k cap, 300k clients", 100_000, 300_000, 100_000},
		{"default cap", 0, 150_000, ratelimit.DefaultMaxKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 1, MaxKeys: tt.maxKeys, Now: clock.Now})
			for i := range tt.keys {
				l.Allow(strconv.Itoa(i))
				if i%1000 == 0 {
					if got := l.Len(); got > tt.wantMax {
						t.Fatalf("after %d keys: Len() = %d, want <= %d", i+1, got, tt.wantMax)
					}
				}
			}
			// Hashing spreads this many keys over every shard, filling each.
			if got := l.Len(); got != tt.wantMax {
				t.Errorf("Len() = %d, want %d", got, tt.wantMax)
			}
		})
	}
}

func TestMaxKeysEvictsLeastRecentlyUsed(t *testing.T) {
	clock := newFakeClock()
	l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 1, MaxKeys: 1000, Now: clock.Now})
	l.Allow("hot")
	l.Allow("cold")
	for i := range 100_000 {
		l.Allow(strconv.Itoa(i))
		// "hot" is always the most recently used key in its shard, so it
		// keeps its empty bucket however many clients pass through.
		if got := l.Allow("hot"); got.Allowed {
			t.Fatalf("after %d other clients: hot was forgotten (got %+v)", i+1, got)
		}
	}
	// "cold" was pushed out, so it comes back with a full bucket.
	if got := l.Allow("cold"); !got.Allowed {
		t.Errorf("cold: got %+v, want allowed with a fresh bucket", got)
	}
}

func TestIdleBucketsAreEvicted(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ratelimit.Config
		wantTTL time.Duration
	}{
		{"explicit IdleTTL", ratelimit.Config{Rate: 1, Burst: 3, IdleTTL: 5 * time.Minute}, 5 * time.Minute},
		{"default is at least a minute", ratelimit.Config{Rate: 10, Burst: 10}, time.Minute},
		{"default is the full refill time", ratelimit.Config{Rate: 0.01, Burst: 10}, 1000 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			tt.cfg.Now = clock.Now
			l := ratelimit.New(tt.cfg)
			for i := range 1000 {
				l.Allow(strconv.Itoa(i))
			}

			clock.Advance(tt.wantTTL - 2*time.Second)
			l.Allow("probe")
			if got := l.Len(); got != 1001 {
				t.Fatalf("just before IdleTTL: Len() = %d, want 1001", got)
			}

			// Past IdleTTL plus the up-to-a-second sweep delay.
			clock.Advance(4 * time.Second)
			l.Allow("probe")
			if got := l.Len(); got != 1 {
				t.Errorf("after IdleTTL: Len() = %d, want 1 (only the probe)", got)
			}
		})
	}
}

func TestIdleEvictionSurvivesClockGoingBackwards(t *testing.T) {
	clock := newFakeClock()
	l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 1, IdleTTL: time.Minute, Now: clock.Now})
	clock.Advance(time.Hour)
	l.Allow("a")
	clock.Advance(-time.Hour) // e.g. a test clock, or a wall clock corrected by an hour
	l.Allow("b")
	clock.Advance(30 * time.Second)
	l.Allow("c")
	if got := l.Len(); got != 3 {
		t.Fatalf("before IdleTTL: Len() = %d, want 3", got)
	}
	clock.Advance(45 * time.Second)
	l.Allow("d")
	// "a" was last used in the clock's new future; it counts as idle from
	// the step back, so it goes with "b" instead of lingering for an hour.
	if got := l.Len(); got != 2 {
		t.Errorf("after IdleTTL: Len() = %d, want 2 (c and d)", got)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds a million clients")
	}
	const (
		clients = 1_000_000
		maxKeys = 100_000
		bound   = 64 << 20
	)
	clock := newFakeClock()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 5, MaxKeys: maxKeys, Now: clock.Now})
	buf := make([]byte, 0, 32)
	for i := range clients {
		buf = strconv.AppendInt(append(buf[:0], "client-"...), int64(i), 10)
		l.Allow(string(buf))
		if i%1000 == 0 {
			clock.Advance(time.Millisecond) // keep IdleTTL out of it: 1s in total
		}
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := l.Len(); got != maxKeys {
		t.Errorf("Len() = %d, want %d", got, maxKeys)
	}
	runtime.KeepAlive(l)

	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth for %d clients capped at %d: %.1f MiB (%d bytes per tracked client)",
		clients, maxKeys, float64(growth)/(1<<20), growth/maxKeys)
	if growth > bound {
		t.Errorf("heap grew by %d bytes, want < %d", growth, bound)
	}
}

func TestConcurrentAllowNeverExceedsBurst(t *testing.T) {
	tests := []struct {
		name       string
		burst      int
		goroutines int
		calls      int
	}{
		{"burst 1", 1, 32, 50},
		{"burst 10", 10, 32, 50},
		{"burst 100", 100, 64, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock() // frozen: nothing refills
			l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: tt.burst, Now: clock.Now})
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range tt.goroutines {
				wg.Go(func() {
					for range tt.calls {
						d := l.Allow("shared")
						if d.Allowed {
							allowed.Add(1)
						}
						if d.Remaining < 0 {
							t.Errorf("Remaining = %d, want >= 0", d.Remaining)
						}
					}
				})
			}
			wg.Wait()
			if got := allowed.Load(); got != int64(tt.burst) {
				t.Errorf("allowed %d requests, want exactly the burst %d", got, tt.burst)
			}
		})
	}
}

// TestConcurrentChurn mixes inserts, LRU eviction and idle sweeps across
// goroutines; it exists for the race detector.
func TestConcurrentChurn(t *testing.T) {
	const maxKeys = 100
	clock := newFakeClock()
	l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 2, IdleTTL: time.Second, MaxKeys: maxKeys, Now: clock.Now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				l.Allow(strconv.Itoa(g*10_000 + i%300))
				if i%50 == 0 {
					clock.Advance(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			if got := l.Len(); got > maxKeys {
				t.Errorf("Len() = %d, want <= %d", got, maxKeys)
			}
		}
	})
	wg.Wait()
	if got := l.Len(); got > maxKeys {
		t.Errorf("Len() = %d, want <= %d", got, maxKeys)
	}
}

func BenchmarkAllow(b *testing.B) {
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "203.0.113." + strconv.Itoa(i)
	}

	b.Run("one key", func(b *testing.B) {
		l := ratelimit.New(ratelimit.Config{Rate: 100, Burst: 100})
		b.ReportAllocs()
		for b.Loop() {
			l.Allow("203.0.113.7")
		}
	})
	b.Run("one key parallel", func(b *testing.B) {
		l := ratelimit.New(ratelimit.Config{Rate: 100, Burst: 100})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow("203.0.113.7")
			}
		})
	})
	b.Run("many keys parallel", func(b *testing.B) {
		l := ratelimit.New(ratelimit.Config{Rate: 100, Burst: 100})
		for _, k := range keys {
			l.Allow(k)
		}
		var offset atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(offset.Add(997))
			for pb.Next() {
				l.Allow(keys[i%len(keys)])
				i++
			}
		})
	})
	b.Run("new keys at capacity parallel", func(b *testing.B) {
		// Fewer slots than keys: every call evicts a client and adds one.
		l := ratelimit.New(ratelimit.Config{Rate: 100, Burst: 100, MaxKeys: len(keys) / 10})
		var offset atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(offset.Add(997))
			for pb.Next() {
				l.Allow(keys[i%len(keys)])
				i++
			}
		})
	})
}
