package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/bulk"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/tracing"
)

// eventWriteTimeout bounds each write to a stream: a client that stops
// reading is cut off instead of holding its goroutine forever.
const eventWriteTimeout = 10 * time.Second

// eventRetry is the reconnection delay suggested to EventSource clients.
const eventRetry = 2 * time.Second

// keepAliveFrame is a comment that keeps an idle stream's connection and
// its proxies from timing out.
var keepAliveFrame = []byte(": keep-alive\n\n")

// shutdownFrame is the last frame of every stream when the server stops.
const shutdownFrame = "event: shutdown\ndata: {\"reason\":\"the server is shutting down; reconnect with Last-Event-ID\"}\n\n"

// expiredFrame is a stream's last frame when its token expires. Its name is
// not "error", which EventSource uses for its own connection errors; it has
// no id, so a client resumes after the last real event, with a new token.
const expiredFrame = "event: unauthorized\ndata: {\"code\":\"UNAUTHORIZED\",\"message\":\"The token has expired; reconnect with a new one\"}\n\n"

// Why a stream's context ends, besides its request's.
var (
	errTokenExpired = errors.New("token expired")
	errClientGone   = errors.New("client closed the connection")
)

// eventData is the JSON of one event: the user after a create or update,
// the id of a deleted one.
type eventData struct {
	Type roster.EventType `json:"type"`
	User *roster.User     `json:"user,omitempty"`
	ID   *uuid.UUID       `json:"id,omitempty"`
	At   jsonTime         `json:"at"`
}

// importEventData is the JSON of a users.imported event: the import's
// totals instead of a user.
type importEventData struct {
	Type roster.EventType `json:"type"`
	roster.ImportSummary
	At jsonTime `json:"at"`
}

// jsonTime is a time written in roster.TimeLayout, as users' times are.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	b, ok := bulk.AppendJSONTime(nil, time.Time(t))
	if !ok {
		return time.Time(t).MarshalJSON() // the error time.Time gives
	}
	return b, nil
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
	if r.Method == http.MethodHead { // the route's GET pattern matches HEAD too
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	sub, reset, err := s.feed.Subscribe(r.Context(), actor.Subject, after)
	switch {
	case errors.Is(err, feed.ErrTooManyForSubject):
		// The caller's own streams hold every slot it has: one of them
		// ending frees one.
		w.Header().Set("Retry-After", "5")
		s.error(w, r, roster.Errorf(codeTooManyStreams, "Too many event streams open with this token's subject; close one first"))
		return
	case errors.Is(err, feed.ErrTooMany), errors.Is(err, feed.ErrClosed):
		w.Header().Set("Retry-After", "5")
		s.error(w, r, roster.Errorf(roster.CodeUnavailable, "Too many subscribers; retry shortly"))
		return
	case err != nil:
		s.error(w, r, err)
		return
	}
	s.metrics.Subscribers(1)
	st := &eventStream{s: s, sub: sub, actor: actor, types: types, requestID: requestIDFrom(r.Context()), expires: tokenExpires(r.Context()),
		subscribed: trace.SpanContextFromContext(r.Context())}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx-style proxies not to buffer
	// On HTTP/1.1 the stream leaves net/http: the connection is hijacked
	// and served by a goroutine of its own with a small stack, while the
	// handler's goroutine (its stack grown by the request's setup), the
	// server's reader goroutine, its buffers and the request are freed.
	// That halves an idle stream's memory. The body then ends with the
	// connection (Connection: close), as an SSE stream does anyway.
	if conn, _, err := rc.Hijack(); err == nil {
		s.handOff(st, conn, h, reset)
		return
	}
	// HTTP/2, or a writer that cannot hijack: stream through net/http.
	// The server's read timeout would cancel the request's context once
	// it passes, ending the stream; a stream has nothing more to read.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		st.close()
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
	st.out = &responseOut{w: w, rc: rc}
	st.run(r.Context(), reset)
}

// handOff serves the stream on a hijacked connection, from a goroutine the
// server tracks (WaitStreams waits for it). The response head goes out with the
// first frames. The hijack's read buffer is dropped: a GET has nothing
// more worth reading. A reader goroutine, which the stream's goroutine owns
// and stops by closing the connection, ends the stream as soon as the
// client closes its side, instead of at a failed write one or two
// keep-alives later.
func (s *Server) handOff(st *eventStream, conn net.Conn, h http.Header, reset bool) {
	s.streamsMu.Lock()
	if s.streamsEnded { // Drain may be waiting already: end at once
		s.streamsMu.Unlock()
		st.close()
		_ = conn.Close()
		return
	}
	s.streams.Add(1)
	s.streamsMu.Unlock()

	_ = conn.SetReadDeadline(time.Time{}) // nothing more is read
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head) // a bytes.Buffer does not fail
	head.WriteString("\r\n")
	st.out = &connOut{conn: conn, buf: head.Bytes()}
	go func() {
		defer s.streams.Done()
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			discardUntilClosed(conn)
			cancel(errClientGone)
		}()
		st.run(ctx, reset)
		_ = conn.Close() // ends the reader's Read
		<-readerDone
	}()
}

