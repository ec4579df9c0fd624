package httpapi

import (
	"bufio"
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
func readAll(t *testing.T, next func() (roster.ImportRecord, error), err error) {
	t.Helper()
	if err != nil {
		if !errors.As(err, new(*roster.Error)) {
			t.Fatalf("start: got %T %v, want a *roster.Error", err, err)
		}
		return
	}
	for range 10000 {
		rec, err := next()
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
		readAll(t, (&ndjsonRecords{br: bufio.NewReader(strings.NewReader(body))}).next, nil)
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
		next, err := jsonArrayRecords(bufio.NewReader(strings.NewReader(body)))
		readAll(t, next, err)
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
		next, err := csvRecords(bufio.NewReader(strings.NewReader(body)))
		readAll(t, next, err)
	})
}
