package batch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// gate is a Func whose batches each wait for a release, recording what
// they were given: the test decides when a batch ends.
type gate struct {
	mu      sync.Mutex
	batches [][]int
	ctxs    []context.Context
	started chan struct{} // one send per batch, as it starts
	release chan error    // one receive per batch: its error
}

func newGate() *gate {
	return &gate{started: make(chan struct{}, 100), release: make(chan error)}
}

func (g *gate) run(ctx context.Context, in []int) ([]string, error) {
	g.mu.Lock()
	g.batches = append(g.batches, slices.Clone(in))
	g.ctxs = append(g.ctxs, ctx)
	g.mu.Unlock()
	g.started <- struct{}{}
	if err := <-g.release; err != nil {
		return nil, err
	}
	out := make([]string, len(in))
	for i, n := range in {
		out[i] = fmt.Sprint("answer ", n)
	}
	return out, nil
}

func (g *gate) batch(i int) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.batches[i]
}

func (g *gate) ctx(i int) context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctxs[i]
}

type result struct {
	out string
	err error
}

// do calls b.Do(ctx, n) on a goroutine of its own.
func do(ctx context.Context, b *Batcher[int, string], n int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, err := b.Do(ctx, n)
		ch <- result{out, err}
	}()
	return ch
}

// waitQueued waits until n calls wait for the next batch.
func waitQueued[In, Out any](t *testing.T, b *Batcher[In, Out], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		queued := 0
		if b.next != nil {
			queued = b.next.live
		}
		b.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type key struct{}

// An idle batcher runs a call at once, alone, on the caller's context.
func TestIdleCallRunsAloneOnItsContext(t *testing.T) {
	g := newGate()
	b := New("test", g.run)
	ctx := context.WithValue(t.Context(), key{}, "caller")
	ch := do(ctx, b, 7)
	<-g.started
	if got := g.batch(0); !slices.Equal(got, []int{7}) {
		t.Fatalf("batch %v, want [7]", got)
	}
	if g.ctx(0) != ctx {
		t.Fatal("the idle call did not run on its caller's context")
	}
	g.release <- nil
	if r := <-ch; r.err != nil || r.out != "answer 7" {
		t.Fatalf("got %+v", r)
	}
	if b.running || b.next != nil {
		t.Fatal("batcher not idle after its only call")
	}
}

func TestBatches(t *testing.T) {
	errDown := errors.New("database down")
	for _, tc := range []struct {
		name     string
		calls    int
		cancel   []int // calls (indexes) whose callers give up before the batch starts
		err      error // the second batch's error
		wantRuns int   // batches run in all
	}{
		{name: "calls that arrive during a batch ride the next, together", calls: 5, wantRuns: 2},
		{name: "a call given up before its batch starts is left out", calls: 4, cancel: []int{1, 3}, wantRuns: 2},
		{name: "a batch whose calls all gave up does not run", calls: 3, cancel: []int{0, 1, 2}, wantRuns: 1},
		{name: "an error fails every call of its batch", calls: 3, err: errDown, wantRuns: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			b := New("test", g.run)
			first := do(t.Context(), b, 100)
			<-g.started
			results := make([]<-chan result, tc.calls)
			cancels := make([]context.CancelFunc, tc.calls)
			for i := range tc.calls {
				ctx, cancel := context.WithCancel(t.Context())
				cancels[i] = cancel
				results[i] = do(ctx, b, i)
				waitQueued(t, b, i+1)
			}
			for _, i := range tc.cancel {
				cancels[i]()
				if r := <-results[i]; !errors.Is(r.err, context.Canceled) {
					t.Fatalf("call %d given up: got %+v", i, r)
				}
			}
			g.release <- nil
			if r := <-first; r.err != nil || r.out != "answer 100" {
				t.Fatalf("first call: %+v", r)
			}
			var want []int
			for i := range tc.calls {
				if !slices.Contains(tc.cancel, i) {
					want = append(want, i)
				}
			}
			if tc.wantRuns == 2 {
				<-g.started
				if got := g.batch(1); !slices.Equal(got, want) {
					t.Fatalf("second batch %v, want %v", got, want)
				}
				g.release <- tc.err
			}
			for _, i := range want {
				r := <-results[i]
				switch {
				case tc.err != nil && !errors.Is(r.err, tc.err):
					t.Errorf("call %d: %+v, want error %v", i, r, tc.err)
				case tc.err == nil && (r.err != nil || r.out != fmt.Sprint("answer ", i)):
					t.Errorf("call %d: %+v", i, r)
				}
			}
			for _, c := range cancels {
				c()
			}
			g.mu.Lock()
			runs := len(g.batches)
			g.mu.Unlock()
			if runs != tc.wantRuns {
				t.Errorf("%d batches ran, want %d", runs, tc.wantRuns)
			}
		})
	}
}

// A caller that gives up while its batch runs leaves it running for the
// others; when all have given up, the batch's context ends.
func TestBatchContextEndsWhenAllCallersGone(t *testing.T) {
	g := newGate()
	b := New("test", g.run)
	first := do(t.Context(), b, 100)
	<-g.started
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	r1 := do(ctx1, b, 1)
	waitQueued(t, b, 1)
	r2 := do(ctx2, b, 2)
	waitQueued(t, b, 2)
	g.release <- nil
	<-first
	<-g.started // the batch of 1 and 2 is running
	bctx := g.ctx(1)
	cancel1()
	<-r1
	if bctx.Err() != nil {
		t.Fatal("one caller's leaving ended the batch's context")
	}
	cancel2()
	if r := <-r2; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("call 2: %+v", r)
	}
	if bctx.Err() == nil {
		t.Fatal("the batch's context lives on with no caller waiting")
	}
	g.release <- nil
}

// A Func that answers a wrong number of calls fails them with an error, not
// a panic.
func TestWrongAnswerCount(t *testing.T) {
	b := New("test", func(context.Context, []int) ([]string, error) { return nil, nil })
	if _, err := b.Do(t.Context(), 1); err == nil {
		t.Fatal("no error for a batch answered with no answers")
	}
}

// Under the race detector: many callers, some giving up at random moments;
// each one that gets an answer gets its own, and the batcher ends idle.
func TestConcurrentCallers(t *testing.T) {
	var mu sync.Mutex
	maxBatch := 0
	b := New("test", func(ctx context.Context, in []int) ([]int, error) {
		mu.Lock()
		maxBatch = max(maxBatch, len(in))
		mu.Unlock()
		time.Sleep(50 * time.Microsecond)
		out := make([]int, len(in))
		for i, n := range in {
			out[i] = n * 2
		}
		return out, nil
	})
	var wg sync.WaitGroup
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := t.Context()
			if i%7 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(200))*time.Microsecond)
				defer cancel()
			}
			got, err := b.Do(ctx, i)
			switch {
			case err != nil && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("call %d: %v", i, err)
			case err == nil && got != 2*i:
				t.Errorf("call %d: got %d", i, got)
			}
		}()
	}
	wg.Wait()
	// The goroutine that served the last batch marks the batcher idle
	// just after its callers are woken.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		idle := !b.running && b.next == nil
		b.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batcher not idle after every call returned")
		}
	}
	t.Logf("largest batch: %d calls", maxBatch)
}
