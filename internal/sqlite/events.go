package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rosterhq/roster/internal/broadcast"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/internal/tracing"
)

var _ roster.EventStore = (*DB)(nil)

// appendEvent writes ev in the transaction of q. Readers page through
// events by id, so ids must be assigned in commit order. SQLite gives
// that without a lock of ours: a database has one writer at a time, and a
// transaction here holds the write lock from its BEGIN IMMEDIATE to its
// commit (across processes too, not only on this store's one write
// connection), so the transaction that draws the next id always commits
// before any other can draw one, and a reader's snapshot that holds an
// event holds every event before it. The write's span is kept with the
// event (roster.Event.Trace): ev.Trace when set (a create of a group
// commit, which runs on the batch's context), else the span in ctx.
func appendEvent(ctx context.Context, q *sqlitedb.Queries, ev roster.Event) error {
	b, err := ev.Data()
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	data := sql.NullString{String: string(b), Valid: b != nil} // NULL for a delete
	tp := tracing.TraceParent(ctx)
	if ev.Trace.IsValid() {
		tp = tracing.TraceParentOf(ev.Trace)
	}
	err = q.AppendEvent(ctx, sqlitedb.AppendEventParams{
		Type:        string(ev.Type),
		UserID:      ev.UserID.String(),
		Data:        data,
		At:          ev.At.UnixMicro(),
		TraceParent: sql.NullString{String: tp, Valid: tp != ""},
	})
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// EventsAfter returns up to limit events with ID > after, in ID order.
func (db *DB) EventsAfter(ctx context.Context, after int64, limit int) ([]roster.Event, error) {
	if limit < 1 {
		// SQLite would read a negative limit as none.
		return nil, fmt.Errorf("events after: limit %d, want at least 1", limit)
	}
	rows, err := db.rq.EventsAfter(ctx, sqlitedb.EventsAfterParams{After: after, Limit: int64(limit)})
	if err != nil {
		return nil, fmt.Errorf("events after: %w", err)
	}
	events := make([]roster.Event, len(rows))
	for i, row := range rows {
		if events[i], err = row.Domain(); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// EventBounds returns the smallest and largest retained event IDs, 0 and
// 0 when there are none.
func (db *DB) EventBounds(ctx context.Context) (oldest, newest int64, err error) {
	b, err := db.rq.EventBounds(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("event bounds: %w", err)
	}
	return b.Oldest, b.Newest, nil
}

// PurgeEvents deletes the events with At before the given time, except
// the newest one, and returns how many it deleted.
func (db *DB) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	n, err := db.wq.PurgeEvents(ctx, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	return n, nil
}

// Listen calls wake after every change this DB commits, until ctx ends,
// and once when it starts listening, so that a caller that reads events
// after that first wake misses none. Changes written by another process
// sharing the file do not wake it. It always returns nil.
func (db *DB) Listen(ctx context.Context, wake func()) error {
	ch, leave := db.commits.Join()
	defer leave()
	wake()
	broadcast.Forward(ctx, ch, wake)
	return nil
}
