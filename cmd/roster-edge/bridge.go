//go:build js && wasm

package main

import (
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

// fetch is rosterFetch(request, env): it returns a promise of the
// Response. The work runs on a goroutine, since a callback must return
// before JavaScript can settle the promises the work waits for (the
// request body, D1).
func (w *worker) fetch(_ js.Value, args []js.Value) any {
	if len(args) < 2 {
		return js.Global().Get("Promise").Call("reject", js.Global().Get("Error").New("rosterFetch(request, env)"))
	}
	req, env := args[0], args[1]
	executor := js.FuncOf(func(_ js.Value, p []js.Value) any {
		resolve, reject := p[0], p[1]
		go func() {
			resp, err := w.serve(req, env)
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(resp)
		}()
		return nil
	})
	defer executor.Release() // the Promise constructor runs it before returning
	return js.Global().Get("Promise").New(executor)
}

// serve answers one request. Errors here are the bridge's own (a body
// that cannot be read); the handler's errors are responses.
func (w *worker) serve(req, env js.Value) (js.Value, error) {
	srv, err := w.server(env)
	if err != nil {
		slog.Error("roster-edge: configuration", "err", err)
		return newResponse(http.StatusInternalServerError, http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			[]byte(`{"error":{"code":"INTERNAL_ERROR","message":"An unexpected error occurred"}}`+"\n")), nil
	}
	r, err := goRequest(req)
	if err != nil {
		return js.Value{}, err
	}
	rec := &recorder{header: http.Header{}}
	srv.ServeHTTP(rec, r)
	return newResponse(rec.code(), rec.header, rec.body.Bytes()), nil
}

// maxBuffered is the largest declared body the bridge reads: the API
// takes 1 MiB and refuses a larger declared length unread (413), so such
// a body is left unread instead of copied into the Go heap for nothing.
const maxBuffered = 1 << 20

// errUnread is what reading a body that the bridge left unread returns.
var errUnread = errors.New("roster-edge: request body over 1 MiB left unread")

type unreadBody struct{}

func (unreadBody) Read([]byte) (int, error) { return 0, errUnread }
func (unreadBody) Close() error             { return nil }

// goRequest turns a JavaScript Request into an http.Request, with its
// body read into memory (the Workers runtime has buffered it already for
// the sizes the API accepts; the bulk routes are not served here).
func goRequest(req js.Value) (*http.Request, error) {
	var body []byte
	declared, _ := strconv.ParseInt(req.Get("headers").Call("get", "content-length").String(), 10, 64)
	if b := req.Get("body"); !b.IsNull() && !b.IsUndefined() && declared <= maxBuffered {
		buf, err := await(req.Call("arrayBuffer"))
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		u8 := js.Global().Get("Uint8Array").New(buf)
		body = make([]byte, u8.Length())
		js.CopyBytesToGo(body, u8)
	}
	r, err := http.NewRequestWithContext(background, req.Get("method").String(), req.Get("url").String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	pairs := js.Global().Get("Array").Call("from", req.Get("headers"))
	for i := range pairs.Length() {
		kv := pairs.Index(i)
		r.Header.Add(kv.Index(0).String(), kv.Index(1).String())
	}
	r.ContentLength = int64(len(body))
	switch {
	case declared > maxBuffered:
		r.Body, r.ContentLength = unreadBody{}, declared
	case body == nil:
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

// newResponse builds a JavaScript Response. Statuses that have no body
// must be given null, not an empty one.
func newResponse(status int, header http.Header, body []byte) js.Value {
	h := js.Global().Get("Headers").New()
	for k, vs := range header {
		for _, v := range vs {
			h.Call("append", k, v)
		}
	}
	init := js.Global().Get("Object").New()
	init.Set("status", status)
	init.Set("headers", h)
	// The handler compresses (httpapi's compress middleware) and says so in
	// Content-Encoding; without "manual", workerd would read that header
	// as an order to compress the body again.
	init.Set("encodeBody", "manual")
	jsBody := js.Null()
	if len(body) > 0 && status != http.StatusNoContent && status != http.StatusNotModified && status >= 200 {
		u8 := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(u8, body)
		jsBody = u8
	}
	return js.Global().Get("Response").New(jsBody, init)
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

// await waits for promise p, parking the goroutine while JavaScript runs.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer onOK.Release()
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: fmt.Errorf("%s", strings.TrimSpace(args[0].Call("toString").String()))}
		return nil
	})
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	r := <-done
	return r.v, r.err
}
