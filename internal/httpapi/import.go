package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/internal/roster"
)

// DefaultImportMaxBytes is the import body limit when Config sets none.
const DefaultImportMaxBytes = 1 << 30

// maxImportLine bounds one NDJSON line: the POST /api/users body limit.
// A longer line is reported and skipped without being held in memory.
const maxImportLine = maxBodyBytes

// importParams are the query parameters POST /api/users/import understands.
var importParams = []string{"mode", "on_conflict"}

// handleImport streams an NDJSON, JSON-array or CSV body into the store:
// valid rows in batches, each bad row reported with its line. The route
// has no request deadline (an import takes as long as its body) and its
// write timeout is cleared for the same reason; its read deadline moves
// with the body instead (see idleReader). The caller's right to import
// was checked before (Server.bulk): nothing here runs for a caller
// without it.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	opts, err := parseImportQuery(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !slices.Contains([]string{"application/x-ndjson", "application/json", "text/csv"}, mt) {
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
	body, closeBody, err := decodedBody(idle, r.Header.Get("Content-Encoding"), s.importMaxBytes)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer closeBody()
	br := bufio.NewReaderSize(body, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3) // a byte order mark, as spreadsheet exports write
	}
	var next func() (roster.ImportRecord, error)
	switch mt {
	case "application/x-ndjson":
		next = (&ndjsonRecords{br: br}).next
	case "application/json":
		next, err = jsonArrayRecords(br)
	case "text/csv":
		next, err = csvRecords(br)
	}
	if err != nil {
		s.error(w, r, importReadError(err))
		return
	}
	start := time.Now()
	res, gone, err := s.importRecords(r, idle.interrupt, opts, next)
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

// importRecords runs the import with the body read ahead (see readAhead)
// and returns only once the reading has stopped: net/http must not see the
// body read while the response is written. gone reports whether the
// request's context had ended when the import did.
func (s *Server) importRecords(r *http.Request, interrupt func(), opts roster.ImportOptions,
	read func() (roster.ImportRecord, error)) (res roster.ImportResult, gone bool, err error) {
	ra := startReadAhead(func() (roster.ImportRecord, error) {
		rec, err := read()
		if err != nil && !errors.Is(err, io.EOF) {
			err = &bodyError{err}
		}
		return rec, err
	})
	// The import may end early (a store error, say) while the client is
	// still sending, or idling: interrupt ends the read.
	defer ra.stop(interrupt)
	res, err = s.users.ImportUsers(r.Context(), opts, ra.next)
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
		tooBig *http.MaxBytesError
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

// decodedBody undoes the request's Content-Encoding. The limit applies
// to the bytes after decoding too, so a small compressed bomb cannot make
// the server read more than a plain body could.
func decodedBody(body io.Reader, coding string, limit int64) (io.Reader, func(), error) {
	body = &limitedReader{r: body, left: limit, limit: limit}
	var (
		r     io.Reader
		close = func() {}
	)
	switch coding {
	case "", "identity":
		return body, close, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, nil, roster.Errorf(roster.CodeBadRequest, "Request body is not valid gzip")
		}
		r, close = zr, func() { _ = zr.Close() }
	case "zstd":
		zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(8<<20)) // a frame may not ask for a larger window buffer
		if err != nil {
			return nil, nil, fmt.Errorf("zstd reader: %w", err)
		}
		r, close = zr, zr.Close
	default:
		return nil, nil, roster.Errorf(codeUnsupportedMediaType, "Content-Encoding must be gzip, zstd or identity")
	}
	return &limitedReader{r: r, left: limit, limit: limit}, close, nil
}

// limitedReader fails with *http.MaxBytesError past limit bytes.
type limitedReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, &http.MaxBytesError{Limit: l.limit}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left+1] // one byte more tells a body of exactly limit bytes from a longer one
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, err = int(l.left), &http.MaxBytesError{Limit: l.limit}
	}
	l.left -= int64(n)
	return n, err
}

// rowError is a record that could not be read. Field names come from the
// client (an unknown field, say) and are cut, as are messages, so that
// 1,000 listed errors stay small whatever the input.
func rowError(line int64, field, msg string) roster.ImportRecord {
	return roster.ImportRecord{Line: line, Err: &roster.ImportError{Line: line, Field: cut(field, maxEchoedName),
		Code: roster.CodeBadRequest, Message: cut(msg, maxEchoedMessage)}}
}

// Bounds of client-supplied text echoed in import errors, in bytes.
const (
	maxEchoedName    = 64
	maxEchoedMessage = 256
)

// cut shortens s to at most max bytes, on a rune boundary, marking the cut
// with an ellipsis.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}

