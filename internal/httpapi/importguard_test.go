//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// spyBody counts the reads of a request body.
type spyBody struct {
	r     *bytes.Reader
	reads atomic.Int64
}

func (b *spyBody) Read(p []byte) (int, error) { b.reads.Add(1); return b.r.Read(p) }
func (b *spyBody) Close() error               { return nil }

// A caller that may not import gets 403 before a byte of its body is
// read: a gzip CSV whose header is one huge column name is never inflated.
func TestImportForbiddenReadsNothing(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(strings.Repeat("x", 8<<20) + ",email\n"))
	_ = zw.Close()
	forEachEngine(t, func(t *testing.T, h *harness) {
		user := h.token("user-1")
		for _, tc := range []struct{ method, path, contentType string }{
			{"POST", "/api/users/import", "text/csv"},
			{"POST", "/api/users/import?mode=nonsense", "application/json"},
			{"GET", "/api/users/export", ""},
		} {
			body := &spyBody{r: bytes.NewReader(gz.Bytes())}
			req := httptest.NewRequest(tc.method, tc.path, body)
			req.Header.Set("Authorization", "Bearer "+user)
			req.Header.Set("Content-Encoding", "gzip")
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			checkError(t, rec, http.StatusForbidden, string(roster.CodeForbidden))
			if n := body.reads.Load(); n != 0 {
				t.Errorf("%s %s: the body was read %d times before the 403", tc.method, tc.path, n)
			}
		}
	})
}

// A refused import is answered at once over a real connection, however
// its body arrives: the answer closes the connection rather than letting
// net/http read the body first (up to 256 KiB) to keep it open, which a
// body that never ends held back forever.
func TestImportRefusedWithoutWaitingForTheBody(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		srv := httptest.NewServer(h.srv)
		defer srv.Close()
		pr, pw := io.Pipe()
		defer func() { _ = pw.Close() }()
		go func() { // a body that trickles and never ends
			for {
				if _, err := pw.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		req, _ := http.NewRequest("POST", srv.URL+"/api/users/import", pr)
		req.Header.Set("Authorization", "Bearer "+h.token("user-1"))
		req.Header.Set("Content-Type", "text/csv")
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("no answer to a forbidden import with an endless body: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !resp.Close {
			t.Errorf("got %d (connection close %v), want 403 closing the connection", resp.StatusCode, resp.Close)
		}
	})
}

// startImport begins an import over a real connection whose body the test
// writes into (and must close); the response (or nil) arrives on the
// channel.
func startImport(t *testing.T, url, token, query string) (*io.PipeWriter, <-chan *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/users/import"+query, pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	out := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("import: %v", err)
		}
		out <- resp
	}()
	if _, err := io.WriteString(pw, `{"name":"First","email":"first@example.com"}`+"\n"); err != nil {
		t.Fatalf("write the first row: %v", err)
	}
	return pw, out
}

// Imports and exports have a cap of their own: one more than MaxBulk is
// turned away with 503 OVERLOADED and Retry-After, a caller that may not
// import still gets 403 first, and the slot frees when the import ends.
func TestBulkCap(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
		srv := httptest.NewServer(h.srv)
		defer srv.Close()
		pw, done := startImport(t, srv.URL, h.admin, "")
		defer func() { _ = pw.Close() }()
		var rec *httptest.ResponseRecorder
		waitFor(t, "the import to hold the bulk slot", func() bool {
			rec = h.do(request{method: "GET", path: "/api/users/export", token: h.admin})
			select {
			case resp := <-done:
				// The import came while this probe held the slot: it was
				// turned away (at once, its body unread), so start another.
				if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("import ended early: %+v", resp)
				}
				resp.Body.Close()
				_ = pw.Close()
				pw, done = startImport(t, srv.URL, h.admin, "")
				return false
			default:
			}
			return rec.Code != http.StatusOK
		})
		checkError(t, rec, http.StatusServiceUnavailable, "OVERLOADED")
		if rec.Header().Get("Retry-After") == "" {
			t.Error("503 OVERLOADED without Retry-After")
		}
		checkError(t, h.importBody("", "application/x-ndjson", userJSON("B", "b@example.com"), nil), http.StatusServiceUnavailable, "OVERLOADED")
		checkError(t, h.do(request{method: "GET", path: "/api/users/export", token: h.token("user-1")}), http.StatusForbidden, "FORBIDDEN")
		// Other API calls are not held back by the bulk cap.
		if rec := h.do(request{method: "GET", path: "/api/users", token: h.admin}); rec.Code != http.StatusOK {
			t.Errorf("list during an import: got %d, want 200", rec.Code)
		}
		_ = pw.Close()
		if resp := <-done; resp != nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("the import holding the slot: got %d, want 200", resp.StatusCode)
			}
		}
		if rec := h.do(request{method: "GET", path: "/api/users/export", token: h.admin}); rec.Code != http.StatusOK {
			t.Errorf("export after the import: got %d, want 200", rec.Code)
		}
	}, func(c *httpapi.Config) { c.MaxBulk = 1 })
}

