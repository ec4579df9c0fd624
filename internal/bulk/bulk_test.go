package bulk

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/internal/roster"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return zw.EncodeAll(b, nil)
}

// The limit counts the bytes before and after decoding: a small bomb is
// cut off at the limit, and a body of exactly the limit passes.
func TestDecompress(t *testing.T) {
	const limit = 1000
	exact, over := bytes.Repeat([]byte("a"), limit), bytes.Repeat([]byte("a"), limit+1)
	tests := []struct {
		name, coding string
		body         []byte
		want         []byte // nil: an error
		tooLarge     bool   // the error is *TooLargeError
	}{
		{"identity at the limit", "", exact, exact, false},
		{"identity over the limit", "identity", over, nil, true},
		{"gzip at the limit", "gzip", gzipped(t, exact), exact, false},
		{"gzip decoding past the limit", "x-gzip", gzipped(t, over), nil, true},
		{"zstd at the limit", "zstd", zstded(t, exact), exact, false},
		{"zstd decoding past the limit", "zstd", zstded(t, bytes.Repeat([]byte("a"), 100*limit)), nil, true},
		// A frame header asking for a 16 MiB window (descriptor 14<<3), then
		// one raw last block of one byte.
		{"zstd asking for a 16 MiB window", "zstd", []byte("\x28\xb5\x2f\xfd\x00\x70\x09\x00\x00a"), nil, false},
		{"zstd asking for an 8 MiB window", "zstd", []byte("\x28\xb5\x2f\xfd\x00\x68\x09\x00\x00a"), []byte("a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, closeFn, err := Decompress(bytes.NewReader(tt.body), tt.coding, limit)
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			defer closeFn()
			got, err := io.ReadAll(r)
			switch {
			case tt.want != nil && (err != nil || !bytes.Equal(got, tt.want)):
				t.Errorf("got %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
			case tt.want == nil && err == nil:
				t.Errorf("got %d bytes and no error, want an error", len(got))
			case tt.want == nil && errors.As(err, new(*TooLargeError)) != tt.tooLarge:
				t.Errorf("got %T %v; want *TooLargeError: %v", err, err, tt.tooLarge)
			}
		})
	}
	if _, _, err := Decompress(strings.NewReader("not gzip"), "gzip", limit); roster.ErrorCode(err) != roster.CodeBadRequest {
		t.Errorf("bad gzip: got %v, want %s", err, roster.CodeBadRequest)
	}
	if _, _, err := Decompress(strings.NewReader(""), "br", limit); !errors.Is(err, ErrUnknownCoding) {
		t.Errorf("br: got %v, want ErrUnknownCoding", err)
	}
}

// NewReader skips a byte order mark in every format and reads the
// format's first row after it.
func TestNewReader(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	for f, body := range map[Format]string{
		NDJSON:    `{"name":"Ada","email":"ada@example.com"}` + "\n",
		JSONArray: `[{"name":"Ada","email":"ada@example.com"}]`,
		CSV:       "name,email\nAda,ada@example.com\n",
	} {
		r, err := NewReader(strings.NewReader(bom+body), f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rec, err := r.Next()
		if err != nil || rec.Err != nil || rec.User != (roster.NewUser{Name: "Ada", Email: "ada@example.com"}) {
			t.Errorf("%s: got %+v, %v; want Ada", f, rec, err)
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Errorf("%s: after the row got %v, want io.EOF", f, err)
		}
		if got, ok := FormatOf(f.MediaType()); !ok || got != f {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", f.MediaType(), got, ok, f)
		}
	}
	if _, err := NewReader(strings.NewReader(""), "xml"); err == nil {
		t.Error("format xml: got no error")
	}
}

// A JSON record accepts the fields every format writes
// (roster.UserFields), so that an export imports as it is.
func TestImportUserMatchesFields(t *testing.T) {
	typ := reflect.TypeFor[importUser]()
	var tags, names []string
	for i := range typ.NumField() {
		tags = append(tags, typ.Field(i).Tag.Get("json"))
	}
	for _, f := range roster.UserFields {
		names = append(names, f.Name)
	}
	for _, n := range names {
		if !strings.Contains(","+strings.Join(tags, ",")+",", ","+n+",") {
			t.Errorf("importUser has no field %q; its JSON names are %v", n, tags)
		}
	}
	if len(tags) != len(names) {
		t.Errorf("importUser has %d fields %v, roster.UserFields %d %v", len(tags), tags, len(names), names)
	}
}
