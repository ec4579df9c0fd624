package bulk

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
)

// readAll drives an import reader to its end (at most 10,000 records) and
// checks what every import reader promises: no panic, errors that are
// *roster.Error (or io.EOF at the end), row errors with a line and bounded
// text, and rows with a line.
func readAll(t *testing.T, r Reader, err error) {
	t.Helper()
	if err != nil {
		if !errors.As(err, new(*roster.Error)) {
			t.Fatalf("start: got %T %v, want a *roster.Error", err, err)
		}
		return
	}
	for range 10000 {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("got %T %v, want a record or io.EOF", err, err)
		}
		if rec.Line <= 0 {
			t.Fatalf("record without a line: %+v", rec)
		}
		if e := rec.Err; e != nil && (len(e.Field) > maxEchoedName || len(e.Message) > maxEchoedMessage) {
			t.Fatalf("row error echoes too much: field %d bytes, message %d bytes", len(e.Field), len(e.Message))
		}
	}
}

func FuzzNDJSONLine(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada","email":"ada@example.com"}`,
		`{"name":"Ada","email":"ada@example.com","id":"x","created_at":1}`,
		`{"name":1}`, `{"bad`, `[1,2]`, `{"` + strings.Repeat("x", 300) + `":1}`, "", "\r\n\n", `{} {}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		readAll(t, NewNDJSONReader(strings.NewReader(body)), nil)
	})
}

func FuzzJSONArrayElement(f *testing.F) {
	for _, s := range []string{
		`[{"name":"Ada","email":"ada@example.com"},{"name":true}]`,
		`[]`, `[`, `[1,]`, `[{"a":1} {"b":2}]`, `{"name":"A"}`, `"` + strings.Repeat("x", 300) + `"`, `[{"` + strings.Repeat("y", 300) + `":1}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r, err := NewJSONArrayReader(strings.NewReader(body))
		readAll(t, r, err)
		// A valid array splits into its elements, none malformed.
		var elems []json.RawMessage
		if json.Unmarshal([]byte(body), &elems) != nil || len(elems) > 1000 {
			return
		}
		r, err = NewJSONArrayReader(strings.NewReader(body))
		if err != nil {
			t.Fatalf("valid array refused: %v", err)
		}
		for i := range elems {
			rec, err := r.Next()
			if err != nil || rec.Line != int64(i+1) || (rec.Err != nil && strings.Contains(rec.Err.Message, "malformed")) {
				t.Fatalf("element %d: got %+v, %v", i+1, rec, err)
			}
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after %d elements: got %v, want io.EOF", len(elems), err)
		}
	})
}

func FuzzCSVRecord(f *testing.F) {
	for _, s := range []string{
		"name,email\nAda,ada@example.com\n",
		"email,name\r\n\"x@example.com\",\"Hopper, Grace\"\r\n\r\nonly-one\r\n",
		"name,email\n\"unterminated,x\n", "name,email\na\"b,c\n", "nom,email\n", "",
		strings.Repeat("z", 300) + ",name,email\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r, err := NewCSVReader(strings.NewReader(body))
		readAll(t, r, err)
	})
}

// FuzzCSVLimiter checks that csvLimiter splits records where encoding/csv
// does: with a small limit, the records it leaves whole parse as they do
// without it, at the same lines, a cut one is refused, and none longer
// than the limit passes whole.
func FuzzCSVLimiter(f *testing.F) {
	for _, s := range []string{
		"name,email\nAda,ada@example.com\n", "a,\"b\nc\",d\r\n\"x\"\"y\",z\n\n\nlong long long long,q\n",
		"\"unterminated,x\n", "a\"b,c\nd,e\n", "\"a\"x,b\nc\n", "\"" + strings.Repeat("q\n", 20) + "\",tail\nnext,row\n", "",
	} {
		f.Add(s)
	}
	type result struct {
		line   int
		fields string
		err    string
	}
	read := func(r io.Reader, lim *csvLimiter) []result {
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		var out []result
		for range 1000 {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return out
			}
			var perr *csv.ParseError
			switch {
			case errors.As(err, &perr):
				res := result{line: perr.StartLine, err: perr.Err.Error()}
				if lim != nil && lim.wasCut(err) {
					res.err = "cut"
				}
				out = append(out, res)
			case err != nil:
				out = append(out, result{err: err.Error()})
				return out
			default:
				line, _ := cr.FieldPos(0)
				out = append(out, result{line: line, fields: strings.Join(rec, "\x00")})
			}
		}
		return out
	}
	f.Fuzz(func(t *testing.T, body string) {
		const max = 16
		want := read(strings.NewReader(body), nil)
		lim := &csvLimiter{br: bufio.NewReaderSize(strings.NewReader(body), 16), max: max, line: 1, start: 1}
		got := read(lim, lim)
		if len(got) != len(want) {
			t.Fatalf("got %d records %v, want %d %v", len(got), got, len(want), want)
		}
		for i := range got {
			if got[i].line != want[i].line {
				t.Fatalf("record %d: got line %d, want %d", i, got[i].line, want[i].line)
			}
			if got[i].err == "cut" {
				continue
			}
			if len(got[i].fields) > max+2 { // a record is never shorter than its fields
				t.Fatalf("record %d (%q) passed whole, longer than %d bytes", i, got[i].fields, max+2)
			}
			if got[i] != want[i] {
				t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