// An import whose body stops making progress is ended after the idle
// timeout with 408 and the usual rules: an atomic one keeps nothing, a
// partial one its committed batches (and their event).
func TestImportIdleTimeout(t *testing.T) {
	const batch = roster.ImportBatchSize
	for _, mode := range []string{"partial", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			for _, e := range engines {
				t.Run(e.name, func(t *testing.T) {
					store := signalCommits(e.open(t))
					h := newHarness(t, store, func(c *httpapi.Config) { c.ImportIdleTimeout = 300 * time.Millisecond })
					srv := httptest.NewServer(h.srv)
					defer srv.Close()
					pw, done := startImport(t, srv.URL, h.admin, "?mode="+mode)
					defer pw.Close()
					for i := range 2*batch + batch/2 {
						if _, err := fmt.Fprintf(pw, `{"name":"U%d","email":"u%d@example.com"}`+"\n", i, i); err != nil {
							t.Fatalf("write row %d: %v", i, err)
						}
					}
					// Blank lines trickle in, each within the idle timeout, until
					// the whole batches are committed (the timeout cancels what
					// is still being written); then the body stops, open.
					if mode == "partial" {
						for commits := 0; commits < 2; {
							select {
							case <-store.commits:
								commits++
							case resp := <-done:
								t.Fatalf("the import ended before two batches committed: %+v", resp)
							case <-time.After(10 * time.Millisecond):
								_, _ = io.WriteString(pw, "\n") // progress, well within the idle timeout
							}
						}
					}
					resp := <-done
					if resp == nil {
						t.Fatal("no response")
					}
					defer resp.Body.Close()
					var env envelope
					_ = json.NewDecoder(resp.Body).Decode(&env)
					if resp.StatusCode != http.StatusRequestTimeout || env.Error.Code != "REQUEST_TIMEOUT" {
						t.Fatalf("got %d %+v, want 408 REQUEST_TIMEOUT", resp.StatusCode, env)
					}
					want := int64(0)
					if mode == "partial" {
						want = 2 * batch // the first row and the next ones fill two batches
					}
					if n := countUsers(t, store); n != want {
						t.Errorf("got %d users, want %d", n, want)
					}
				})
			}
		})
	}
}

// Names that come from the client (unknown JSON fields, CSV columns) are
// cut in the errors of an import, so an answer stays small whatever the
// input.
func TestImportErrorsEchoBoundedNames(t *testing.T) {
	long := strings.Repeat("é", 100<<10) // 200 KB, multi-byte: the cut keeps UTF-8 valid
	forEachEngine(t, func(t *testing.T, h *harness) {
		env := checkError(t, h.importBody("", "text/csv", long+",name,email\nA,a@example.com\n", nil), http.StatusBadRequest, "BAD_REQUEST")
		if len(env.Error.Details) == 0 || len(env.Error.Details[0].Field) > 64 || !strings.HasSuffix(env.Error.Details[0].Field, "…") {
			t.Errorf("csv header: got details %.200v, want the column name cut to 64 bytes", env.Error.Details)
		}
		// A header row past 1 MiB is refused without being buffered.
		env = checkError(t, h.importBody("", "text/csv", "name,email,"+strings.Repeat("h", 2<<20)+"\nA,a@example.com\n", nil), http.StatusBadRequest, "BAD_REQUEST")
		if !strings.Contains(env.Error.Message, "header row is longer than") {
			t.Errorf("csv 2 MB header: got %q, want the header refused as too long", env.Error.Message)
		}
		res := decodeImport(t, h.importBody("", "application/x-ndjson", `{"name":"A","email":"a@example.com","`+long+`":1}`+"\n", nil))
		if len(res.Errors) != 1 || len(res.Errors[0].Field) > 64 || !utf8.ValidString(res.Errors[0].Field) {
			t.Errorf("ndjson: got errors %.200v, want one with the field name cut to 64 bytes", res.Errors)
		}
	})
}