// importUser is one JSON record. The fields an export writes besides name
// and email are accepted, so that an export imports as it is, and ignored:
// the import makes new ids and times.
type importUser struct {
	Name      string          `json:"name"`
	Email     string          `json:"email"`
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// jsonRecord reads one JSON object with the rules of POST /api/users.
func jsonRecord(line int64, data []byte) roster.ImportRecord {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in importUser
	err := dec.Decode(&in)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return rowError(line, "", "must be a single JSON object")
		}
		if !utf8.Valid(data) { // decoding replaced the bad bytes: refuse as POST does
			fe := roster.InvalidUTF8(invalidUTF8Field(data)).Details[0]
			return roster.ImportRecord{Line: line, Err: &roster.ImportError{Line: line, Field: fe.Field, Code: roster.CodeInvalid, Message: fe.Message}}
		}
		return roster.ImportRecord{Line: line, User: roster.NewUser{Name: in.Name, Email: in.Email}}
	}
	var e *roster.Error
	if errors.As(decodeError(err), &e) && len(e.Details) > 0 {
		return rowError(line, e.Details[0].Field, e.Details[0].Message)
	}
	return rowError(line, "", e.Message)
}

// ndjsonRecords reads one JSON object per line. Blank lines are skipped,
// CRLF line ends accepted, and a line longer than maxImportLine is
// reported and skipped.
type ndjsonRecords struct {
	br   *bufio.Reader
	line int64
	buf  []byte
}

func (n *ndjsonRecords) next() (roster.ImportRecord, error) {
	for {
		data, tooLong, err := n.readLine()
		if err != nil {
			return roster.ImportRecord{}, err
		}
		n.line++
		if tooLong {
			return rowError(n.line, "", fmt.Sprintf("line is longer than %d bytes", maxImportLine)), nil
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		return jsonRecord(n.line, data), nil
	}
}

// readLine returns the next line without its end; io.EOF only when no
// line is left. Past maxImportLine it stops keeping bytes.
func (n *ndjsonRecords) readLine() (line []byte, tooLong bool, err error) {
	n.buf = n.buf[:0]
	read := false
	for {
		frag, err := n.br.ReadSlice('\n')
		read = read || len(frag) > 0
		if !tooLong {
			if len(n.buf)+len(frag) > maxImportLine+2 { // +2: the line end
				tooLong, n.buf = true, n.buf[:0]
			} else {
				n.buf = append(n.buf, frag...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && read:
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(n.buf, []byte("\n")), []byte("\r")), tooLong, nil
	}
}

// jsonArrayRecords reads a JSON array one element at a time; an
// element's "line" is its 1-based index. A syntax error ends the array:
// what follows cannot be found again.
func jsonArrayRecords(br *bufio.Reader) (func() (roster.ImportRecord, error), error) {
	dec := json.NewDecoder(br)
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		return nil, roster.Errorf(roster.CodeBadRequest, "Request body must be a JSON array of users")
	}
	var index int64
	done := false
	return func() (roster.ImportRecord, error) {
		if done || !dec.More() {
			return roster.ImportRecord{}, io.EOF
		}
		index++
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
				done = true
				return rowError(index, "", "malformed JSON; the rest of the array was not read"), nil
			}
			return roster.ImportRecord{}, err
		}
		return jsonRecord(index, raw), nil
	}, nil
}

// maxHeaderErrors bounds the unknown columns listed for a CSV header.
const maxHeaderErrors = 20

// csvRecords reads CSV with a header row naming the columns.
func csvRecords(br *bufio.Reader) (func() (roster.ImportRecord, error), error) {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		return nil, roster.Errorf(roster.CodeBadRequest, "Request body must start with a CSV header row: %s", strings.Join(csvInputs, ","))
	}
	// The columns a client sets are required, the others (an export's)
	// known and ignored.
	set := make([]func(*roster.NewUser, string), len(header)) // by column; nil: ignored
	found := map[string]bool{}
	var bad []roster.FieldError
	for i, col := range header {
		f := slices.IndexFunc(roster.UserFields, func(f roster.UserField) bool { return f.Name == col })
		switch {
		case f < 0:
			if len(bad) < maxHeaderErrors {
				bad = append(bad, roster.FieldError{Field: cut(col, maxEchoedName), Message: "unknown column"})
			}
		case roster.UserFields[f].Set != nil:
			set[i], found[col] = roster.UserFields[f].Set, true
		}
	}
	if len(found) < len(csvInputs) {
		bad = append(bad, roster.FieldError{Field: "header", Message: "must have the columns " + strings.Join(csvInputs, " and ")})
	}
	if len(bad) > 0 {
		return nil, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid CSV header", Details: bad}
	}
	return func() (roster.ImportRecord, error) {
		rec, err := cr.Read()
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			return rowError(int64(perr.StartLine), "", perr.Err.Error()), nil
		case err != nil:
			return roster.ImportRecord{}, err
		}
		line, _ := cr.FieldPos(0)
		var in roster.NewUser
		for i, s := range set {
			if s != nil {
				s(&in, rec[i])
			}
		}
		return roster.ImportRecord{Line: int64(line), User: in}, nil
	}, nil
}

// csvInputs are the columns a CSV import requires: the fields a client sets.
var csvInputs = func() []string {
	var cols []string
	for _, f := range roster.UserFields {
		if f.Set != nil {
			cols = append(cols, f.Name)
		}
	}
	return cols
}()

// importEventData is the JSON of a users.imported event: the import's
// totals instead of a user.
type importEventData struct {
	Type roster.EventType `json:"type"`
	roster.ImportSummary
	At time.Time `json:"at"`
}
