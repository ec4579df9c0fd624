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

// maxImportRecord bounds one JSON-array element and one CSV record, as
// maxImportLine bounds an NDJSON line: a longer one is reported and
// skipped without being held in memory.
const maxImportRecord = maxBodyBytes

// jsonArrayRecords reads a JSON array one element at a time; an
// element's "line" is its 1-based index. Elements are cut out of the
// stream by their brackets and quotes (readJSONValue), so that one longer
// than maxImportRecord is skipped rather than buffered. A break in the
// array's own syntax (a missing comma, an unclosed array) ends it: what
// follows cannot be found again.
func jsonArrayRecords(br *bufio.Reader) (func() (roster.ImportRecord, error), error) {
	c, err := peekNonSpace(br)
	if err != nil || c != '[' {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		return nil, roster.Errorf(roster.CodeBadRequest, "Request body must be a JSON array of users")
	}
	_, _ = br.Discard(1)
	var (
		index int64
		done  bool
		buf   []byte
	)
	malformed := func(msg string) (roster.ImportRecord, error) {
		done = true
		return rowError(index+1, "", msg), nil
	}
	return func() (roster.ImportRecord, error) {
		if done {
			return roster.ImportRecord{}, io.EOF
		}
		c, err := peekNonSpace(br)
		if err == nil && index > 0 { // after an element: a comma and the next, or the end
			switch c {
			case ']':
				done = true
				return roster.ImportRecord{}, io.EOF
			case ',':
				_, _ = br.Discard(1)
				if c, err = peekNonSpace(br); err == nil && c == ']' {
					return malformed("malformed JSON (a comma before ]); the rest of the array was not read")
				}
			default:
				return malformed("malformed JSON (no comma between elements); the rest of the array was not read")
			}
		} else if err == nil && c == ']' {
			done = true
			return roster.ImportRecord{}, io.EOF
		}
		if err == nil {
			var tooLong bool
			buf, tooLong, err = readJSONValue(br, buf[:0], maxImportRecord)
			if err == nil {
				index++
				if tooLong {
					return rowError(index, "", fmt.Sprintf("element is longer than %d bytes", maxImportRecord)), nil
				}
				return jsonRecord(index, buf), nil
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return malformed("malformed JSON (the array is not closed); the rest of the array was not read")
		}
		return roster.ImportRecord{}, err
	}, nil
}

// peekNonSpace skips JSON whitespace and returns the next byte, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.Discard(1)
		default:
			return b[0], nil
		}
	}
}

