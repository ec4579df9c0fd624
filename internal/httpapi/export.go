package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// exportParams are the query parameters GET /api/users/export
// understands: the list filters.
var exportParams = []string{"email", "q", "match", "created_after", "created_before"}

// An export collects rows in a buffer of exportBuffer bytes and writes it
// when it holds exportFlushAt or more: one write per ~64 KiB through the
// middlewares (compression included), however small the rows.
const (
	exportBuffer  = 72 << 10
	exportFlushAt = 64 << 10
)

// handleExport streams every user matching the list filters, oldest
// first, from one snapshot: NDJSON, or CSV when the client accepts
// text/csv first. Nothing is sent until the first user (or the end), so
// that errors before it get a proper status; an error after it aborts the
// response, which the client sees as a broken transfer, never as a short
// but complete-looking export.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains(exportParams, name) {
			s.error(w, r, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid query parameters",
				Details: []roster.FieldError{{Field: name, Message: "unknown query parameter"}}})
			return
		}
	}
	lr, err := s.parseList(q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.error(w, r, err)
		return
	}
	asCSV := prefersCSV(r.Header.Get("Accept"))
	appendRow := appendUserNDJSON
	if asCSV {
		appendRow = appendUserCSV
	}
	var (
		buf     = make([]byte, 0, exportBuffer)
		started bool
		n       int
	)
	start := func() {
		started = true
		if asCSV {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			buf = append(buf, csvHeader...)
		} else {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		w.WriteHeader(http.StatusOK)
	}
	err = s.users.ExportUsers(r.Context(), lr.query.Filter, func(u roster.User) (err error) {
		if !started {
			start()
		}
		n++
		if buf, err = appendRow(buf, u); err != nil {
			return err
		}
		if len(buf) >= exportFlushAt {
			_, err = w.Write(buf)
			buf = buf[:0]
		}
		return err
	})
	if err != nil && !started {
		s.error(w, r, err)
		return
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "export aborted", "request_id", requestIDFrom(r.Context()), "rows", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if !started {
		start()
	}
	if len(buf) > 0 {
		_, _ = w.Write(buf) // a failed write means the client is gone
	}
	s.log.InfoContext(r.Context(), "export", "request_id", requestIDFrom(r.Context()), "rows", n)
}

// prefersCSV reports whether text/csv comes before application/x-ndjson
// in Accept (order of the list, q-values aside).
func prefersCSV(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		switch {
		case err != nil:
		case mt == "text/csv":
			return true
		case mt == "application/x-ndjson":
			return false
		}
	}
	return false
}
