//go:build !fuzzing

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// protocols are the two ways a stream is served: on the hijacked
// HTTP/1.1 connection, and through net/http over HTTP/2.
var protocols = []struct {
	name  string
	http2 bool
}{{"http1", false}, {"http2", true}}

// streamServer serves h over HTTP/1.1 or HTTP/2 (TLS) and returns a client
// for it.
func streamServer(t *testing.T, h http.Handler, http2 bool) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if http2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for their handlers
	return srv, srv.Client()
}

// getEvents opens GET /api/events and returns the response, whatever its
// status; the request gives up after 10 s so a stream that should have
// been refused cannot hang the test.
func getEvents(t *testing.T, client *http.Client, base, token string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// waitSubscribers polls the broker until it has want subscriptions; the
// bound only keeps a broken build from hanging.
func waitSubscribers(t *testing.T, b *feed.Broker, want int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.Len() != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after 10s, want %d", b.Len(), want)
		}
	}
}

// expectEnd waits for the stream to end cleanly after its final event.
func (s *stream) expectEnd() {
	s.t.Helper()
	for {
		select {
		case ev := <-s.events:
			if ev.comment == "" && ev.retry == "" {
				s.t.Errorf("after the last event: %+v", ev)
			}
		case err := <-s.ended:
			if err != nil {
				s.t.Errorf("stream ended with %v, want a clean end", err)
			}
			return
		case <-time.After(10 * time.Second):
			s.t.Fatal("stream still open 10s after its last event")
		}
	}
}

// checkUnauthorized asserts the frame that ends a stream whose token
// expired.
func checkUnauthorized(t *testing.T, ev sseEvent) {
	t.Helper()
	var d struct{ Code, Message string }
	if ev.event != "unauthorized" || ev.id != "" || json.Unmarshal([]byte(ev.data), &d) != nil || d.Code != "UNAUTHORIZED" || d.Message == "" {
		t.Errorf("got %+v, want event: unauthorized with {code: UNAUTHORIZED, message} and no id", ev)
	}
}

