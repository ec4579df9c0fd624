package broadcast

import "testing"

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