// discardUntilClosed reads conn until the client closes it (EOF) or it
// fails. A stream's client has nothing more to say; whatever it sends
// (a pipelined request, anything) is read in small pieces and dropped, so
// an idle stream keeps no large buffer.
func discardUntilClosed(conn net.Conn) {
	buf := make([]byte, 256)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// eventStream is one subscriber's stream: what it sends and where.
type eventStream struct {
	s         *Server
	sub       *feed.Subscription
	actor     roster.Actor
	types     []roster.EventType
	requestID string
	expires   time.Time // when the token stops being accepted; zero: never
	out       streamOut
	// subscribed is the span of the request that opened the stream
	// (not valid when tracing is off): each delivery links to it.
	subscribed trace.SpanContext
}

// streamOut writes a stream's frames; flush false means more frames
// follow at once and may share the write.
type streamOut interface {
	send(p []byte, flush bool) error
}

// responseOut streams through net/http.
type responseOut struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (o *responseOut) send(p []byte, flush bool) error {
	if err := o.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := o.w.Write(p); err != nil || !flush {
		return err
	}
	return o.rc.Flush()
}

// connOut streams on a hijacked connection, its frames gathered in buf
// until a flush.
type connOut struct {
	conn net.Conn
	buf  []byte
}

func (o *connOut) send(p []byte, flush bool) error {
	if !flush {
		o.buf = append(o.buf, p...)
		return nil
	}
	if err := o.conn.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil {
		return err
	}
	if len(o.buf) == 0 { // the usual case: one frame, written as it is
		_, err := o.conn.Write(p)
		return err
	}
	o.buf = append(o.buf, p...)
	_, err := o.conn.Write(o.buf)
	if cap(o.buf) > 4<<10 {
		o.buf = nil // a burst's buffer is not kept by an idle stream
	} else {
		o.buf = o.buf[:0]
	}
	return err
}

func (st *eventStream) close() {
	st.sub.Close()
	st.s.metrics.Subscribers(-1)
}

// run sends the retry hint, the reset if any, then events and keep-alives
// until the subscription ends, ctx ends, a write fails or the token
// expires (then with a last event: unauthorized).
func (st *eventStream) run(ctx context.Context, reset bool) {
	defer st.close()
	s, sub := st.s, st.sub
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !st.expires.IsZero() {
		stop := s.afterFunc(st.expires.Sub(s.now()), func() { cancel(errTokenExpired) })
		defer stop()
	}
	send := func(frame []byte) error {
		// Events already waiting go out in the same write: under a burst,
		// one syscall per subscriber instead of one per event.
		err := st.out.send(frame, sub.Pending() == 0)
		if err != nil {
			s.log.Debug("event stream ended: write failed", "request_id", st.requestID, "err", err)
		}
		return err
	}
	if send(fmt.Appendf(nil, "retry: %d\n\n", eventRetry.Milliseconds())) != nil {
		return
	}
	if reset {
		reason := "events after Last-Event-ID are no longer retained; resync"
		if sub.Ahead() {
			reason = "Last-Event-ID is ahead of the stream: no event has that id yet; resync"
		}
		if send([]byte("event: reset\ndata: {\"reason\":\""+reason+"\"}\n\n")) != nil {
			return
		}
	}
	keepAlive := time.NewTicker(s.keepAlive)
	defer keepAlive.Stop()
	for {
		// Checked before each event too: a stream busy with a backlog
		// or a burst may not wait in Next, where ctx is watched.
		select {
		case <-ctx.Done():
			st.end(ctx)
			return
		default:
		}
		ev, err := sub.Next(ctx, keepAlive.C)
		switch {
		case errors.Is(err, feed.ErrIdle):
			if send(keepAliveFrame) != nil {
				return
			}
			continue
		case errors.Is(err, feed.ErrSlowConsumer):
			s.metrics.Count(SlowConsumer)
			s.log.Info("slow subscriber dropped", "request_id", st.requestID, "last_event_id", sub.LastID())
			return
		case errors.Is(err, feed.ErrClosed) && s.draining.Load():
			// A clean end the client can tell from a broken connection.
			_ = st.out.send([]byte(shutdownFrame), true)
			return
		case ctx.Err() != nil: // token expired, client gone
			st.end(ctx)
			return
		case err != nil: // store failure
			level := slog.LevelWarn
			if errors.Is(err, feed.ErrClosed) {
				level = slog.LevelDebug // the feed stopped: not this stream's fault
			}
			s.log.Log(ctx, level, "event stream ended", "request_id", st.requestID, "err", err)
			return
		}
		if len(st.types) > 0 && !slices.Contains(st.types, ev.Type) {
			continue
		}
		span := st.startDelivery(ctx, ev)
		frame, err := s.encodedEvents.get(s, ev, st.actor)
		if err != nil {
			tracing.End(span, err, "encoding failed")
			s.log.Error("encoding event", "request_id", st.requestID, "err", err)
			return
		}
		err = send(frame)
		tracing.End(span, err, "write failed")
		if err != nil {
			return
		}
		s.metrics.Count(EventSent)
	}
}

// startDelivery starts the span of ev's delivery on this stream, when
// tracing is on; nil otherwise. A delivery is a trace of its own, sampled
// as any new trace is: the subscriber's request ended when its stream
// began, and one write fans out to every subscriber. It is linked to the
// write that made ev (when that was sampled, the store kept its span) and
// to the request that opened the stream, so that either leads to it.
func (st *eventStream) startDelivery(ctx context.Context, ev roster.Event) trace.Span {
	if st.s.tracer == nil {
		return nil
	}
	links := make([]trace.Link, 0, 2)
	if ev.Trace.IsValid() {
		links = append(links, trace.Link{SpanContext: ev.Trace, Attributes: []attribute.KeyValue{linkWrite}})
	}
	if st.subscribed.IsValid() {
		links = append(links, trace.Link{SpanContext: st.subscribed, Attributes: []attribute.KeyValue{linkSubscription}})
	}
	_, span := st.s.tracer.Tracer(tracing.ScopeName).Start(ctx, "roster.event.deliver",
		trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.Int64("roster.event.id", ev.ID),
			attribute.String("roster.event.type", string(ev.Type)),
			attribute.String("roster.request_id", st.requestID), // the stream's
			attribute.String("user.id", st.actor.Subject),       // the subscriber
		))
	return span
}

