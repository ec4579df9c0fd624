//go:build js && wasm

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall/js"
)

// The bridge between edge/worker.mjs and the handler passes numbers and
// two long-lived byte buffers, not JavaScript objects. Every js.Value
// that refers to a JavaScript object or string carries a Go finalizer
// and a slot in wasm_exec.js's reference table: reading a Request's
// headers one call at a time, and building the Response and its Headers
// from Go, made dozens of them per request, and registering their
// finalizers (runtime.addspecial) was the largest single cost of a
// /health answer. Now worker.mjs writes the request into bridge.in and
// calls rosterServe(id, headLen, bodyLen, big); the handler's answer goes
// back through bridge.out and bridge.done(id, status, headLen, bodyLen,
// big). The wire format of a head is text lines:
//
//	request:  METHOD\nURL\nname:value\n…   (bodyLen -1: a body over 1 MiB, left unread)
//	response: name:value\n…                (status -1: an error of the bridge, the head its message)
//
// Header names hold no ':' and no value holds a newline (RFC 9110), so
// the format needs no escaping.
type bridge struct {
	in, out js.Value // Uint8Arrays owned by worker.mjs, reused by every request
	outCap  int
	done    js.Value // bridge.done
	object  js.Value // globalThis.rosterBridge, for env
}

func newBridge() *bridge {
	o := js.Global().Get("rosterBridge")
	b := &bridge{in: o.Get("in"), out: o.Get("out"), done: o.Get("done"), object: o}
	b.outCap = b.out.Length()
	return b
}

// serve is rosterServe(id, headLen, bodyLen, big): big is null when the
// request fits bridge.in, else a Uint8Array of the whole request. It
// copies the request into Go memory before it returns (worker.mjs reuses
// bridge.in for the next request) and answers on a goroutine, since
// D1's promises settle only after the callback returns.
func (w *worker) serve(_ js.Value, args []js.Value) any {
	id, headLen, bodyLen := args[0].Int(), args[1].Int(), args[2].Int()
	src := w.bridge.in
	if big := args[3]; !big.IsNull() {
		src = big
	}
	msg := make([]byte, headLen+max(bodyLen, 0))
	js.CopyBytesToGo(msg, src) // the first len(msg) bytes
	j := job{id: id, head: msg[:headLen], body: msg[headLen:], unread: bodyLen < 0}
	select {
	case w.jobs <- j: // an idle goroutine takes it
	default:
		go w.answerLoop(j)
	}
	return nil
}

// job is one request for answer.
type job struct {
	id         int
	head, body []byte
	unread     bool
}

// answerLoop answers j and then waits for the next request. Goroutines
// are reused because a fresh one starts on a small stack that the
// handler's depth grows, by copying, several times per request: that was
// a tenth of a /health answer's time in the Go runtime. There are never
// more of them than requests were once in flight at the same time.
func (w *worker) answerLoop(j job) {
	for {
		w.answer(j.id, j.head, j.body, j.unread)
		j = <-w.jobs
	}
}

// answer serves one request and hands the response to bridge.done.
func (w *worker) answer(id int, head, body []byte, unread bool) {
	srv, err := w.server()
	if err != nil {
		slog.Error("roster-edge: configuration", "err", err)
		w.bridge.respond(id, http.StatusInternalServerError, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			[]byte(`{"error":{"code":"INTERNAL_ERROR","message":"An unexpected error occurred"}}`+"\n"))
		return
	}
	r, err := goRequest(head, body, unread)
	if err != nil {
		w.bridge.fail(id, err)
		return
	}
	rec := &recorder{header: http.Header{}}
	srv.ServeHTTP(rec, r)
	w.bridge.respond(id, rec.code(), rec.header, rec.body.Bytes())
}

// respond writes the response's head and body into bridge.out (or a
// fresh Uint8Array when they do not fit) and calls bridge.done.
func (b *bridge) respond(id, status int, header http.Header, body []byte) {
	var msg bytes.Buffer
	for k, vs := range header {
		for _, v := range vs {
			msg.WriteString(k)
			msg.WriteByte(':')
			msg.WriteString(v)
			msg.WriteByte('\n')
		}
	}
	headLen := msg.Len()
	msg.Write(body)
	b.send(id, status, headLen, msg.Bytes())
}

// fail rejects request id's promise with err.
func (b *bridge) fail(id int, err error) {
	msg := []byte(err.Error())
	b.send(id, -1, len(msg), msg)
}

func (b *bridge) send(id, status, headLen int, msg []byte) {
	if len(msg) <= b.outCap {
		js.CopyBytesToJS(b.out, msg)
		b.done.Invoke(id, status, headLen, len(msg)-headLen, nil)
		return
	}
	big := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(big, msg)
	b.done.Invoke(id, status, headLen, len(msg)-headLen, big)
}

// maxBuffered is the largest declared body worker.mjs reads: the API
// takes 1 MiB and refuses a larger declared length unread (413), so such
// a body is left unread instead of copied into the Go heap for nothing.
// worker.mjs holds the same figure.
const maxBuffered = 1 << 20

// errUnread is what reading a body that the bridge left unread returns.
var errUnread = errors.New("roster-edge: request body over 1 MiB left unread")

type unreadBody struct{}

func (unreadBody) Read([]byte) (int, error) { return 0, errUnread }
func (unreadBody) Close() error             { return nil }

// goRequest builds the http.Request of a request head and its body
// (unread: the body was declared over maxBuffered and not read).
func goRequest(head, body []byte, unread bool) (*http.Request, error) {
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(nil, len(head)+1)
	var method, url string
	if sc.Scan() {
		method = sc.Text()
	}
	if sc.Scan() {
		url = sc.Text()
	}
	r, err := http.NewRequestWithContext(background, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("request: header line %q", sc.Text())
		}
		r.Header[http.CanonicalHeaderKey(k)] = append(r.Header[http.CanonicalHeaderKey(k)], v)
	}
	r.ContentLength = int64(len(body))
	switch {
	case unread:
		declared, _ := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
		r.Body, r.ContentLength = unreadBody{}, max(declared, maxBuffered+1)
	case len(body) == 0:
		r.Body = http.NoBody
	}
	r.Host = r.URL.Host
	r.RequestURI = r.URL.RequestURI()
	// Cloudflare names the client; workerd run locally does not.
	ip := r.Header.Get("CF-Connecting-IP")
	if net.ParseIP(ip) == nil {
		ip = "0.0.0.0"
	}
	r.RemoteAddr = net.JoinHostPort(ip, "0")
	return r, nil
}

// recorder is the http.ResponseWriter of one request: the whole answer
// is buffered and becomes one Response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
