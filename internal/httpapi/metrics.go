package httpapi

import (
	"context"
	"time"
)

// Metrics is what the HTTP layer reports about its traffic. The
// implementation is wired in by the command: cmd/roster exports
// Prometheus series (internal/prommetrics); the edge build, which has no
// scrape endpoint, passes none, which keeps the Prometheus client and
// protobuf out of its module. A nil Metrics in Config records nothing.
type Metrics interface {
	// Begin is called when a request enters the handler, Observe when
	// its response is complete (the latency histogram's one observation:
	// ctx is the request's, for whatever the implementation attaches to
	// it). route is the matched pattern ("GET /api/users/{id}"), "" when
	// none matched.
	Begin()
	Observe(ctx context.Context, route, method string, status int, d time.Duration)
	// Count records one occurrence of e.
	Count(e Event)
	// Subscribers moves the number of open change-feed streams by delta.
	Subscribers(delta int)
}

// Event is something the HTTP layer counts.
type Event int

// The events Count records.
const (
	RateLimited  Event = iota // answered 429: the client exceeded its rate limit
	Overloaded                // answered 503 OVERLOADED: every in-flight slot taken
	TimedOut                  // answered 503 TIMEOUT: the request deadline passed
	Panicked                  // a handler panic recovered into a 500
	EventSent                 // one event written to a change-feed stream
	SlowConsumer              // a stream dropped because its subscriber fell behind
)

// noMetrics records nothing: the server's Metrics when Config has none.
type noMetrics struct{}

func (noMetrics) Begin()                                                      {}
func (noMetrics) Observe(context.Context, string, string, int, time.Duration) {}
func (noMetrics) Count(Event)                                                 {}
func (noMetrics) Subscribers(int)                                             {}
