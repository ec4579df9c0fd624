package bulk

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/bulk/bulktest"
	"github.com/rosterhq/roster/internal/roster"
)

func TestAppendJSONString(t *testing.T) {
	var all []string
	for b := range 256 {
		all = append(all, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	for _, s := range append(all, bulktest.Strings...) {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range bulktest.Strings {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendJSONString([]byte("prefix"), s); string(got) != "prefix"+string(want) {
		t.Errorf("appendJSONString(%q): got %s, want %s", s, got[len("prefix"):], want)
	}
}

func TestAppendUserNDJSON(t *testing.T) {
	for _, name := range bulktest.Strings {
		for _, at := range bulktest.Times {
			checkUserNDJSON(t, exportUser(name, "x@example.com", at, bulktest.Times[0]))
			checkUserNDJSON(t, exportUser("A", name, bulktest.Times[0], at))
		}
	}
}

func FuzzAppendUserNDJSON(f *testing.F) {
	for i, s := range bulktest.Strings {
		at := bulktest.Times[i%len(bulktest.Times)]
		f.Add(s, "x@example.com", at.Unix(), int64(at.Nanosecond()), 0)
	}
	f.Fuzz(func(t *testing.T, name, email string, sec, nsec int64, offset int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", offset))
		checkUserNDJSON(t, exportUser(name, email, at, at.Add(time.Microsecond)))
	})
}

func exportUser(name, email string, created, updated time.Time) roster.User {
	return roster.User{ID: uuid.MustParse("0192f3c4-5d6e-7f80-9a1b-abcdef012345"), Name: name, Email: email,
		CreatedAt: created, UpdatedAt: updated}
}

// checkUserNDJSON compares appendUserNDJSON with json.Encoder.Encode, in
// output and in whether it fails.
func checkUserNDJSON(t *testing.T, u roster.User) {
	t.Helper()
	var want bytes.Buffer
	werr := json.NewEncoder(&want).Encode(u)
	got, err := appendUserNDJSON([]byte("prefix"), u)
	switch {
	case (err != nil) != (werr != nil):
		t.Errorf("appendUserNDJSON(%+v): got error %v, want %v", u, err, werr)
	case err != nil && string(got) != "prefix":
		t.Errorf("appendUserNDJSON(%+v) failed, but appended %q", u, got)
	case err == nil && string(got) != "prefix"+want.String():
		t.Errorf("appendUserNDJSON(%+v):\n got %s\nwant %s", u, got[len("prefix"):], want.Bytes())
	}
}

func TestAppendUserCSV(t *testing.T) {
	for _, name := range bulktest.Strings {
		for _, at := range bulktest.Times {
			checkUserCSV(t, exportUser(name, "x@example.com", at, bulktest.Times[0]))
			checkUserCSV(t, exportUser("A", name, bulktest.Times[0], at))
		}
	}
	var (
		want  strings.Builder
		names []string
	)
	for _, f := range roster.UserFields {
		names = append(names, f.Name)
	}
	cw := csv.NewWriter(&want)
	_ = cw.Write(names)
	cw.Flush()
	if csvHeader != want.String() {
		t.Errorf("csvHeader: got %q, want %q", csvHeader, want.String())
	}
}

func FuzzAppendUserCSV(f *testing.F) {
	for _, s := range bulktest.Strings {
		f.Add(s, "x@example.com", int64(0), int64(0), 0)
	}
	f.Fuzz(func(t *testing.T, name, email string, sec, nsec int64, offset int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", offset))
		checkUserCSV(t, exportUser(name, email, at, at))
	})
}

// checkUserCSV compares appendUserCSV with csv.Writer.Write of the
// fields of roster.UserFields, each in its usual text form.
func checkUserCSV(t *testing.T, u roster.User) {
	t.Helper()
	var want strings.Builder
	cw := csv.NewWriter(&want)
	neutral := func(s string) string { // the OWASP CSV-injection prefix
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			return "'" + s
		}
		return s
	}
	var fields []string
	for _, f := range roster.UserFields {
		switch f.Kind {
		case roster.FieldID:
			fields = append(fields, f.ID(u).String())
		case roster.FieldText:
			fields = append(fields, neutral(f.Text(u)))
		case roster.FieldTime:
			fields = append(fields, f.Time(u).Format(roster.TimeLayout))
		default:
			t.Fatalf("field %s: kind %d has no text form here", f.Name, f.Kind)
		}
	}
	if err := cw.Write(fields); err != nil {
		t.Fatal(err)
	}
	cw.Flush()
	got, err := appendUserCSV([]byte("prefix"), u)
	if err != nil || string(got) != "prefix"+want.String() {
		t.Errorf("appendUserCSV(%+v):\n got %q, %v\nwant %q", u, got[len("prefix"):], err, want.String())
	}
}

// Cells a spreadsheet would run as formulas are written as text.
func TestAppendUserCSVFormulas(t *testing.T) {
	for name, want := range map[string]string{
		`=HYPERLINK("http://evil.example","x")`: `"'=HYPERLINK(""http://evil.example"",""x"")"`,
		"+1":                                    "'+1",
		"-2+3":                                  "'-2+3",
		"@SUM(A1)":                              "'@SUM(A1)",
		"\tTab":                                 "'\tTab",
		"\rCR":                                  "\"'\rCR\"",
		"'quoted":                               "'quoted",
		"Ada":                                   "Ada",
	} {
		u := exportUser(name, "x@example.com", bulktest.Times[0], bulktest.Times[0])
		got, _ := appendUserCSV(nil, u)
		if fields := strings.SplitN(string(got), ",", 3); len(fields) < 3 || !strings.HasPrefix(string(got)[len(fields[0])+1:], want+",") {
			t.Errorf("name %q: got row %q, want the name written as %q", name, got, want)
		}
	}
}

// countWrites counts the writes that reach it.
type countWrites struct {
	bytes.Buffer
	writes int
}

func (c *countWrites) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// A Writer writes what the appenders append, the CSV header first even
// without users, in writes of about flushAt bytes.
func TestWriter(t *testing.T) {
	users := make([]roster.User, 3000)
	for i := range users {
		users[i] = exportUser(fmt.Sprintf("User %d", i), fmt.Sprintf("u%d@example.com", i), bulktest.Times[0], bulktest.Times[0])
	}
	for _, tt := range []struct {
		format Format
		head   string
		row    func([]byte, roster.User) ([]byte, error)
	}{{NDJSON, "", appendUserNDJSON}, {CSV, csvHeader, appendUserCSV}} {
		for _, n := range []int{0, 1, len(users)} {
			var out countWrites
			w, err := NewWriter(&out, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			want := []byte(tt.head)
			for _, u := range users[:n] {
				if err := w.Write(u); err != nil {
					t.Fatal(err)
				}
				want, _ = tt.row(want, u)
			}
			if out.Len() > 0 && n < 2 {
				t.Errorf("%s, %d users: wrote %d bytes before Flush", tt.format, n, out.Len())
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s, %d users: got %d bytes, want %d", tt.format, n, out.Len(), len(want))
			}
			if max := len(want)/flushAt + 1; out.writes > max {
				t.Errorf("%s, %d users: %d writes for %d bytes, want at most %d", tt.format, n, out.writes, len(want), max)
			}
		}
	}
	if _, err := NewWriter(io.Discard, JSONArray); err == nil {
		t.Error("NewWriter(JSONArray): got no error; an export is NDJSON or CSV")
	}
}
