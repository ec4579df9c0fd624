package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedState is how many callers wait for key's next run; -1: no run out.
func sharedState[K comparable, Out any](s *Shared[K, Out], key K) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[key]
	switch {
	case !ok:
		return -1
	case k.next == nil:
		return 0
	}
	return k.next.live
}

func waitShared[K comparable, Out any](t *testing.T, s *Shared[K, Out], key K, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); sharedState(s, key) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("key %v: %d waiting, want %d", key, sharedState(s, key), n)
		}
	}
}

// Callers of one key that arrive while its run is out share the next run,
// never the one that was out; another key runs on its own, at once.
func TestShared(t *testing.T) {
	var runs atomic.Int32
	release := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	s := NewShared("test", func(ctx context.Context, key string) (string, error) {
		n := runs.Add(1)
		select {
		case <-release[key]:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return fmt.Sprintf("%s run %d", key, n), nil
	})
	type result struct {
		out string
		err error
	}
	call := func(ctx context.Context, key string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			out, err := s.Do(ctx, key)
			ch <- result{out, err}
		}()
		return ch
	}
	first := call(t.Context(), "a")
	waitShared(t, s, "a", 0)
	b := call(t.Context(), "b") // another key does not wait for a's run
	waitShared(t, s, "b", 0)
	var later []<-chan result
	for i := range 3 {
		later = append(later, call(t.Context(), "a"))
		waitShared(t, s, "a", i+1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	gone := call(ctx, "a")
	waitShared(t, s, "a", 4)
	cancel()
	if r := <-gone; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("caller gone: %+v", r)
	}
	waitShared(t, s, "a", 3)
	if got := runs.Load(); got != 2 {
		t.Fatalf("%d runs before any ended, want 2 (a and b)", got)
	}
	close(release["b"])
	if r := <-b; r.err != nil || r.out != "b run 2" {
		t.Fatalf("b: %+v", r)
	}
	close(release["a"])
	if r := <-first; r.err != nil || r.out != "a run 1" {
		t.Fatalf("first a: %+v", r)
	}
	for i, ch := range later {
		if r := <-ch; r.err != nil || r.out != "a run 3" {
			t.Errorf("later a %d: %+v, want the next run's answer, a run 3", i, r)
		}
	}
	waitShared(t, s, "a", -1)
	waitShared(t, s, "b", -1)
}

// Under the race detector: many callers over a few keys, some leaving; the
// keys are forgotten once idle.
func TestSharedConcurrent(t *testing.T) {
	s := NewShared("test", func(ctx context.Context, key int) (int, error) {
		time.Sleep(20 * time.Microsecond)
		return key * 10, nil
	})
	var wg sync.WaitGroup
	for i := range 2000 {
		wg.Go(func() {
			ctx := t.Context()
			if i%5 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 30*time.Microsecond)
				defer cancel()
			}
			got, err := s.Do(ctx, i%4)
			if err == nil && got != (i%4)*10 {
				t.Errorf("call %d: got %d", i, got)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for key := range 4 {
		waitShared(t, s, key, -1)
	}
}
