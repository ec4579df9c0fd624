// Package batch gathers concurrent calls into batches that one function
// call serves: the stores use it to answer concurrent get-by-id reads with
// one statement and to commit concurrent creates together (group commit).
//
// There is no timer. At most one batch runs at a time; a call that finds
// none running runs at once, on its own goroutine and context, as if there
// were no batching; calls that arrive while one runs wait and ride the
// next, which takes all of them. So an idle server adds no wait, and a
// busy one does one round trip for as many calls as arrived during the
// last.
package batch

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// Func serves a batch: out[i] is the answer to in[i]. An error fails every
// call of the batch; an answer of one call that failed on its own (a
// duplicate email among creates) belongs in its Out.
type Func[In, Out any] func(ctx context.Context, in []In) (out []Out, err error)

// Batcher runs a Func for concurrent calls of Do. Make one with New.
type Batcher[In, Out any] struct {
	name string // names the wait's span
	run  Func[In, Out]

	mu      sync.Mutex
	running bool            // a batch is being served
	next    *group[In, Out] // calls waiting for the next batch; nil: none
}

// New returns a Batcher that serves batches with run. name names the span
// a traced call's wait for its batch gets.
func New[In, Out any](name string, run Func[In, Out]) *Batcher[In, Out] {
	return &Batcher[In, Out]{name: name, run: run}
}

// group is the calls one batch serves once it starts. Its calls wait on
// done; one that gives up leaves the others waiting. A group's run is
// cancelled only when every call has given up; a group whose calls have
// all given up before it started is dropped, and a call that gives up
// before its group starts is left out of it.
type group[In, Out any] struct {
	calls []*call[In, Out] // guarded by Batcher.mu until the group starts
	live  int              // calls still waiting; guarded by Batcher.mu
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}
	err   error // set before done is closed
}

type call[In, Out any] struct {
	in   In
	out  Out  // set before the group's done is closed
	gone bool // gave up before the group started; guarded by Batcher.mu
}

// Do returns fn's answer to in, served alone when no batch is running and
// otherwise with the calls that gather while it runs. It returns ctx's
// error if ctx ends first; the batch then goes on for the others, and
// without this call if it has not started.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	b.mu.Lock()
	if !b.running {
		// Idle: run now, here. No other call shares this one's batch, so it
		// runs on the caller's own context, and costs what a call without
		// batching would (one slice besides).
		b.running = true
		b.mu.Unlock()
		defer b.handOff() // also if run panics: the waiting calls are still served
		out, err := b.runChecked(ctx, []In{in})
		if err != nil {
			var zero Out
			return zero, err
		}
		return out[0], nil
	}
	g := b.next
	if g == nil {
		// The group's context is its own: one caller's cancellation must
		// not fail the others. It keeps the first caller's values (its
		// trace, its request's log attributes).
		gctx, stop := context.WithCancel(context.WithoutCancel(ctx)) // #nosec G118 -- the group's stop: called when its batch ends (serve) or every caller has left (leave)
		g = &group[In, Out]{ctx: gctx, stop: stop, done: make(chan struct{})}
		b.next = g
	}
	c := &call[In, Out]{in: in}
	g.calls = append(g.calls, c)
	g.live++
	b.mu.Unlock()

	_, span := tracing.Start(ctx, b.name, trace.SpanKindInternal)
	select {
	case <-g.done:
	case <-ctx.Done():
		b.leave(g, c)
		tracing.End(span, ctx.Err(), "cancelled")
		var zero Out
		return zero, ctx.Err()
	}
	if span != nil {
		span.SetAttributes(attribute.Int("roster.batch.size", len(g.calls)))
	}
	tracing.End(span, g.err, "batch failed")
	if g.err != nil {
		var zero Out
		return zero, g.err
	}
	return c.out, nil
}

// State reports whether a batch is being served and how many calls wait
// for the next: for metrics and tests.
func (b *Batcher[In, Out]) State() (busy bool, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next != nil {
		waiting = b.next.live
	}
	return b.running, waiting
}

// runChecked runs the batch, making a wrong number of answers (a bug of
// run) an error rather than a panic.
func (b *Batcher[In, Out]) runChecked(ctx context.Context, in []In) ([]Out, error) {
	out, err := b.run(ctx, in)
	if err == nil && len(out) != len(in) {
		return nil, fmt.Errorf("%s: %d answers for %d calls", b.name, len(out), len(in))
	}
	return out, err
}

// leave takes c, whose caller gave up, out of g.
func (b *Batcher[In, Out]) leave(g *group[In, Out], c *call[In, Out]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g.live--
	if b.next == g { // not started: leave it out
		c.gone = true
		if g.live == 0 {
			b.next = nil
			g.stop()
		}
		return
	}
	if g.live == 0 {
		g.stop()
	}
}

// take starts the waiting group, if any: it returns the group with the
// calls whose callers are still there, or nil and marks b idle.
func (b *Batcher[In, Out]) take() *group[In, Out] {
	g := b.next
	b.next = nil
	if g == nil {
		b.running = false
		return nil
	}
	calls := g.calls[:0]
	for _, c := range g.calls {
		if !c.gone {
			calls = append(calls, c)
		}
	}
	g.calls = calls
	return g
}

// handOff passes the turn on: the calls that gathered while this batch ran
// are served by a goroutine of their own, so that the call that ran it
// returns at once. That goroutine serves batch after batch until none
// waits; each of its batches has callers waiting for it, whose contexts
// end it.
func (b *Batcher[In, Out]) handOff() {
	b.mu.Lock()
	g := b.take()
	b.mu.Unlock()
	if g != nil {
		go b.serve(g)
	}
}

func (b *Batcher[In, Out]) serve(g *group[In, Out]) {
	for g != nil {
		in := make([]In, len(g.calls))
		for i, c := range g.calls {
			in[i] = c.in
		}
		out, err := b.runChecked(g.ctx, in)
		if err == nil {
			for i, c := range g.calls {
				c.out = out[i]
			}
		}
		g.err = err
		g.stop()
		close(g.done)
		b.mu.Lock()
		g = b.take()
		b.mu.Unlock()
	}
}
