//go:build !fuzzing

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
)

// startFeed runs a broker over store for the rest of the test and
// returns a configure function wiring it into a server.
func startFeed(t *testing.T, store roster.UserStore, cfg feed.Config) func(*httpapi.Config) {
	t.Helper()
	cfg.Store = store.(roster.EventStore)
	b := feed.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	})
	return func(c *httpapi.Config) { c.Feed = b; c.KeepAlive = 50 * time.Millisecond }
}

// sseEvent is one dispatched event, or a comment line.
type sseEvent struct {
	id, event, data, retry, comment string
}

// stream is an open GET /api/events.
type stream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	ended  chan error
}

func openStream(t *testing.T, base, token string, header http.Header, query string) *stream {
	t.Helper()
	return openStreamWith(t, http.DefaultClient, base, token, header, query)
}

func openStreamWith(t *testing.T, client *http.Client, base, token string, header http.Header, query string) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/events"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /api/events: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &stream{t: t, resp: resp, events: make(chan sseEvent, 1000), ended: make(chan error, 1)}
	go s.read()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() { s.resp.Body.Close() }

func (s *stream) read() {
	sc := bufio.NewScanner(s.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if ev != (sseEvent{}) {
				s.events <- ev
			}
			ev = sseEvent{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			ev.comment = value
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			ev.data = value
		case "retry":
			ev.retry = value
		}
	}
	s.ended <- sc.Err()
}

// next returns the next event that is not a comment.
func (s *stream) next() sseEvent {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.comment != "" || ev.retry != "" {
				continue
			}
			return ev
		case err := <-s.ended:
			// The reader queues every event before it reports the end,
			// but select picks at random among ready cases: an event
			// still queued comes first (a loaded machine, -race, has both
			// ready at once). The end goes back for expectEnd.
			s.ended <- err
			select {
			case ev := <-s.events:
				if ev.comment != "" || ev.retry != "" {
					continue
				}
				return ev
			default:
				s.t.Fatalf("stream ended: %v", err)
			}
		case <-deadline:
			s.t.Fatal("no event within 10s")
		}
	}
}

// payload decodes an event's data.
func payload(t *testing.T, ev sseEvent) (typ string, u *roster.User, id string) {
	t.Helper()
	var d struct {
		Type string       `json:"type"`
		User *roster.User `json:"user"`
		ID   string       `json:"id"`
		At   time.Time    `json:"at"`
	}
	if err := json.Unmarshal([]byte(ev.data), &d); err != nil || d.At.IsZero() || d.Type != ev.event {
		t.Fatalf("event %+v: bad data: %v", ev, err)
	}
	return d.Type, d.User, d.ID
}

