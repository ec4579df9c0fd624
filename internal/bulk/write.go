package bulk

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// A Writer collects rows in a buffer of writeBuffer bytes and writes it
// when it holds flushAt or more: one write per ~64 KiB to the destination
// (an HTTP response through its middlewares, compression included),
// however small the rows.
const (
	writeBuffer = 72 << 10
	flushAt     = 64 << 10
)

// Writer writes users in an export format, oldest first as they come:
// NDJSON (one JSON object per line, as GET /api/users/{id} writes a user)
// or CSV (a header row, then one row per user). Rows are buffered; Flush
// writes what is left. Nothing reaches the destination before the first
// Write or Flush that fills or ends the buffer.
type Writer struct {
	w         io.Writer
	buf       []byte
	appendRow func([]byte, roster.User) ([]byte, error)
}

// NewNDJSONWriter returns a Writer of NDJSON to w.
func NewNDJSONWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, writeBuffer), appendRow: appendUserNDJSON}
}

// NewCSVWriter returns a Writer of CSV to w: the header row, then a row
// per user.
func NewCSVWriter(w io.Writer) *Writer {
	buf := append(make([]byte, 0, writeBuffer), csvHeader...)
	return &Writer{w: w, buf: buf, appendRow: appendUserCSV}
}

// NewWriter returns the Writer of format f (NDJSON or CSV) to w.
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	switch f {
	case NDJSON:
		return NewNDJSONWriter(w), nil
	case CSV:
		return NewCSVWriter(w), nil
	}
	return nil, fmt.Errorf("bulk: %q is not an export format", f)
}

// Write adds u; an error is the destination's, or a time encoding/json
// refuses (never a stored one).
func (w *Writer) Write(u roster.User) (err error) {
	if w.buf, err = w.appendRow(w.buf, u); err != nil {
		return err
	}
	if len(w.buf) >= flushAt {
		_, err = w.w.Write(w.buf)
		w.buf = w.buf[:0]
	}
	return err
}

// Flush writes the rows still buffered.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Exports and user responses write each user with these appenders instead
// of encoding/json and encoding/csv: reflection per row was most of an
// export's CPU, and a quarter of a list page's. Their output is byte for
// byte what json.Encoder (HTML escaping on, as httpapi's encode uses it)
// and csv.Writer write; the tests compare them on many inputs.

// appendUserNDJSON appends u as json.Encoder.Encode would: one JSON
// object and a newline.
func appendUserNDJSON(dst []byte, u roster.User) ([]byte, error) {
	dst, err := AppendUserJSON(dst, u)
	if err != nil {
		return dst, err
	}
	return append(dst, '\n'), nil
}

// AppendUserJSON appends u as json.Marshal would (HTML escaping on): the
// fields of roster.UserFields, in order. A time json.Marshal refuses (a
// year past 9999, say; never a stored one) is its error, with dst as it
// was.
func AppendUserJSON(dst []byte, u roster.User) ([]byte, error) {
	n0 := len(dst)
	sep := byte('{')
	for _, f := range roster.UserFields {
		var text string
		if f.Kind == roster.FieldText {
			if text = f.Text(u); text == "" && f.OmitEmpty {
				continue // hidden from this caller (roster.User.VisibleTo)
			}
		}
		dst = append(dst, sep, '"')
		dst = append(dst, f.Name...)
		dst = append(dst, '"', ':')
		sep = ','
		switch f.Kind {
		case roster.FieldID:
			dst = append(dst, '"')
			dst = append(appendUUID(dst, f.ID(u)), '"')
		case roster.FieldText:
			dst = appendJSONString(dst, text)
		case roster.FieldTime:
			var ok bool
			if dst, ok = AppendJSONTime(dst, f.Time(u)); !ok {
				// time.Time.MarshalJSON refuses it; let encoding/json say so.
				_, err := json.Marshal(u)
				return dst[:n0], err
			}
		}
	}
	return append(dst, '}'), nil
}

// AppendJSONTime appends t in roster.TimeLayout, quoted, as
// roster.User.MarshalJSON does, and reports whether it would accept t: a
// year of four digits and a zone offset under 24 hours. Stored times are
// UTC and always pass.
func AppendJSONTime(dst []byte, t time.Time) ([]byte, bool) {
	dst = append(dst, '"')
	n0 := len(dst)
	dst = t.AppendFormat(dst, roster.TimeLayout)
	ok := len(dst) > n0+4 && dst[n0+4] == '-'
	if last := dst[len(dst)-1]; ok && last != 'Z' {
		zone := dst[len(dst)-len("Z07:00"):]
		ok = (zone[0] == '+' || zone[0] == '-') && 10*(zone[1]-'0')+(zone[2]-'0') < 24
	}
	return append(dst, '"'), ok
}

// appendUUID appends id in its canonical text form, as id.String().
func appendUUID(dst []byte, id uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[b>>4], hex[b&0xf])
	}
	return dst
}

// appendJSONString appends s as a JSON string the way encoding/json does
// with HTML escaping: ", \ and control characters escaped (\b, \f, \n,
// \r, \t by name, the others as \u00XX), <, > and & as \u003c, \u003e and
// \u0026, U+2028 and U+2029 as \u2028 and \u2029, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// csvColumns are the columns of a CSV export, and those a CSV import
// knows: roster.UserFields.
var csvColumns = func() []string {
	cols := make([]string, len(roster.UserFields))
	for i, f := range roster.UserFields {
		cols[i] = f.Name
	}
	return cols
}()

// csvHeader is the header row of a CSV export.
var csvHeader = strings.Join(csvColumns, ",") + "\n"

// appendUserCSV appends u as one CSV row, as csv.Writer.Write would write
// the fields of roster.UserFields (times in roster.TimeLayout).
func appendUserCSV(dst []byte, u roster.User) ([]byte, error) {
	for i, f := range roster.UserFields {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch f.Kind {
		case roster.FieldID:
			dst = appendUUID(dst, f.ID(u))
		case roster.FieldText:
			dst = appendCSVField(dst, f.Text(u))
		case roster.FieldTime:
			// An RFC 3339 time never needs quotes.
			dst = f.Time(u).AppendFormat(dst, roster.TimeLayout)
		}
	}
	return append(dst, '\n'), nil
}

// appendCSVField appends s as csv.Writer writes a field with a comma
// delimiter and LF line ends: quoted, with quotes doubled, when it holds a
// comma, a quote, CR or LF, starts with a space character or is `\.`.
//
// A field that a spreadsheet would take for a formula (it starts with =,
// +, -, @, tab or CR) gets a leading ' first, as OWASP's CSV injection
// advice has it: an export opened in a spreadsheet shows the text instead
// of running it. An import keeps a leading ' as it is.
func appendCSVField(dst []byte, s string) []byte {
	if csvFormulaLike(s) {
		s = "'" + s
	}
	if !csvNeedsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' || c == '"' || c == ',' {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// csvFormulaLike reports whether s starts like a spreadsheet formula.
func csvFormulaLike(s string) bool {
	return s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0
}
