package batch

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// Shared lets identical concurrent calls share one run: a call whose key
// has no run out runs at once, on its own goroutine and context; calls
// with that key that arrive while it runs wait and share the next run,
// whose answer they all get. Like Batcher, no timer, and no call gets an
// answer computed before it arrived: a run that was already out when a
// call came is never its answer. Keys are kept only while a run is out.
type Shared[K comparable, Out any] struct {
	name string // names the wait's span
	run  func(ctx context.Context, key K) (Out, error)

	mu   sync.Mutex
	keys map[K]*sharedKey[Out] // the keys with a run out
}

// NewShared returns a Shared that answers a key with run. The callers of
// one run share its Out: they must treat it as read-only.
func NewShared[K comparable, Out any](name string, run func(ctx context.Context, key K) (Out, error)) *Shared[K, Out] {
	return &Shared[K, Out]{name: name, run: run, keys: map[K]*sharedKey[Out]{}}
}

// sharedKey is a key with a run out, and the callers waiting for its next.
type sharedKey[Out any] struct {
	next *sharedRun[Out] // nil: none waits
}

// sharedRun is one run and its waiting callers, as group is for Batcher.
type sharedRun[Out any] struct {
	live int // callers still waiting; guarded by Shared.mu
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
	out  Out // set before done is closed
	err  error
}

// Do returns run's answer for key: its own run's when none is out for the
// key, else the next run's, shared with the other callers of that key
// that arrive meanwhile. It returns ctx's error if ctx ends first; the run
// goes on for the others, and does not start if none is left.
func (s *Shared[K, Out]) Do(ctx context.Context, key K) (Out, error) {
	s.mu.Lock()
	k, out := s.keys[key]
	if !out {
		s.keys[key] = &sharedKey[Out]{}
		s.mu.Unlock()
		defer s.handOff(key)
		return s.run(ctx, key)
	}
	r := k.next
	if r == nil {
		rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		r = &sharedRun[Out]{ctx: rctx, stop: stop, done: make(chan struct{})}
		k.next = r
	}
	r.live++
	s.mu.Unlock()

	_, span := tracing.Start(ctx, s.name, trace.SpanKindInternal)
	select {
	case <-r.done:
		tracing.End(span, r.err, "shared run failed")
		return r.out, r.err
	case <-ctx.Done():
		s.mu.Lock()
		if r.live--; r.live == 0 {
			r.stop()
			if k.next == r { // not started: drop it
				k.next = nil
			}
		}
		s.mu.Unlock()
		tracing.End(span, ctx.Err(), "cancelled")
		var zero Out
		return zero, ctx.Err()
	}
}

// take starts the next run of key, if a caller waits for one, or forgets
// the key.
func (s *Shared[K, Out]) take(key K) *sharedRun[Out] {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	r := k.next
	k.next = nil
	if r == nil {
		delete(s.keys, key)
	}
	return r
}

// handOff serves the callers that gathered for key while its run was out
// on a goroutine of their own, so that the caller that ran it returns at
// once; that goroutine runs the key until no caller waits.
func (s *Shared[K, Out]) handOff(key K) {
	if r := s.take(key); r != nil {
		go s.serve(key, r)
	}
}

func (s *Shared[K, Out]) serve(key K, r *sharedRun[Out]) {
	for r != nil {
		r.out, r.err = s.run(r.ctx, key)
		r.stop()
		close(r.done)
		r = s.take(key)
	}
}