func TestEventStream(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		srv := httptest.NewUnstartedServer(h.srv)
		// net/http reports misuse of a hijacked connection here (a
		// middleware writing a status after the stream took it over).
		var serverLog syncBuffer
		srv.Config.ErrorLog = log.New(&serverLog, "", 0)
		srv.Start()
		t.Cleanup(func() {
			if s := serverLog.String(); s != "" {
				t.Errorf("server log: %s", s)
			}
		})
		t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for their handlers
		s := openStream(t, srv.URL, h.admin, nil, "")
		first := <-s.events
		if first.retry == "" {
			t.Errorf("first frame %+v, want a retry hint", first)
		}
		// HTTP/1.1 streams are served on the hijacked connection, whose
		// end ends the body.
		if !s.resp.Close || s.resp.Header.Get("X-Request-Id") == "" || s.resp.Header.Get("X-Content-Type-Options") == "" {
			t.Errorf("stream head %v (close %t): want Connection: close and the middleware's headers", s.resp.Header, s.resp.Close)
		}

		u := h.createUser("Ada", "ada@example.com")
		path := "/api/users/" + u.ID.String()
		h.do(request{method: "PATCH", path: path, token: h.admin, body: `{"name":"Ada L."}`})
		h.do(request{method: "POST", path: "/api/users", token: h.admin, body: userJSON("Dup", "ADA@example.com")}) // 409: no event
		h.do(request{method: "DELETE", path: path, token: h.admin})

		var lastID string
		var last int64
		for i, want := range []string{"user.created", "user.updated", "user.deleted"} {
			ev := s.next()
			typ, user, id := payload(t, ev)
			n, err := strconv.ParseInt(ev.id, 10, 64)
			if typ != want || err != nil || n <= last {
				t.Errorf("event %d: %+v, want %s with an increasing id", i, ev, want)
			}
			switch want {
			case "user.created":
				if user == nil || *user != u {
					t.Errorf("created payload %+v, want %+v", user, u)
				}
			case "user.updated":
				if user == nil || user.Name != "Ada L." || user.Email != "ada@example.com" {
					t.Errorf("updated payload %+v", user)
				}
			case "user.deleted":
				if user != nil || id != u.ID.String() {
					t.Errorf("deleted payload: user %+v, id %q", user, id)
				}
			}
			lastID, last = ev.id, n
		}
		// Keep-alives flow on an idle stream.
		for ev := range s.events {
			if ev.comment != "" {
				break
			}
		}

		// Disconnect, write more, resume: exactly the missed events.
		s.close()
		b := h.createUser("Bob", "bob@example.com")
		c := h.createUser("Cy", "cy@example.com")
		missed := []roster.User{b, c}
		for i, hdr := range []struct {
			header http.Header
			query  string
		}{{http.Header{"Last-Event-Id": {lastID}}, ""}, {nil, "?last_event_id=" + lastID}} {
			r := openStream(t, srv.URL, h.admin, hdr.header, hdr.query)
			for _, want := range missed {
				if _, user, _ := payload(t, r.next()); user == nil || user.ID != want.ID {
					t.Errorf("resumed: got %+v, want %s", user, want.Name)
				}
			}
			d := h.createUser("Di", fmt.Sprintf("di%d@example.com", i))
			if _, user, _ := payload(t, r.next()); user == nil || user.ID != d.ID {
				t.Errorf("live after resume: got %+v, want %s", user, d.Email)
			}
			missed = append(missed, d)
			r.close()
		}
	})
}

