package broadcast

import (
	"context"
	"testing"
)

func TestGroup(t *testing.T) {
	var g Group
	g.Signal() // no waiters: nothing to do, and no block

	a, leaveA := g.Join()
	b, leaveB := g.Join()
	for range 3 {
		g.Signal() // coalesced into one pending signal each
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Fatalf("waiter %s: no signal after Signal", name)
		}
		select {
		case <-ch:
			t.Fatalf("waiter %s: a second signal, want three Signals coalesced into one", name)
		default:
		}
	}

	leaveA()
	g.Signal()
	select {
	case <-a:
		t.Error("waiter a: signalled after leaving")
	default:
	}
	select {
	case <-b:
	default:
		t.Error("waiter b: no signal after a left")
	}
	leaveB()
	leaveB() // leaving twice is harmless
}

// Forward wakes once per signal it sees on a joined channel, and returns
// when its context ends. The test waits on the wakes themselves.
func TestForward(t *testing.T) {
	var g Group
	ch, leave := g.Join()
	defer leave()
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		Forward(ctx, ch, func() { wakes <- struct{}{} })
	}()
	for range 2 {
		g.Signal()
		<-wakes
	}
	cancel()
	<-done
}
