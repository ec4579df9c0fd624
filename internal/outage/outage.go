// Package outage logs a dependency's outages once per burst: a database
// that is down fails every request, and a line per request would bury
// the one line that matters under thousands.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Every is how often a continuing outage is logged again, with the count
// of failures since the last line.
const Every = 10 * time.Second

// Log tracks one dependency's state. The zero value logs nothing until
// SetLogger; it is safe for concurrent use.
type Log struct {
	name   string // "database"
	logger atomic.Pointer[slog.Logger]
	now    func() time.Time

	down atomic.Bool // the fast path of Up, called on every success
	mu   sync.Mutex
	// Under mu: when the outage began, when it was last logged, and the
	// failures not logged yet and in all.
	since, logged      time.Time
	unlogged, failures int
}

// New returns a Log for the named dependency; now is the clock (nil:
// time.Now).
func New(name string, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{name: name, now: now}
}

// SetLogger sets where the lines go (nil: nowhere).
func (l *Log) SetLogger(logger *slog.Logger) { l.logger.Store(logger) }

// Down records a failure that means the dependency is unavailable. The
// first of a burst is logged at once as a warning with its cause; the
// following ones only every Every, counted.
func (l *Log) Down(cause error) {
	l.mu.Lock()
	now := l.now()
	l.failures++
	var msg string
	switch {
	case !l.down.Load():
		l.down.Store(true)
		l.since, l.logged, l.unlogged, l.failures = now, now, 0, 1
		msg = l.name + " unavailable"
	case now.Sub(l.logged) >= Every:
		l.logged = now
		msg = l.name + " still unavailable"
	default:
		l.unlogged++
		l.mu.Unlock()
		return
	}
	suppressed, since := l.unlogged, l.since
	l.unlogged = 0
	l.mu.Unlock()
	if lg := l.logger.Load(); lg != nil {
		lg.Warn(msg, "err", cause, "since", since, "failures_not_logged", suppressed)
	}
}

// Up records a success: after an outage it logs that the dependency is
// available again, how long it was not and how many requests failed.
func (l *Log) Up() {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	if !l.down.Load() {
		l.mu.Unlock()
		return
	}
	l.down.Store(false)
	dur, failures := l.now().Sub(l.since), l.failures
	l.mu.Unlock()
	if lg := l.logger.Load(); lg != nil {
		lg.Info(l.name+" available again", "after", dur.Round(time.Millisecond).String(), "failures", failures)
	}
}