// What a delivery's link points to.
var (
	linkWrite        = attribute.String("roster.link", "write")
	linkSubscription = attribute.String("roster.link", "subscription")
)

// end closes a stream whose context ended: with the last frame when its
// token expired.
func (st *eventStream) end(ctx context.Context) {
	if errors.Is(context.Cause(ctx), errTokenExpired) {
		st.s.log.Info("event stream ended: token expired", "request_id", st.requestID, "last_event_id", st.sub.LastID())
		_ = st.out.send([]byte(expiredFrame), true)
		return
	}
	st.s.log.Debug("event stream ended", "request_id", st.requestID, "cause", context.Cause(ctx))
}

// eventPayload shapes an event for actor, with the users it names as the
// service shows them to actor.
func (s *Server) eventPayload(ev roster.Event, actor roster.Actor) any {
	if ev.Import != nil {
		return importEventData{Type: ev.Type, At: jsonTime(ev.At), ImportSummary: *ev.Import}
	}
	d := eventData{Type: ev.Type, At: jsonTime(ev.At)}
	if ev.User == nil {
		id := ev.UserID
		d.ID = &id
		return d
	}
	u := s.users.Visible(actor, *ev.User)
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

// eventCache encodes each event's frame once per view rather than once
// per subscriber: with thousands of streams, encoding dominated fan-out.
// All subscribers get an event at about the same time, so a small ring of
// recent events, one lock per slot, holds what is needed. A frame is
// shared by every stream that sends it: it is never written to after it
// is made (a slot that is reused gets new slices).
type eventCache struct {
	slots [1024]eventSlot
}

// An event has at most two views, whoever subscribes: the user whole
// (admins, the user itself, everyone under EmailsAll) or without its
// email. Which one an actor gets is the service's rule, asked per send.
// Each is held as the whole SSE frame (id, event, data).
type eventSlot struct {
	mu             sync.Mutex
	id             int64
	full, redacted []byte
}

// nobody is an actor who is no user and holds no role: what anyone is
// shown of a user that is not theirs.
var nobody = roster.Actor{}

func (c *eventCache) get(s *Server, ev roster.Event, actor roster.Actor) ([]byte, error) {
	sl := &c.slots[uint64(ev.ID)%uint64(len(c.slots))] // #nosec G115 -- a hash of the id: any bit pattern picks a valid slot
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.id != ev.ID || sl.full == nil {
		full, err := eventFrame(ev, s.eventPayload(ev, roster.Actor{Roles: []string{roster.RoleAdmin}}))
		if err != nil {
			return nil, err
		}
		redacted, err := eventFrame(ev, s.eventPayload(ev, nobody))
		if err != nil {
			return nil, err
		}
		sl.id, sl.full, sl.redacted = ev.ID, full, redacted
	}
	if ev.User == nil || s.users.Visible(actor, *ev.User).Email != "" {
		return sl.full, nil
	}
	return sl.redacted, nil
}

// eventFrame is the SSE frame of ev with payload as its data.
func eventFrame(ev roster.Event, payload any) ([]byte, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data), nil
}
