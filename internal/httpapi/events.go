package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/roster"
)

// eventWriteTimeout bounds each write to a stream: a client that stops
// reading is cut off instead of holding its goroutine forever.
const eventWriteTimeout = 10 * time.Second

// eventRetry is the reconnection delay suggested to EventSource clients.
const eventRetry = 2 * time.Second

// eventData is the JSON of one event: the user after a create or update,
// the id of a deleted one.
type eventData struct {
	Type roster.EventType `json:"type"`
	User *roster.User     `json:"user,omitempty"`
	ID   *uuid.UUID       `json:"id,omitempty"`
	At   time.Time        `json:"at"`
}

// handleEvents streams the change feed as Server-Sent Events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.feed == nil {
		s.error(w, r, roster.Errorf(roster.CodeUnavailable, "The change feed is not enabled"))
		return
	}
	actor, _ := roster.ActorFrom(r.Context())
	after, types, err := parseEventsQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sub, reset, err := s.feed.Subscribe(r.Context(), after)
	switch {
	case errors.Is(err, feed.ErrTooMany), errors.Is(err, feed.ErrClosed):
		w.Header().Set("Retry-After", "5")
		s.error(w, r, roster.Errorf(roster.CodeUnavailable, "Too many subscribers; retry shortly"))
		return
	case err != nil:
		s.error(w, r, err)
		return
	}
	defer sub.Close()
	s.metrics.subscribed(1)
	defer s.metrics.subscribed(-1)

	rc := http.NewResponseController(w)
	// The server's read timeout would cancel the request's context once
	// it passes, ending the stream; a stream has nothing more to read.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.error(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx-style proxies not to buffer
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) error {
		if err := rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		// Events already waiting go out in the same write: under a burst,
		// one syscall per subscriber instead of one per event.
		if sub.Pending() > 0 {
			return nil
		}
		return rc.Flush()
	}
	if err := send("retry: %d\n\n", eventRetry.Milliseconds()); err != nil {
		return
	}
	if reset {
		if err := send("event: reset\ndata: {\"reason\":\"events after Last-Event-ID are no longer retained; resync\"}\n\n"); err != nil {
			return
		}
	}

	keepAlive := time.NewTicker(s.keepAlive)
	defer keepAlive.Stop()
	for {
		ev, err := sub.Next(r.Context(), keepAlive.C)
		switch {
		case errors.Is(err, feed.ErrIdle):
			if send(": keep-alive\n\n") != nil {
				return
			}
			continue
		case errors.Is(err, feed.ErrSlowConsumer):
			s.metrics.count(slowConsumersCounter)
			s.log.InfoContext(r.Context(), "slow subscriber dropped", "request_id", requestIDFrom(r.Context()), "last_event_id", sub.LastID())
			return
		case err != nil: // shutdown, client gone, store failure
			if r.Context().Err() == nil && !errors.Is(err, feed.ErrClosed) {
				s.log.WarnContext(r.Context(), "event stream ended", "request_id", requestIDFrom(r.Context()), "err", err)
			}
			return
		}
		if len(types) > 0 && !slices.Contains(types, ev.Type) {
			continue
		}
		data, err := s.encodedEvents.get(ev, actor)
		if err != nil {
			s.log.ErrorContext(r.Context(), "encoding event", "request_id", requestIDFrom(r.Context()), "err", err)
			return
		}
		if send("id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data) != nil {
			return
		}
		s.metrics.count(eventsSentCounter)
	}
}

// eventPayload shapes an event for one subscriber. Non-admins see other
// users' changes without their email, as they would not be told it by a
// feed they cannot filter; their own record is complete.
func eventPayload(ev roster.Event, actor roster.Actor) any {
	if ev.Import != nil {
		return importEventData{Type: ev.Type, At: ev.At, ImportSummary: *ev.Import}
	}
	d := eventData{Type: ev.Type, At: ev.At}
	if ev.User == nil {
		id := ev.UserID
		d.ID = &id
		return d
	}
	u := *ev.User
	if !actor.IsAdmin() && actor.Subject != u.ID.String() {
		u.Email = ""
	}
	d.User = &u
	return d
}

// parseEventsQuery reads Last-Event-ID (header, or ?last_event_id= for
// clients that cannot set headers) and the optional ?types= filter.
func parseEventsQuery(r *http.Request) (after int64, types []roster.EventType, err error) {
	q := r.URL.Query()
	var bad []roster.FieldError
	for name := range q {
		if name != "last_event_id" && name != "types" && name != "access_token" {
			bad = append(bad, roster.FieldError{Field: name, Message: "unknown query parameter"})
		}
	}
	after = -1
	raw, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if q.Has("last_event_id") {
		raw, field = q.Get("last_event_id"), "last_event_id"
	}
	if raw != "" {
		n, perr := strconv.ParseInt(raw, 10, 64)
		if perr != nil || n < 0 {
			bad = append(bad, roster.FieldError{Field: field, Message: "must be an event id (a non-negative integer)"})
		}
		after = n
	}
	if v := q.Get("types"); v != "" {
		for _, t := range strings.Split(v, ",") {
			et := roster.EventType(strings.TrimSpace(t))
			if !slices.Contains(roster.EventTypes, et) {
				bad = append(bad, roster.FieldError{Field: "types", Message: fmt.Sprintf("unknown event type %q", t)})
				continue
			}
			types = append(types, et)
		}
	}
	if len(bad) > 0 {
		return 0, nil, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid query parameters", Details: bad}
	}
	return after, types, nil
}

// eventCache encodes each event once per view rather than once per
// subscriber: with thousands of streams, encoding dominated fan-out. All
// subscribers get an event at about the same time, so a small ring of
// recent events, one lock per slot, holds what is needed.
type eventCache struct {
	slots [1024]eventSlot
}

type eventSlot struct {
	mu             sync.Mutex
	id             int64
	full, redacted []byte // for admins and the user itself; for everyone else
}

func (c *eventCache) get(ev roster.Event, actor roster.Actor) ([]byte, error) {
	sl := &c.slots[uint64(ev.ID)%uint64(len(c.slots))]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.id != ev.ID || sl.full == nil {
		full, err := json.Marshal(eventPayload(ev, roster.Actor{Roles: []string{roster.RoleAdmin}}))
		if err != nil {
			return nil, err
		}
		redacted, err := json.Marshal(eventPayload(ev, roster.Actor{}))
		if err != nil {
			return nil, err
		}
		sl.id, sl.full, sl.redacted = ev.ID, full, redacted
	}
	if actor.IsAdmin() || (ev.User != nil && actor.Subject == ev.User.ID.String()) {
		return sl.full, nil
	}
	return sl.redacted, nil
}