// readJSONValue reads one JSON value's bytes, appended to buf: an object
// or array up to its matching bracket, a string up to its closing quote,
// or a number or literal up to the next delimiter. It finds the extent
// only; whether the bytes are valid JSON is the decoder's business. Past
// max bytes it stops keeping them and reports tooLong, reading on to the
// value's end. A value cut short by the end of the input is
// io.ErrUnexpectedEOF.
func readJSONValue(br *bufio.Reader, buf []byte, max int) (_ []byte, tooLong bool, _ error) {
	var (
		depth            int
		inString, escape bool
		scalar           bool
	)
	for {
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				if scalar && depth == 0 && !inString {
					return buf, tooLong, nil
				}
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		chunk, _ := br.Peek(br.Buffered())
		end, used := -1, len(chunk)
	scan:
		for i, c := range chunk {
			switch {
			case inString:
				switch {
				case escape:
					escape = false
				case c == '\\':
					escape = true
				case c == '"':
					inString = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			case scalar:
				switch c {
				case ' ', '\t', '\r', '\n', ',', ']', '}', '[', '{', '"':
					end = i // the delimiter is not the value's
					break scan
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth <= 0 { // <0: a stray closing bracket, one byte of invalid JSON
					end = i + 1
					break scan
				}
			case depth == 0:
				scalar = true
			}
		}
		if end >= 0 {
			used = end
		}
		if !tooLong && len(buf)+used > max {
			tooLong, buf = true, buf[:0]
		}
		if !tooLong {
			buf = append(buf, chunk[:used]...)
		}
		_, _ = br.Discard(used)
		if end >= 0 {
			return buf, tooLong, nil
		}
	}
}

// maxHeaderErrors bounds the unknown columns listed for a CSV header.
const maxHeaderErrors = 20

// csvRecords reads CSV with a header row naming the columns. encoding/csv
// buffers a whole record, so it reads through a csvLimiter, which ends a
// record longer than maxImportRecord early in a way the parser refuses:
// that record becomes a row error, and the ones after it read as usual.
func csvRecords(br *bufio.Reader) (func() (roster.ImportRecord, error), error) {
	lim := &csvLimiter{br: br, max: maxImportRecord, line: 1, start: 1}
	cr := csv.NewReader(lim)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		if lim.wasCut(err) {
			return nil, roster.Errorf(roster.CodeBadRequest, "The CSV header row is longer than %d bytes", maxImportRecord)
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
		case errors.As(err, &perr) && lim.wasCut(err):
			return rowError(int64(perr.StartLine), "", fmt.Sprintf("record is longer than %d bytes", maxImportRecord)), nil
		case errors.As(err, &perr):
			return rowError(int64(perr.StartLine), "", perr.Err.Error()), nil
		case err != nil:
			return roster.ImportRecord{}, err
		}
		line, _ := cr.FieldPos(0)
		var in roster.NewUser
		for i, s := range set {
			if s != nil {
				// The fields share one string with the whole record, other
				// columns included: copies keep a row that waits in a batch small.
				s(&in, strings.Clone(rec[i]))
			}
		}
		return roster.ImportRecord{Line: int64(line), User: in}, nil
	}, nil
}

// csvLimiter sits between the body and encoding/csv. It follows the
// records as the parser splits them (quotes open only at a field's start,
// "" inside quotes, an error discards the rest of its line) and passes at
// most max+2 bytes of each. The rest of a longer record is skipped and
// replaced by bytes that make the parser refuse the record, then by as
// many line ends as were skipped, so that later records keep their line
// numbers; the record's start line is noted for wasCut.
type csvLimiter struct {
	br          *bufio.Reader
	max         int
	state       csvState
	size        int   // bytes of the current record passed on
	line, start int64 // line of the next byte; line the current record started on
	skipping    bool
	refusal     []byte  // bytes still to pass on after a cut
	newlines    int     // line ends still to pass on after a cut
	cut         []int64 // start lines of the records cut, not yet reported
	err         error   // the body's error, passed on after the above
}

type csvState uint8

const (
	csvFieldStart csvState = iota
	csvUnquoted
	csvQuoted
	csvQuote   // a quote inside a quoted field: its end, or the first of ""
	csvInvalid // the parser has refused the record and discards the line
)

// csvRefusals end a cut record, by the state it was cut in, so that
// encoding/csv (without LazyQuotes) fails it: a bare quote, or a
// character after a closing quote.
var csvRefusals = [...][]byte{
	csvFieldStart: []byte(`x"`),
	csvUnquoted:   []byte(`"`),
	csvQuoted:     []byte(`"x`),
	csvQuote:      []byte(`x`),
	csvInvalid:    nil,
}

func (l *csvLimiter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(l.refusal) > 0:
			k := copy(p[n:], l.refusal)
			l.refusal, n = l.refusal[k:], n+k
			continue
		case l.newlines > 0:
			p[n], n = '\n', n+1
			l.newlines--
			continue
		case l.err != nil:
			if n > 0 {
				return n, nil
			}
			return 0, l.err
		case n > 0 && l.br.Buffered() == 0:
			return n, nil // do not wait for more of the body with bytes in hand
		}
		if _, err := l.br.Peek(1); err != nil {
			l.err = err
			continue
		}
		chunk, _ := l.br.Peek(l.br.Buffered())
		used := 0
		for used < len(chunk) && n < len(p) {
			if !l.skipping && l.size >= l.max+2 { // +2: the line end
				l.skipping = true
				l.cut = append(l.cut, l.start)
				l.refusal = csvRefusals[l.state]
			}
			rest := chunk[used:]
			if !l.skipping {
				rest = rest[:min(len(rest), len(p)-n, l.max+2-l.size)]
			}
			if k := l.plain(rest); k > 0 { // a run of bytes that leave the state as it is
				nl := bytes.Count(rest[:k], []byte{'\n'}) // only inside quotes
				l.line += int64(nl)
				if l.skipping {
					l.newlines += nl
				} else {
					n += copy(p[n:], rest[:k])
					l.size += k
				}
				used += k
				continue
			}
			c := rest[0]
			used++
			if !l.skipping {
				p[n], n = c, n+1
				l.size++
			} else if c == '\n' {
				l.newlines++
			}
			if l.step(c) && l.skipping {
				l.skipping = false
				break // the refusal and the line ends go before the next record
			}
		}
		_, _ = l.br.Discard(used)
	}
	return n, nil
}

// plain is the length of b's prefix that leaves the state as it is.
func (l *csvLimiter) plain(b []byte) int {
	i := 0
	switch l.state {
	case csvUnquoted:
		i = bytes.IndexAny(b, ",\n\"")
	case csvQuoted:
		i = bytes.IndexByte(b, '"')
	case csvInvalid:
		i = bytes.IndexByte(b, '\n')
	}
	if i < 0 {
		return len(b)
	}
	return i
}

// step advances the state by one byte and reports a record's end.
func (l *csvLimiter) step(c byte) bool {
	if c == '\n' {
		l.line++
	}
	switch l.state {
	case csvFieldStart:
		switch c {
		case '"':
			l.state = csvQuoted
		case ',':
		case '\n':
			return l.end()
		default:
			l.state = csvUnquoted
		}
	case csvUnquoted:
		switch c {
		case ',':
			l.state = csvFieldStart
		case '\n':
			return l.end()
		case '"':
			l.state = csvInvalid
		}
	case csvQuoted:
		if c == '"' {
			l.state = csvQuote
		}
	case csvQuote:
		switch c {
		case '"':
			l.state = csvQuoted
		case ',':
			l.state = csvFieldStart
		case '\n':
			return l.end()
		default:
			l.state = csvInvalid
		}
	case csvInvalid:
		if c == '\n' {
			return l.end()
		}
	}
	return false
}

func (l *csvLimiter) end() bool {
	l.state, l.size, l.start = csvFieldStart, 0, l.line
	return true
}

// wasCut reports whether err is the parser's refusal of a record the
// limiter cut.
func (l *csvLimiter) wasCut(err error) bool {
	var perr *csv.ParseError
	if !errors.As(err, &perr) {
		return false
	}
	for len(l.cut) > 0 && l.cut[0] < int64(perr.StartLine) {
		l.cut = l.cut[1:] // reported by an earlier error of its own
	}
	if len(l.cut) > 0 && l.cut[0] == int64(perr.StartLine) {
		l.cut = l.cut[1:]
		return true
	}
	return false
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
	At jsonTime `json:"at"`
}
