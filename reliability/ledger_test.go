//go:build reliability

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// entry is one request in the ledger: what the client sent and what it
// was told. The analyser decides from these and the database whether a
// write was lost or landed although it was reported failed.
type entry struct {
	ID      string  `json:"id"`               // client-generated, unique per run
	Op      string  `json:"op"`               // create, update, delete, get, list
	Server  string  `json:"server,omitempty"` // which instance was asked
	Target  string  `json:"target,omitempty"` // the user an update, delete or get is about
	Status  int     `json:"status"`           // 0: no response (transport error)
	Code    string  `json:"code,omitempty"`   // the envelope's error code
	Retry   string  `json:"retry_after,omitempty"`
	Err     string  `json:"err,omitempty"`
	StartMS float64 `json:"start_ms"` // since the ledger opened
	LatMS   float64 `json:"latency_ms"`
	Reused  bool    `json:"reused"`            // the connection had carried a request before
	Dial    bool    `json:"dial_err"`          // the error came from connecting: never accepted
	UserID  string  `json:"user_id,omitempty"` // of an acknowledged create
	Close   bool    `json:"conn_close"`        // the response said Connection: close
}

func (e entry) acked() bool   { return e.Status >= 200 && e.Status < 300 }
func (e entry) failed() bool  { return e.Status >= 400 }
func (e entry) isWrite() bool { return e.Op == "create" || e.Op == "update" || e.Op == "delete" }
func (e entry) end() float64  { return e.StartMS + e.LatMS }

// ledger records every request, to an NDJSON file and in memory.
type ledger struct {
	mu      sync.Mutex
	f       *os.File
	enc     *json.Encoder
	entries []entry
	t0      time.Time
	path    string
}

func newLedger(t *testing.T, dir, name string) *ledger {
	t.Helper()
	path := dir + "/" + name + ".ndjson"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &ledger{f: f, enc: json.NewEncoder(f), t0: time.Now(), path: path}
}

func (l *ledger) since(t time.Time) float64 { return float64(t.Sub(l.t0).Microseconds()) / 1000 }

func (l *ledger) add(e entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	_ = l.enc.Encode(e)
}

func (l *ledger) all() []entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// users are the acknowledged creates, which later updates, deletes and
// reads pick from. A delete takes its user out, so each is deleted once.
type users struct {
	mu  sync.Mutex
	ids []string
}

func (u *users) add(id string) {
	u.mu.Lock()
	u.ids = append(u.ids, id)
	u.mu.Unlock()
}

func (u *users) pick(take bool) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.ids) == 0 {
		return ""
	}
	i := rand.IntN(len(u.ids))
	id := u.ids[i]
	if take {
		u.ids[i] = u.ids[len(u.ids)-1]
		u.ids = u.ids[:len(u.ids)-1]
	}
	return id
}

// mix weighs the operations of a load (any unit).
type mix struct{ create, update, delete, get, list int }

var (
	writesOnly = mix{create: 6, update: 3, delete: 1}
	mixedRW    = mix{create: 3, update: 2, delete: 1, get: 3, list: 1}
)

func (m mix) choose() string {
	n := rand.IntN(m.create + m.update + m.delete + m.get + m.list)
	for _, c := range []struct {
		op string
		w  int
	}{{"create", m.create}, {"update", m.update}, {"delete", m.delete}, {"get", m.get}, {"list", m.list}} {
		if n < c.w {
			return c.op
		}
		n -= c.w
	}
	return "list"
}

// load drives an open-loop request rate from a fixed set of connections
// (one per worker), bounded by a count and a duration.
type load struct {
	tag     string   // prefix of request ids, unique per run
	bases   []string // servers, asked in turn
	names   []string // their names, for the ledger
	token   string
	rate    float64
	max     int
	dur     time.Duration
	workers int
	mix     mix
	timeout time.Duration // client-side bound of one request
	ledger  *ledger
	users   *users
	skipped int // tickets dropped because every worker was busy
}

