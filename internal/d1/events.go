//go:build js && wasm

package d1

import (
	"context"
	"database/sql"
	"fmt"
	"syscall/js"
	"time"

	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
)

// Every write appends its event to the outbox, the events table, in the
// write's own batch. The edge build serves no change feed (isolates share
// no memory and D1 announces no commits, so there is no Listen), but the
// outbox can be read and purged through the binding, by the SQLite store's
// statements: the store contract checks what D1 writes there, and a feed
// reader or a scheduled purge elsewhere would use the same methods.

// EventsAfter returns up to limit events with ID > after, in ID order.
func (db *DB) EventsAfter(ctx context.Context, after int64, limit int) ([]roster.Event, error) {
	if limit < 1 {
		// SQLite would read a negative limit as none.
		return nil, fmt.Errorf("events after: limit %d, want at least 1", limit)
	}
	rs, err := db.all(ctx, stmt{sqlitedb.SQLEventsAfter, params(sqlitedb.EventsAfterParams{After: after, Limit: int64(limit)})})
	if err != nil {
		return nil, storeError("events after", err)
	}
	events := make([]roster.Event, len(rs))
	for i, row := range rs {
		if events[i], err = event(row).Domain(); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// EventBounds returns the smallest and largest retained event IDs, 0 and
// 0 when there are none.
func (db *DB) EventBounds(ctx context.Context) (oldest, newest int64, err error) {
	rs, err := db.all(ctx, stmt{sql: sqlitedb.SQLEventBounds})
	if err != nil {
		return 0, 0, storeError("event bounds", err)
	}
	if len(rs) != 1 {
		return 0, 0, fmt.Errorf("event bounds: got %d rows, want 1", len(rs))
	}
	return int64(rs[0].Get("oldest").Float()), int64(rs[0].Get("newest").Float()), nil
}

// PurgeEvents deletes the events with At before the given time, except
// the newest one, and returns how many it deleted: changes(), as for
// every write here (see deletedRows).
func (db *DB) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.batch(ctx,
		stmt{sqlitedb.SQLPurgeEvents, []any{before.UnixMicro()}},
		stmt{sql: `SELECT changes() AS purged`},
	)
	if err != nil {
		return 0, storeError("purge events", err)
	}
	rs := rows(res[1])
	if len(rs) != 1 {
		return 0, fmt.Errorf("purge events: got %d counts, want 1", len(rs))
	}
	return int64(rs[0].Get("purged").Float()), nil
}

// event reads a row of the events table (ids and times are integers well
// within 2^53; data is null for a delete).
func event(row js.Value) sqlitedb.Event {
	ev := sqlitedb.Event{
		ID:     int64(row.Get("id").Float()),
		Type:   row.Get("type").String(),
		UserID: row.Get("user_id").String(),
		At:     int64(row.Get("at").Float()),
	}
	if d := row.Get("data"); d.Type() == js.TypeString {
		ev.Data = sql.NullString{String: d.String(), Valid: true}
	}
	return ev
}
