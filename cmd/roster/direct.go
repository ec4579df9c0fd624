package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// direct serves import and export straight from a database, without a
// running server: the same HTTP handler runs in this process and the
// client's requests reach it through an in-memory transport, so both
// modes share every rule, format and error. The database is migrated
// first, as serve would.
func direct(ctx context.Context, dbArg string) (c *http.Client, token string, closeDB func(), err error) {
	d := dbFlags{Target: dbArg}
	d.oneShot()
	if _, _, err := d.engine(); err != nil {
		return nil, "", nil, err
	}
	db, err := openDatabase(ctx, &d)
	if err != nil {
		return nil, "", nil, err
	}
	if _, err := migrateUp(ctx, db); err != nil {
		db.close()
		return nil, "", nil, err
	}
	secret, err := auth.GenerateSecret()
	if err != nil {
		db.close()
		return nil, "", nil, err
	}
	a, err := auth.New(auth.Config{Secret: []byte(secret)})
	if err != nil {
		db.close()
		return nil, "", nil, err
	}
	if token, err = a.Issue("cli", []string{roster.RoleAdmin}, 24*time.Hour); err != nil {
		db.close()
		return nil, "", nil, err
	}
	srv := httpapi.NewServer(httpapi.Config{Users: roster.NewService(db.users, nil), Auth: a})
	return &http.Client{Transport: handlerTransport{srv}}, token, db.close, nil
}

// handlerTransport is an http.RoundTripper that calls a handler in this
// process. The response body streams through a pipe as the handler writes.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	// The goroutine ends with the handler, which ends when the request's
	// context does or when the reader closes the body (writes then fail).
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pw.CloseWithError(fmt.Errorf("handler panic: %v", v))
			}
		}()
		t.h.ServeHTTP(w, req)
		w.WriteHeader(http.StatusOK) // a handler that wrote nothing
		_ = pw.Close()               // a pipe's Close never fails
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		_ = pr.Close() // a pipe's Close never fails
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: pr, ContentLength: -1, Request: req,
	}, nil
}

// pipeWriter is the handler's side of handlerTransport.
type pipeWriter struct {
	header http.Header
	sent   http.Header // the header as of WriteHeader, for the response
	pw     *io.PipeWriter
	status int
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	if w.status != 0 || status < 200 {
		return
	}
	w.status = status
	w.sent = w.header.Clone() // later changes by the handler are not sent, as in net/http
	close(w.ready)
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

// Flush is a no-op: every write already reaches the reader.
func (w *pipeWriter) Flush() {}