func TestEventStreamOptions(t *testing.T) {
	store := sqliteStore(t)
	h := newHarness(t, store, startFeed(t, store, feed.Config{MaxSubscribers: 3}))
	srv := httptest.NewServer(h.srv)
	t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for their handlers
	self := h.createUser("Self", "self@example.com")

	// A non-admin sees others without their email, itself whole.
	user := openStream(t, srv.URL, h.token(self.ID.String()), nil, "")
	deletes := openStream(t, srv.URL, h.admin, nil, "?types=user.deleted")
	other := h.createUser("Other", "other@example.com")
	h.do(request{method: "PATCH", path: "/api/users/" + self.ID.String(), token: h.admin, body: `{"name":"Me"}`})
	h.do(request{method: "DELETE", path: "/api/users/" + other.ID.String(), token: h.admin})
	if _, u, _ := payload(t, user.next()); u.ID != other.ID || u.Email != "" || u.Name != "Other" {
		t.Errorf("non-admin sees another user as %+v, want no email", u)
	}
	if _, u, _ := payload(t, user.next()); u.ID != self.ID || u.Email != "self@example.com" {
		t.Errorf("non-admin sees itself as %+v, want its email", u)
	}
	if typ, _, id := payload(t, deletes.next()); typ != "user.deleted" || id != other.ID.String() {
		t.Errorf("types filter: got %s %s", typ, id)
	}

	// A Last-Event-ID from beyond the history gets a reset, then live events.
	reset := openStream(t, srv.URL, h.admin, http.Header{"Last-Event-Id": {"999999"}}, "")
	if ev := reset.next(); ev.event != "reset" || !strings.Contains(ev.data, "ahead of the stream") {
		t.Errorf("got %+v, want event: reset saying the id is ahead of the stream", ev)
	}
	// The cap: three streams are open.
	rec := h.do(request{method: "GET", path: "/api/events", token: h.admin})
	checkError(t, rec, http.StatusServiceUnavailable, "UNAVAILABLE")
	for _, q := range []string{"?types=user.exploded", "?last_event_id=-1", "?since=1"} {
		checkError(t, h.do(request{method: "GET", path: "/api/events" + q, token: h.admin}), 400, "BAD_REQUEST")
	}
	checkError(t, h.do(request{method: "GET", path: "/api/events"}), 401, "UNAUTHORIZED")
	// HEAD answers with the stream's head and no body, and holds no slot.
	for range 4 {
		req, _ := http.NewRequest("HEAD", srv.URL+"/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+h.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HEAD /api/events: %v, %v", res, err)
		}
		res.Body.Close()
	}
	// The query-string token is for the stream only, and must be valid.
	checkError(t, h.do(request{method: "GET", path: "/api/users?access_token=" + h.admin}), 401, "UNAUTHORIZED")
	checkError(t, h.do(request{method: "GET", path: "/api/events?access_token=forged"}), 401, "UNAUTHORIZED")
	reset.close() // frees a slot once the server notices
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		res, err := http.Get(srv.URL + "/api/events?access_token=" + h.admin) // as EventSource does
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			break
		}
		if res.StatusCode != 503 || time.Since(start) > 5*time.Second {
			t.Fatalf("token in the query: got %d", res.StatusCode)
		}
	}

	// Shutdown ends the streams cleanly, with a final event, and
	// WaitStreams sees them end.
	h.srv.Drain()
	ev := user.next()
	for ev.event == "user.deleted" { // the one not read above
		ev = user.next()
	}
	if ev.event != "shutdown" {
		t.Errorf("last frame before the end: got %+v, want a shutdown event", ev)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.WaitStreams(wctx); err != nil {
		t.Errorf("WaitStreams: %v", err)
	}
	select {
	case err := <-user.ended:
		if err != nil {
			t.Errorf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Drain did not end the stream")
	}
}

// Over HTTP/2, which cannot hijack, the stream goes through net/http, and
// Drain still ends it.
func TestEventStreamHTTP2(t *testing.T) {
	store := sqliteStore(t)
	h := newHarness(t, store, startFeed(t, store, feed.Config{}))
	srv := httptest.NewUnstartedServer(h.srv)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := openStreamWith(t, srv.Client(), srv.URL, h.admin, nil, "")
	if s.resp.ProtoMajor != 2 {
		t.Fatalf("stream over %s, want HTTP/2", s.resp.Proto)
	}
	u := h.createUser("Ada", "ada@example.com")
	if _, got, _ := payload(t, s.next()); got == nil || got.ID != u.ID {
		t.Errorf("got %+v, want the create", got)
	}
	h.srv.Drain()
	if ev := s.next(); ev.event != "shutdown" {
		t.Errorf("last frame before the end: got %+v, want a shutdown event", ev)
	}
	select {
	case err := <-s.ended:
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Drain did not end the stream")
	}
}

// A stream outlives the server's read and write timeouts: they protect
// short requests, not the feed.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	store := sqliteStore(t)
	h := newHarness(t, store, startFeed(t, store, feed.Config{}))
	srv := httptest.NewUnstartedServer(h.srv)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	s := openStream(t, srv.URL, h.admin, nil, "")
	time.Sleep(300 * time.Millisecond)
	u := h.createUser("Late", "late@example.com")
	if _, got, _ := payload(t, s.next()); got == nil || got.ID != u.ID {
		t.Errorf("got %+v", got)
	}
}

// Two servers on one PostgreSQL: a write through one reaches the
// subscribers of the other.
func TestEventStreamAcrossInstances(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open := func() roster.UserStore {
		db, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	a := open()
	migrateUp(t, a.(*postgres.DB).Migrator)
	b := open()
	// Slow polling: only LISTEN/NOTIFY can deliver within the test's wait.
	ha := newHarness(t, a, startFeed(t, a, feed.Config{PollInterval: time.Hour}))
	hb := newHarness(t, b, startFeed(t, b, feed.Config{PollInterval: time.Hour}))
	srvB := httptest.NewServer(hb.srv)
	t.Cleanup(srvB.Close)
	s := openStream(t, srvB.URL, hb.admin, nil, "")
	for i := range 5 {
		start := time.Now()
		u := ha.createUser("Across", "across"+string(rune('a'+i))+"@example.com")
		if _, got, _ := payload(t, s.next()); got == nil || got.ID != u.ID {
			t.Fatalf("instance B got %+v, want %s", got, u.ID)
		}
		t.Logf("write on A to event on B: %v", time.Since(start))
	}
}
