// Package broadcast tells any number of waiters that something happened,
// without ever making the one that says so wait.
//
// The stores use it to wake their change-feed listeners after each commit.
package broadcast

import (
	"context"
	"sync"
)

// Group is a set of waiters. Its zero value is ready to use.
type Group struct {
	mu    sync.Mutex
	chans map[chan struct{}]struct{}
}

// Join adds a waiter and returns its channel and the function that removes
// it. The channel has room for one signal, which stands for any number of
// Signal calls since the waiter last received.
func (g *Group) Join() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.chans == nil {
		g.chans = make(map[chan struct{}]struct{})
	}
	g.chans[ch] = struct{}{}
	return ch, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.chans, ch)
	}
}

// Signal wakes every waiter; it never blocks.
func (g *Group) Signal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.chans {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// Forward calls wake for every signal on ch, a waiter's channel from
// Join, until ctx ends. A listener joins first, catches up, then forwards:
// whatever happened before it joined, it reads while catching up.
func Forward(ctx context.Context, ch <-chan struct{}, wake func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			wake()
		}
	}
}
