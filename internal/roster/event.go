package roster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

// EventType names a change on the feed.
type EventType string

const (
	EventUserCreated EventType = "user.created"
	EventUserUpdated EventType = "user.updated"
	EventUserDeleted EventType = "user.deleted"
	// EventUsersImported summarizes one bulk import: one event for the
	// whole import, not one per row (see ImportSummary).
	EventUsersImported EventType = "users.imported"
)

// EventTypes lists the types a client may filter on.
var EventTypes = []EventType{EventUserCreated, EventUserUpdated, EventUserDeleted, EventUsersImported}

// Event is one committed change. Stores write it in the same transaction
// as the change itself (an outbox), so the feed has every acknowledged
// write and nothing of a rolled-back one. IDs increase in commit order.
type Event struct {
	ID     int64
	Type   EventType
	UserID uuid.UUID
	User   *User // the user after the change; nil for deletes and imports
	// Import is the summary of a users.imported event, nil otherwise; its
	// UserID is the zero UUID.
	Import *ImportSummary
	At     time.Time
	// Trace is the span that wrote the event (its request's service
	// call), as the store kept it: the feed links each delivery to it.
	// Not valid when the write was not traced or not sampled.
	Trace trace.SpanContext
}

// Data is the stored payload of ev: the user or the import summary as
// JSON, nil for a delete. Both engines store it as is.
func (ev Event) Data() ([]byte, error) {
	switch {
	case ev.User != nil:
		return json.Marshal(ev.User)
	case ev.Import != nil:
		return json.Marshal(ev.Import)
	}
	return nil, nil
}

// SetData sets ev's payload from data, the stored form Data made for
// ev.Type: the import summary of a users.imported event, the user of any
// other; nil data (a delete) sets neither. Times come back in UTC.
func (ev *Event) SetData(data []byte) error {
	ev.User, ev.Import = nil, nil
	switch {
	case data == nil:
		return nil
	case ev.Type == EventUsersImported:
		ev.Import = new(ImportSummary)
		return json.Unmarshal(data, ev.Import)
	}
	u, err := DecodeUser(data)
	if err != nil {
		return err
	}
	ev.User = &u
	return nil
}

// EventStore reads the outbox. The same value that implements UserStore
// implements it.
type EventStore interface {
	// EventsAfter returns up to limit events with ID > after, in ID order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error)
	// EventBounds returns the smallest and largest retained event IDs;
	// both are 0 when there are none. newest never decreases (purging
	// keeps the latest event, so IDs are never reused).
	EventBounds(ctx context.Context) (oldest, newest int64, err error)
	// PurgeEvents deletes events with At before the given time, except the
	// newest one, and returns how many it deleted.
	PurgeEvents(ctx context.Context, before time.Time) (int64, error)
	// Listen calls wake whenever events may have been committed — by
	// this process or, on PostgreSQL, by any instance — until ctx ends; it
	// then returns nil. wake may be called from more than one goroutine
	// and must not block. It calls wake once as soon as
	// it is listening (commits before that were not announced), and again
	// after every reconnect. Spurious wakes are allowed; missed ones are
	// not, outside those windows.
	Listen(ctx context.Context, wake func()) error
}
