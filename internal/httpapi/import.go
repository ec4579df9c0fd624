package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/rosterhq/roster/internal/bulk"
	"github.com/rosterhq/roster/internal/roster"
)

// DefaultImportMaxBytes is the import body limit when Config sets none.
const DefaultImportMaxBytes = 1 << 30

// importParams are the query parameters POST /api/users/import understands.
var importParams = []string{"mode", "on_conflict"}

// handleImport streams an NDJSON, JSON-array or CSV body, read by
// internal/bulk, into the store: valid rows in batches, each bad row
// reported with its line. The route has no request deadline (an import
// takes as long as its body) and its write timeout is cleared for the
// same reason; its read deadline moves with the body instead (see
// idleReader). The caller's right to import was checked before
// (Server.bulk): nothing here runs for a caller without it.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	opts, err := parseImportQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	format, ok := bulk.FormatOf(mt)
	if !ok {
		s.error(w, r, roster.Errorf(codeUnsupportedMediaType, "Content-Type must be application/x-ndjson, application/json or text/csv"))
		return
	}
	if r.ContentLength > s.importMaxBytes {
		s.error(w, r, roster.Errorf(codePayloadTooLarge, "Request body must not exceed %d bytes", s.importMaxBytes))
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.error(w, r, fmt.Errorf("clear write deadline: %w", err))
		return
	}
	idle := &idleReader{body: r.Body, rc: rc, idle: s.importIdle}
	if err := idle.arm(); err != nil {
		s.error(w, r, fmt.Errorf("arm read deadline: %w", err))
		return
	}
	// The limit counts the bytes before and after decoding.
	body, closeBody, err := bulk.Decompress(idle, r.Header.Get("Content-Encoding"), s.importMaxBytes)
	if errors.Is(err, bulk.ErrUnknownCoding) {
		err = roster.Errorf(codeUnsupportedMediaType, "Content-Encoding must be gzip, zstd or identity")
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer closeBody()
	records, err := bulk.NewReader(body, format)
	if err != nil {
		s.error(w, r, importReadError(err))
		return
	}
	start := time.Now()
	res, gone, err := s.importRecords(r, idle.interrupt, opts, records)
	if idle.idled() {
		// The read that timed out cancelled the request's context as a
		// client that went away would; this one is still there, waiting
		// for its answer.
		gone = false
		err = roster.Errorf(codeRequestTimeout, "The request body made no progress for %s; the import was ended", s.importIdle)
	}
	if !gone {
		// Stopping the read-ahead may have failed a read of the body,
		// which cancels the request's context as a client that went away
		// would; this client was there when the import ended, and gets
		// its outcome.
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	s.log.InfoContext(r.Context(), "import", "request_id", requestIDFrom(r.Context()),
		"atomic", opts.Atomic, "on_conflict", opts.OnConflict, "inserted", res.Inserted, "updated", res.Updated,
		"skipped", res.Skipped, "failed", res.Failed, "duration", time.Since(start), "err", err)
	if err != nil {
		if !gone {
			err = importReadError(err)
		}
		s.error(w, r, err)
		return
	}
	encode(w, http.StatusOK, res)
}

// importRecords runs the import with the body read ahead (see
// bulk.ReadAhead) and returns only once the reading has stopped: net/http
// must not see the body read while the response is written. gone reports
// whether the request's context had ended when the import did.
func (s *Server) importRecords(r *http.Request, interrupt func(), opts roster.ImportOptions,
	records bulk.Reader) (res roster.ImportResult, gone bool, err error) {
	ra := bulk.StartReadAhead(func() (roster.ImportRecord, error) {
		rec, err := records.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			err = &bodyError{err}
		}
		return rec, err
	})
	// The import may end early (a store error, say) while the client is
	// still sending, or idling: interrupt ends the read.
	defer ra.Stop(interrupt)
	res, err = s.users.ImportUsers(r.Context(), opts, ra.Next)
	return res, r.Context().Err() != nil, err
}

func parseImportQuery(r *http.Request) (roster.ImportOptions, error) {
	q := r.URL.Query()
	var bad []roster.FieldError
	for name := range q {
		if !slices.Contains(importParams, name) {
			bad = append(bad, roster.FieldError{Field: name, Message: "unknown query parameter"})
		}
	}
	var opts roster.ImportOptions
	switch q.Get("mode") {
	case "", "partial":
	case "atomic":
		opts.Atomic = true
	default:
		bad = append(bad, roster.FieldError{Field: "mode", Message: "must be atomic or partial"})
	}
	switch p := roster.ConflictPolicy(q.Get("on_conflict")); p {
	case "", roster.ConflictFail, roster.ConflictSkip, roster.ConflictUpdate:
		opts.OnConflict = p
	default:
		bad = append(bad, roster.FieldError{Field: "on_conflict", Message: "must be fail, skip or update"})
	}
	if len(bad) > 0 {
		return opts, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid query parameters", Details: bad}
	}
	return opts, nil
}

// bodyError is a failure to read the request body, as opposed to one of
// the database.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// importReadError reports an oversized body as 413 and an unreadable one
// (say, corrupt gzip) as 400; other errors pass. A client that went away
// also breaks the body, but s.error recognizes that by the context.
func importReadError(err error) error {
	var (
		tooBig *bulk.TooLargeError
		body   *bodyError
	)
	switch {
	case errors.As(err, &tooBig):
		return roster.Errorf(codePayloadTooLarge, "Request body must not exceed %d bytes", tooBig.Limit)
	case errors.As(err, &body):
		return roster.Errorf(roster.CodeBadRequest, "Request body could not be read: %v", body.err)
	}
	return err
}
