package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/internal/bulk"
	"github.com/rosterhq/roster/internal/roster"
)

// exportParams are the query parameters GET /api/users/export
// understands: the list filters.
var exportParams = []string{"email", "q", "match", "created_after", "created_before"}

// handleExport streams every user matching the list filters, oldest
// first, from one snapshot: NDJSON, or CSV when the client accepts
// text/csv first (written by internal/bulk, which sends the rows ~64 KiB
// at a time). Nothing is sent until the first user (or the end), so
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
	var (
		out         *bulk.Writer
		contentType string
	)
	if asCSV {
		out, contentType = bulk.NewCSVWriter(w), "text/csv; charset=utf-8"
	} else {
		out, contentType = bulk.NewNDJSONWriter(w), "application/x-ndjson"
	}
	var (
		started bool
		n       int
	)
	start := func() {
		started = true
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
	}
	err = s.users.ExportUsers(r.Context(), lr.query.Filter, func(u roster.User) error {
		if !started {
			start()
		}
		n++
		return out.Write(u)
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
	_ = out.Flush() // a failed write means the client is gone
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