// A stream ends when its token does: at exp plus the leeway, measured on
// the server's clock, with a final event: unauthorized. The clock and the
// timer are fakes, so the test knows the exact delay the stream asked for.
func TestEventStreamEndsAtTokenExpiry(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := auth.New(auth.Config{Secret: testSecret, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	type armed struct {
		d    time.Duration
		fire func()
	}
	for _, p := range protocols {
		for _, inQuery := range []bool{false, true} {
			name := p.name + "/header"
			if inQuery {
				name = p.name + "/access_token"
			}
			t.Run(name, func(t *testing.T) {
				store := sqliteStore(t)
				h := newHarness(t, store, startFeed(t, store, feed.Config{}), func(c *httpapi.Config) {
					c.Auth = a
					c.Now = func() time.Time { return t0.Add(10 * time.Second) }
				})
				h.auth = a
				h.admin = h.token("admin-1", roster.RoleAdmin)
				timers := make(chan armed, 1)
				httpapi.SetStreamTimer(h.srv, func(d time.Duration, f func()) func() bool {
					timers <- armed{d, f}
					return func() bool { return true }
				})
				srv, client := streamServer(t, h.srv, p.http2)
				tok, err := a.Issue("user-1", nil, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				var s *stream
				if inQuery {
					s = openStreamWith(t, client, srv.URL, "", nil, "?access_token="+tok)
				} else {
					s = openStreamWith(t, client, srv.URL, tok, nil, "")
				}
				var timer armed
				select {
				case timer = <-timers:
				case <-time.After(10 * time.Second):
					t.Fatal("the stream set no expiry timer")
				}
				// exp is t0+60s, the leeway 30s, the server's clock t0+10s.
				if want := 80 * time.Second; timer.d != want {
					t.Errorf("expiry timer of %v, want %v", timer.d, want)
				}
				u := h.createUser("Before", "before@example.com")
				if _, got, _ := payload(t, s.next()); got == nil || got.ID != u.ID {
					t.Errorf("before expiry: got %+v, want the create", got)
				}
				timer.fire()
				checkUnauthorized(t, s.next())
				s.expectEnd()
			})
		}
	}
}

// The same with the real clock: a token that expires 1-2 s from now (the
// leeway cut to a millisecond) ends its stream; the 10 s waits are only a
// guard against a stream that never ends.
func TestEventStreamEndsWithShortToken(t *testing.T) {
	a, err := auth.New(auth.Config{Secret: testSecret, Leeway: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			store := sqliteStore(t)
			h := newHarness(t, store, startFeed(t, store, feed.Config{}), func(c *httpapi.Config) { c.Auth = a })
			srv, client := streamServer(t, h.srv, p.http2)
			tok, err := a.Issue("user-1", nil, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			s := openStreamWith(t, client, srv.URL, "", nil, "?access_token="+tok)
			checkUnauthorized(t, s.next())
			s.expectEnd()
		})
	}
}

// One subject holds at most --max-subscribers-per-user streams, admins
// too; others still get theirs, and a stream that ends frees its slot.
func TestEventStreamsPerSubject(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			store := sqliteStore(t)
			var fc httpapi.Config
			startFeed(t, store, feed.Config{MaxPerSubject: 2})(&fc)
			broker := fc.Feed
			h := newHarness(t, store, func(c *httpapi.Config) { c.Feed = broker })
			srv, client := streamServer(t, h.srv, p.http2)
			user := h.token("user-1")
			first := openStreamWith(t, client, srv.URL, user, nil, "")
			openStreamWith(t, client, srv.URL, user, nil, "")
			openStreamWith(t, client, srv.URL, h.admin, nil, "")
			openStreamWith(t, client, srv.URL, h.admin, nil, "")
			for _, tok := range []string{user, h.admin} {
				res := getEvents(t, client, srv.URL, tok)
				body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
				var env envelope
				if res.StatusCode != http.StatusTooManyRequests || json.Unmarshal(body, &env) != nil ||
					env.Error.Code != "TOO_MANY_STREAMS" || res.Header.Get("Retry-After") == "" {
					t.Fatalf("stream beyond the cap: %d %v %s, want 429 TOO_MANY_STREAMS with Retry-After", res.StatusCode, res.Header, body)
				}
			}
			openStreamWith(t, client, srv.URL, h.token("user-2"), nil, "")
			waitSubscribers(t, broker, 5)

			first.close()
			waitSubscribers(t, broker, 4)
			s := openStreamWith(t, client, srv.URL, user, nil, "")
			u := h.createUser("Ada", "ada@example.com")
			if _, got, _ := payload(t, s.next()); got == nil || got.ID != u.ID {
				t.Errorf("the stream in the freed slot got %+v", got)
			}
		})
	}
}

// A client that closes its TCP connection frees its slot at once, not at
// the next failed write: the keep-alive is an hour here, so only the
// reader on the hijacked connection can notice. Bytes a client sends after
// its request are read and discarded; the stream stays.
func TestEventStreamClientGoneFreesSlot(t *testing.T) {
	store := sqliteStore(t)
	var fc httpapi.Config
	startFeed(t, store, feed.Config{})(&fc)
	broker := fc.Feed
	h := newHarness(t, store, func(c *httpapi.Config) { c.Feed = broker; c.KeepAlive = time.Hour })
	srv, _ := streamServer(t, h.srv, false)

	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET /api/events HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer "+h.admin+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream's head: %v", err)
			}
			if strings.HasPrefix(line, "retry:") {
				return conn, br
			}
		}
	}
	chatty, chattyIn := dial()
	gone, _ := dial()
	waitSubscribers(t, broker, 2)

	// Bytes after the request (a pipelined request, garbage) are ignored.
	if _, err := io.WriteString(chatty, "GET /api/users HTTP/1.1\r\nHost: roster\r\n\r\nnonsense"); err != nil {
		t.Fatal(err)
	}
	u := h.createUser("Ada", "ada@example.com")
	for {
		line, err := chattyIn.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream that was sent extra bytes: %v", err)
		}
		if strings.HasPrefix(line, "data:") && strings.Contains(line, u.ID.String()) {
			break
		}
	}

	gone.Close()
	waitSubscribers(t, broker, 1)
	if n := broker.Len(); n != 1 {
		t.Errorf("%d subscribers, want the chatty one left", n)
	}
}
