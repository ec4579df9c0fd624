package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/broadcast"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/tracing"
)

var _ roster.EventStore = (*DB)(nil)

// eventChannel is the channel NotifyEvents notifies (query.sql) and Listen
// listens on.
const eventChannel = "roster_events"

// Listen's reconnection delays: the first retry comes quickly, as a
// terminated connection is usually replaced at once; later ones back off
// so that a database that is down is not hammered.
const (
	listenMinDelay = 100 * time.Millisecond
	listenMaxDelay = 5 * time.Second
)

// appendEvent writes ev into the outbox in the transaction of q; the
// first read of the feed after the commit gives it its id (sequence). The
// span in ctx, the write's, is kept with the event (roster.Event.Trace).
func appendEvent(ctx context.Context, q *pgdb.Queries, ev roster.Event) error {
	data, err := ev.Data()
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	var text *string // NULL for a delete
	if data != nil {
		text = new(string(data))
	}
	err = q.AppendEvent(ctx, pgdb.AppendEventParams{
		Type:        string(ev.Type),
		UserID:      ev.UserID,
		Data:        text,
		At:          micro(ev.At),
		TraceParent: traceParent(ctx),
	})
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// EventsAfter returns up to limit events with ID > after, in ID order.
// Like EventBounds and PurgeEvents, it first sequences the events
// committed so far, so that each sees every committed change.
func (db *DB) EventsAfter(ctx context.Context, after int64, limit int) ([]roster.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("events after: limit %d, want at least 1", limit)
	}
	if err := db.sequence(ctx); err != nil {
		return nil, fmt.Errorf("events after: %w", err)
	}
	var rows []pgdb.Event
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		rows, err = q.EventsAfter(ctx, pgdb.EventsAfterParams{After: after, Limit: int32Sat(limit)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events after: %w", err)
	}
	events := make([]roster.Event, len(rows))
	for i, row := range rows {
		if events[i], err = event(row); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// sequence moves the committed outbox rows into events (SequenceEvents in
// query.sql) and, when it moved any, notifies every instance's Listen.
// With nothing pending it costs one cheap query and takes no lock, which
// matters because every instance's feed calls it on every wake.
func (db *DB) sequence(ctx context.Context) error {
	var pending bool
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		pending, err = q.OutboxPending(ctx)
		return err
	})
	if err != nil || !pending {
		return err
	}
	// Not inTx: a move wakes other instances by notification, not this
	// process's listeners, which are reading already.
	return db.use(ctx, func(conn *pgxpool.Conn) error { return pgx.BeginFunc(ctx, conn, moveOutbox(ctx)) })
}

// moveOutbox moves the committed outbox rows into events, in order.
func moveOutbox(ctx context.Context) func(tx pgx.Tx) error {
	return func(tx pgx.Tx) error {
		q := pgdb.New(tx)
		if err := q.LockSequencer(ctx); err != nil {
			return fmt.Errorf("lock sequencer: %w", err)
		}
		moved, err := q.SequenceEvents(ctx)
		if err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		if moved.Moved == 0 {
			return nil // another reader moved them first
		}
		if err := q.NotifyEvents(ctx, moved.Newest); err != nil {
			return fmt.Errorf("notify events: %w", err)
		}
		return nil
	}
}

// EventBounds returns the smallest and largest retained event IDs, 0 and
// 0 when there are none.
func (db *DB) EventBounds(ctx context.Context) (oldest, newest int64, err error) {
	if err := db.sequence(ctx); err != nil {
		return 0, 0, fmt.Errorf("event bounds: %w", err)
	}
	var b pgdb.EventBoundsRow
	err = db.queries(ctx, func(q *pgdb.Queries) (err error) {
		b, err = q.EventBounds(ctx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("event bounds: %w", err)
	}
	return b.Oldest, b.Newest, nil
}

// PurgeEvents deletes the events with At before the given time, except
// the newest one, and returns how many it deleted.
func (db *DB) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	if err := db.sequence(ctx); err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	var n int64
	err := db.queries(ctx, func(q *pgdb.Queries) (err error) {
		n, err = q.PurgeEvents(ctx, before)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	return n, nil
}

// Listen calls wake whenever an instance on this database may have
// committed events, until ctx ends: after each commit of this process
// (whose events wait in the outbox until a read sequences them), and for
// each notification from a sequencing read, of any instance. It holds a
// connection of its own, outside the pool (to Options.ListenURL when
// set), listening for those notifications, and calls wake once it
// listens, and again after every reconnection: notifications sent while it was disconnected are lost,
// but the events are not. A process that writes without listening (roster
// import --db) relies on the other instances' polling.
// Reconnections back off from listenMinDelay to listenMaxDelay. It returns
// an error only when it cannot listen at all on its first attempt (for
// instance behind a pooler that does not support LISTEN); after that it
// keeps reconnecting until ctx ends, and returns nil. A Pooled DB without
// a ListenURL listens to this process's commits only.
func (db *DB) Listen(ctx context.Context, wake func()) error {
	commits, leave := db.commits.Join()
	defer leave()
	ctx, cancel := context.WithCancel(ctx)
	local := make(chan struct{})
	go func() { // this process's commits; ends with ctx
		defer close(local)
		broadcast.Forward(ctx, commits, wake)
	}()
	defer func() { cancel(); <-local }()

	if db.pooled && db.listenConfig == nil {
		// Nothing to listen on: this process's commits wake the feed (the
		// goroutine above), other instances' events come with its polling.
		wake()
		<-ctx.Done()
		return nil
	}
	delay := listenMinDelay
	for first := true; ; first = false {
		listened, err := db.listen(ctx, wake)
		switch {
		case ctx.Err() != nil:
			return nil
		case first && !listened:
			return fmt.Errorf("listen for events: %w", err)
		case listened:
			delay = listenMinDelay // the connection worked: start over
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, listenMaxDelay)
	}
}

// listenApplicationName names Listen's connection in pg_stat_activity.
const listenApplicationName = "roster-listen"

// listen connects, listens and calls wake for each notification until the
// connection fails or ctx ends. listened reports whether it got as far as
// listening.
func (db *DB) listen(ctx context.Context, wake func()) (listened bool, err error) {
	cfg := db.listenConfig
	if cfg == nil {
		cfg = db.pool.Config().ConnConfig
	}
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = listenApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		// Close says goodbye to the server, which ctx may no longer allow.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+eventChannel); err != nil {
		return false, err
	}
	for {
		wake()
		// A silently dropped connection is noticed by TCP keepalive (on
		// by default in Go), within minutes; until then the caller's
		// polling must deliver.
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
	}
}

// traceParent is the traceparent of the span in ctx, to keep with an
// event it writes; nil (NULL) when there is none to link to.
func traceParent(ctx context.Context) *string {
	if tp := tracing.TraceParent(ctx); tp != "" {
		return &tp
	}
	return nil
}

// event converts a stored event.
func event(row pgdb.Event) (roster.Event, error) {
	ev := roster.Event{
		ID:     row.ID,
		Type:   roster.EventType(row.Type),
		UserID: row.UserID,
		At:     row.At.UTC(),
	}
	if row.TraceParent != nil {
		ev.Trace = tracing.ParseTraceParent(*row.TraceParent)
	}
	if err := ev.SetData(row.Data); err != nil {
		return roster.Event{}, fmt.Errorf("stored event %d: %w", row.ID, err)
	}
	return ev, nil
}
