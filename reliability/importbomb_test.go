//go:build reliability

package reliability

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bombRSSLimit is the peak RSS an import body of any shape may bring the
// server to (issue 13, Medium 1).
const bombRSSLimit = 150 << 20

// bomb is one hostile import body: small on the wire, large or oddly
// shaped once decoded.
type bomb struct {
	name        string
	contentType string
	encoding    string   // gzip or zstd
	window      int      // zstd window size; 0: the encoder's default
	flags       []string // extra flags for the server
	write       func(w io.Writer) error
}

// repeat writes n bytes of b, a chunk at a time.
func repeat(w io.Writer, b byte, n int) error {
	chunk := bytes.Repeat([]byte{b}, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// writes writes its parts in order: strings as they are, an int n as n
// bytes of 'a'.
func writes(parts ...any) func(io.Writer) error {
	return func(w io.Writer) error {
		for _, p := range parts {
			var err error
			switch p := p.(type) {
			case string:
				_, err = io.WriteString(w, p)
			case int:
				err = repeat(w, 'a', p)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

const mb200 = 200 << 20

var bombs = []bomb{
	{name: "CSV header, one 200 MB column name", contentType: "text/csv", encoding: "gzip",
		write: writes("name,email,", mb200, "\nAda,ada@example.com\n")},
	{name: "CSV record, one 200 MB quoted field", contentType: "text/csv", encoding: "gzip",
		write: writes("name,email\n\"", mb200, "\",ada@example.com\nGrace,grace@example.com\n")},
	{name: "CSV, 900 valid rows each with a 1 MB ignored column", contentType: "text/csv", encoding: "zstd",
		write: func(w io.Writer) error {
			if _, err := io.WriteString(w, "id,name,email\n"); err != nil {
				return err
			}
			for i := range 900 {
				if err := writes((1<<20)-64, fmt.Sprintf(",User %d,user%d@example.com\n", i, i))(w); err != nil {
					return err
				}
			}
			return nil
		}},
	{name: "JSON array, one element a 200 MB string", contentType: "application/json", encoding: "gzip",
		write: writes(`["`, mb200, `",{"name":"Ada","email":"ada@example.com"}]`)},
	{name: "JSON array, one 200 MB object", contentType: "application/json", encoding: "gzip",
		write: writes(`[{"name":"`, mb200, `","email":"x@example.com"},{"name":"Ada","email":"ada@example.com"}]`)},
	{name: "NDJSON, one 200 MB line", contentType: "application/x-ndjson", encoding: "gzip",
		write: writes(`{"name":"`, mb200, `"}`+"\n"+`{"name":"Ada","email":"ada@example.com"}`+"\n")},
	{name: "gzip bomb, 200 MB of blank lines past a 64 MiB limit", contentType: "application/x-ndjson", encoding: "gzip",
		flags: []string{"--import-max-bytes", fmt.Sprint(64 << 20)},
		write: func(w io.Writer) error { return repeat(w, '\n', mb200) }},
	{name: "zstd bomb, 256 MiB window, 200 MB line", contentType: "application/x-ndjson", encoding: "zstd", window: 256 << 20,
		write: writes(`{"name":"`, mb200, `"}`+"\n")},
}

// compress encodes b's body as it goes out on the wire.
func (b bomb) compress(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch b.encoding {
	case "gzip":
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case "zstd":
		opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1)}
		if b.window > 0 {
			opts = append(opts, zstd.WithWindowSize(b.window))
		}
		zw, err := zstd.NewWriter(&buf, opts...)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	if err := b.write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImportBombs posts each bomb as an admin to a fresh roster process
// (SQLite) and reads the process's peak RSS (VmHWM) after the answer:
// it must stay under bombRSSLimit, and the answer must not be a 5xx.
func TestImportBombs(t *testing.T) {
	token := adminToken(t)
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			body := b.compress(t)
			if len(body) > 512<<10 {
				t.Fatalf("bomb is %d bytes compressed, want at most 512 KiB", len(body))
			}
			dir := workDir(t)
			srv := startServer(t, dir, "roster", filepath.Join(dir, "roster.db"), b.flags...)
			base := procStatus(srv.pid(), "VmHWM")
			req, _ := http.NewRequest("POST", srv.base+"/api/users/import", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", b.contentType)
			req.Header.Set("Content-Encoding", b.encoding)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("import: %v\n%s", err, tail(srv.logPath, 2000))
			}
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			peak := procStatus(srv.pid(), "VmHWM")
			summary := strings.ReplaceAll(string(answer), "\n", " ")
			t.Logf("%d bytes compressed: %d, peak RSS %d MB (%d MB at start), answer %d bytes: %.300s",
				len(body), resp.StatusCode, peak>>10, base>>10, len(answer), summary)
			figure(t, "import bomb: "+b.name, fmt.Sprintf("%d KB", len(body)>>10), fmt.Sprint(resp.StatusCode), fmt.Sprintf("%d MB", peak>>10))
			if resp.StatusCode >= 500 {
				t.Errorf("status %d, want no 5xx", resp.StatusCode)
			}
			if peak<<10 >= bombRSSLimit {
				t.Errorf("peak RSS %d MB, want < %d MB", peak>>10, bombRSSLimit>>20)
			}
		})
	}
}
