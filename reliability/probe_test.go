//go:build reliability

package reliability

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// probe polls a URL every interval and remembers when its status changed,
// as a platform's readiness probe would see it.
type probe struct {
	mu      sync.Mutex
	changes []probeChange
}

type probeChange struct {
	at     time.Time
	status int // 0: no answer
}

func startProbe(ctx context.Context, url string, every time.Duration) (*probe, func()) {
	p := &probe{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: 2 * time.Second}
		last := -1
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			st := 0
			if resp, err := c.Get(url); err == nil {
				st = resp.StatusCode
				drainClose(resp.Body)
			}
			if st != last {
				p.mu.Lock()
				p.changes = append(p.changes, probeChange{time.Now(), st})
				p.mu.Unlock()
				last = st
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p, func() { cancel(); <-done }
}

// firstAfter is when the probe first saw status at or after t; zero if never.
func (p *probe) firstAfter(t time.Time, status int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.changes {
		if !c.at.Before(t) && c.status == status {
			return c.at
		}
	}
	return time.Time{}
}

// sinceOr formats the delay from t to u, or "never" for a zero u.
func sinceOr(t, u time.Time) string {
	if u.IsZero() {
		return "never"
	}
	return u.Sub(t).Round(time.Millisecond).String()
}