// run sends requests until max, dur or ctx ends, then waits for the
// requests in flight.
func (ld *load) run(ctx context.Context) {
	if ld.users == nil {
		ld.users = &users{}
	}
	if ld.timeout == 0 {
		ld.timeout = 30 * time.Second
	}
	tickets := make(chan int, ld.workers)
	var wg sync.WaitGroup
	for w := range ld.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(ld.timeout)
			defer c.CloseIdleConnections()
			for i := range tickets {
				ld.one(c, w, i)
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / ld.rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for i := 0; i < ld.max; i++ {
		next := start.Add(time.Duration(i) * interval)
		if time.Since(start) > ld.dur {
			break
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		}
		select {
		case tickets <- i:
		default:
			ld.skipped++
		}
	}
	close(tickets)
	wg.Wait()
}

// newClient is one keep-alive connection with nothing retried behind the
// ledger's back: Go's transport replays a request whose reused
// connection failed when the request is idempotent, which would hide the
// very resets the suite counts.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
}

func (ld *load) one(c *http.Client, worker, i int) {
	op := ld.mix.choose()
	id := fmt.Sprintf("%s-%06d", ld.tag, i)
	e := entry{ID: id, Op: op}
	var method, path, body string
	switch op {
	case "create":
		method, path = "POST", "/api/users"
		body = fmt.Sprintf(`{"name":"n %s","email":"%s@rel.test"}`, id, id)
	case "update", "delete", "get":
		e.Target = ld.users.pick(op == "delete")
		if e.Target == "" { // nothing created yet
			op, e.Op = "create", "create"
			method, path = "POST", "/api/users"
			body = fmt.Sprintf(`{"name":"n %s","email":"%s@rel.test"}`, id, id)
			break
		}
		path = "/api/users/" + e.Target
		method = map[string]string{"update": "PATCH", "delete": "DELETE", "get": "GET"}[op]
		if op == "update" {
			body = fmt.Sprintf(`{"name":"%s"}`, id)
		}
	case "list":
		method, path = "GET", "/api/users?limit=20"
	}
	si := i % len(ld.bases)
	if len(ld.names) > 0 {
		e.Server = ld.names[si]
	}
	ld.do(c, ld.bases[si]+path, method, body, &e)
	if op == "create" && e.acked() {
		ld.users.add(e.UserID)
	}
	ld.ledger.add(e)
}

// do sends one request and fills in the entry.
func (ld *load) do(c *http.Client, url, method, body string, e *entry) {
	// A body the transport cannot rewind makes every request
	// non-replayable, so a failure reaches the ledger as it happened.
	rd := io.NopCloser(strings.NewReader(body))
	req, _ := http.NewRequest(method, url, rd)
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+ld.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// The transport dials on a goroutine of its own.
	var dialErr, reused atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn:     func(ci httptrace.GotConnInfo) { reused.Store(ci.Reused) },
		ConnectDone: func(_, _ string, err error) { dialErr.Store(err != nil) },
	}
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	start := time.Now()
	e.StartMS = ld.ledger.since(start)
	resp, err := c.Do(req)
	e.Reused = reused.Load()
	if err != nil {
		e.LatMS = float64(time.Since(start).Microseconds()) / 1000
		e.Err = err.Error()
		e.Dial = dialErr.Load() || strings.Contains(e.Err, "dial tcp")
		return
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.LatMS = float64(time.Since(start).Microseconds()) / 1000
	e.Status = resp.StatusCode
	e.Close = resp.Close
	e.Retry = resp.Header.Get("Retry-After")
	if rerr != nil {
		e.Err = "reading body: " + rerr.Error()
	}
	if resp.StatusCode >= 400 {
		e.Code = envelopeCode(b)
		if e.Code == "" {
			e.Code = "(no envelope)"
		}
	}
	if e.Op == "create" && e.acked() {
		var u struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(b, &u)
		e.UserID = u.ID
	}
}
