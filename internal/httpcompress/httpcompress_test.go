package httpcompress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// compressTestJSON returns a JSON array of at least n bytes that compresses
// the way an API listing does.
func compressTestJSON(n int) []byte {
	b := []byte("[")
	for i := 0; len(b) < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":%d,"name":"User %d","email":"user%d@example.com","roles":["reader"]}`, i, i, i)
	}
	return append(b, ']')
}

// decodeCompressed undoes coding ("" for identity).
func decodeCompressed(t *testing.T, coding string, r io.Reader) []byte {
	t.Helper()
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("zstd.NewReader: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %q: %v", coding, err)
	}
	return b
}

// serveCompress runs h behind Compress with the default options.
func serveCompress(h http.HandlerFunc, method, accept string) *http.Response {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(method, "/", nil)
	if accept != "" {
		r.Header.Set("Accept-Encoding", accept)
	}
	Middleware(Options{})(h).ServeHTTP(rec, r)
	return rec.Result() // the header as sent, not as later mutated
}

func TestCompressRoundTrip(t *testing.T) {
	body := compressTestJSON(10 << 10)
	h := Middleware(Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	for _, coding := range []string{"gzip", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			// Several rounds, so that pooled encoders are reset and reused.
			for range 3 {
				rec := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Accept-Encoding", coding)
				h.ServeHTTP(rec, r)
				res := rec.Result()
				if got := res.Header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding: got %q, want %q", got, coding)
				}
				if got := res.Header.Get("Content-Length"); got != "" {
					t.Errorf("Content-Length: got %q, want none", got)
				}
				if got := res.Header.Values("Vary"); !slices.Equal(got, []string{"Accept-Encoding"}) {
					t.Errorf("Vary: got %q, want [Accept-Encoding]", got)
				}
				if rec.Body.Len() >= len(body)/2 {
					t.Errorf("compressed size: got %d, want well under %d", rec.Body.Len(), len(body))
				}
				if got := decodeCompressed(t, coding, rec.Body); !bytes.Equal(got, body) {
					t.Fatalf("decoded body differs: got %d bytes, want %d", len(got), len(body))
				}
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept []string
		want   string
	}{
		{[]string{"gzip"}, "gzip"},
		{[]string{"zstd"}, "zstd"},
		{[]string{"gzip, zstd"}, "zstd"},
		{[]string{"zstd;q=0.5, gzip;q=0.9"}, "gzip"},
		{[]string{"gzip;q=0, zstd;q=0"}, ""},
		{[]string{"*"}, "zstd"},
		{[]string{"*;q=0.1, gzip;q=0"}, "zstd"},
		{[]string{"gzip;q=0, *;q=0.1"}, "zstd"}, // named codings win over * in any order
		{[]string{"zstd;q=0, *"}, "gzip"},
		{[]string{"identity"}, ""},
		{[]string{""}, ""},
		{nil, ""},
		{[]string{"GZIP"}, "gzip"},
		{[]string{"x-gzip"}, "gzip"},
		{[]string{"br"}, ""},
		{[]string{"br;q=1.0, gzip;q=0.8, *;q=0.1"}, "gzip"},
		{[]string{"gzip ; Q=0.5 , zstd;q=0.25"}, "gzip"},
		{[]string{"gzip;q=0.001"}, "gzip"},
		{[]string{"gzip", "zstd"}, "zstd"}, // repeated header lines combine
		{[]string{" , ,gzip"}, "gzip"},
		// A weight that does not parse refuses the coding (q=0) rather than
		// risk a body the client cannot decode.
		{[]string{"gzip;q=abc"}, ""},
		{[]string{"zstd;q=abc, gzip"}, "gzip"},
		{[]string{"*, gzip;q=abc"}, "zstd"},
		{[]string{"gzip;q=1.5"}, ""},
		{[]string{"gzip;q=1.001"}, ""},
		{[]string{"gzip;q=0.5000"}, ""},
		{[]string{"gzip;q=.5"}, ""},
		{[]string{"gzip;level=9"}, ""},
	}
	for _, tt := range tests {
		if got := negotiate(tt.accept); got != tt.want {
			t.Errorf("negotiate(%q): got %q, want %q", tt.accept, got, tt.want)
		}
	}
}

// TestCompressDecision covers which responses are compressed, and what the
// others keep.
func TestCompressDecision(t *testing.T) {
	big := compressTestJSON(20 << 10)
	small := []byte(`{"ok":true}`)
	writeJSON := func(body []byte, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			_, _ = w.Write(body)
		}
	}
	tests := []struct {
		name       string
		method     string // GET when empty
		accept     string
		handler    http.HandlerFunc
		wantStatus int
		wantCoding string
		wantVary   []string
		wantLength string // Content-Length sent
		wantType   string // checked when set
		wantBody   []byte // after decoding; checked when set
	}{
		{
			name: "large JSON", accept: "gzip", handler: writeJSON(big),
			wantStatus: 200, wantCoding: "gzip", wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "small body keeps its length", accept: "gzip, zstd",
			handler:    writeJSON(small, "Content-Length", strconv.Itoa(len(small))),
			wantStatus: 200, wantVary: []string{"Accept-Encoding"}, wantLength: strconv.Itoa(len(small)), wantBody: small,
		},
		{
			name: "no acceptable coding still varies", accept: "", handler: writeJSON(big),
			wantStatus: 200, wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "existing Vary is extended", accept: "zstd", handler: writeJSON(big, "Vary", "Origin"),
			wantStatus: 200, wantCoding: "zstd", wantVary: []string{"Origin", "Accept-Encoding"}, wantBody: big,
		},
		{
			name: "Vary not duplicated", accept: "zstd", handler: writeJSON(big, "Vary", "origin, accept-encoding"),
			wantStatus: 200, wantCoding: "zstd", wantVary: []string{"origin, accept-encoding"}, wantBody: big,
		},
		{
			name: "untyped body is sniffed before compressing", accept: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(append([]byte("<!DOCTYPE html><p>"), big...))
			},
			wantStatus: 200, wantCoding: "gzip", wantVary: []string{"Accept-Encoding"}, wantType: "text/html; charset=utf-8",
		},
		{
			name: "many small writes", accept: "zstd",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				for chunk := range slices.Chunk(big, 100) {
					_, _ = w.Write(chunk)
				}
			},
			wantStatus: 200, wantCoding: "zstd", wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "event stream is never buffered", accept: "gzip, zstd",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for chunk := range slices.Chunk(big, 4<<10) {
					_, _ = w.Write(chunk)
					_ = http.NewResponseController(w).Flush()
				}
			},
			wantStatus: 200, wantBody: big,
		},
		{
			name: "handler's own encoding left alone", accept: "gzip, zstd",
			handler: writeJSON(big, "Content-Encoding", "br", "Content-Length", strconv.Itoa(len(big))),
			// Undecoded, since br is opaque to the test: the bytes must be untouched.
			wantStatus: 200, wantCoding: "br", wantLength: strconv.Itoa(len(big)), wantBody: big,
		},
		{
			name: "already compressed media", accept: "gzip",
			handler:    writeJSON(big, "Content-Type", "image/png"),
			wantStatus: 200, wantBody: big,
		},
		{
			name: "svg is text", accept: "gzip",
			handler:    writeJSON(big, "Content-Type", "image/svg+xml"),
			wantStatus: 200, wantCoding: "gzip", wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "octet-stream", accept: "gzip",
			handler:    writeJSON(big, "Content-Type", "application/octet-stream"),
			wantStatus: 200, wantBody: big,
		},
		{
			name: "HEAD", method: "HEAD", accept: "gzip",
			handler:    writeJSON(nil, "Content-Length", strconv.Itoa(len(big))),
			wantStatus: 200, wantLength: strconv.Itoa(len(big)),
		},
		{
			name: "204", accept: "gzip",
			handler:    func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
			wantStatus: 204,
		},
		{
			name: "304", accept: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotModified)
			},
			wantStatus: 304, wantVary: []string{"Accept-Encoding"},
		},
		{
			name: "206", accept: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(big)-1, len(big)*2))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(big)
			},
			wantStatus: 206, wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "headers only", accept: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Location", "/api/users/1")
				w.WriteHeader(http.StatusCreated)
			},
			wantStatus: 201, wantVary: []string{"Accept-Encoding"}, wantBody: []byte{},
		},
		{
			name: "status kept through buffering", accept: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTeapot)
				_, _ = w.Write(big)
			},
			wantStatus: 418, wantCoding: "gzip", wantVary: []string{"Accept-Encoding"}, wantBody: big,
		},
		{
			name: "nothing written", accept: "gzip",
			handler:    func(w http.ResponseWriter, r *http.Request) {},
			wantStatus: 200, wantBody: []byte{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			res := serveCompress(tt.handler, method, tt.accept)
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status: got %d, want %d", res.StatusCode, tt.wantStatus)
			}
			coding := res.Header.Get("Content-Encoding")
			if coding != tt.wantCoding {
				t.Errorf("Content-Encoding: got %q, want %q", coding, tt.wantCoding)
			}
			if got := res.Header.Values("Vary"); !slices.Equal(got, tt.wantVary) {
				t.Errorf("Vary: got %q, want %q", got, tt.wantVary)
			}
			if got := res.Header.Get("Content-Length"); got != tt.wantLength {
				t.Errorf("Content-Length: got %q, want %q", got, tt.wantLength)
			}
			if got := res.Header.Get("Content-Type"); tt.wantType != "" && got != tt.wantType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.wantType)
			}
			if tt.wantBody != nil {
				if coding == "br" {
					coding = ""
				}
				if got := decodeCompressed(t, coding, res.Body); !bytes.Equal(got, tt.wantBody) {
					t.Errorf("body: got %d bytes, want %d", len(got), len(tt.wantBody))
				}
			}
		})
	}
}

func TestCompressETag(t *testing.T) {
	big, small := compressTestJSON(4<<10), []byte(`{}`)
	tests := []struct {
		name   string
		accept string
		etag   string
		status int
		body   []byte
		want   string
	}{
		{"strong becomes weak when compressed", "gzip", `"v1"`, 200, big, `W/"v1"`},
		{"weak stays weak", "zstd", `W/"v1"`, 200, big, `W/"v1"`},
		{"small body stays strong", "gzip", `"v1"`, 200, small, `"v1"`},
		{"uncompressed stays strong", "", `"v1"`, 200, big, `"v1"`},
		// A 304 must match the ETag of the compressed 200 it revalidates.
		{"304 to a client that takes compression", "gzip", `"v1"`, 304, nil, `W/"v1"`},
		{"304 to a client that does not", "identity", `"v1"`, 304, nil, `"v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serveCompress(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", tt.etag)
				w.WriteHeader(tt.status)
				_, _ = w.Write(tt.body)
			}, "GET", tt.accept)
			if got := res.Header.Get("ETag"); got != tt.want {
				t.Errorf("ETag: got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestCompressStreaming checks that a flush pushes the bytes written so far
// through the encoder to the client before the handler goes on.
func TestCompressStreaming(t *testing.T) {
	first, rest := compressTestJSON(100)[:100], compressTestJSON(20<<10)
	read := make(chan struct{})
	srv := httptest.NewServer(Middleware(Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(first)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		select { // the client has the first bytes, so they were not held back
		case <-read:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(rest)
	})))
	defer srv.Close()
	// A timeout, not a sleep: if the flush is lost, the read below blocks.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

	for _, coding := range []string{"gzip", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", coding)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got := res.Header.Get("Content-Encoding"); got != coding {
				t.Fatalf("Content-Encoding: got %q, want %q", got, coding)
			}
			var dec io.Reader
			if coding == "gzip" {
				dec, err = gzip.NewReader(res.Body)
			} else {
				var zr *zstd.Decoder
				if zr, err = zstd.NewReader(res.Body, zstd.WithDecoderConcurrency(1)); err == nil {
					defer zr.Close()
				}
				dec = zr
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(first))
			if _, err := io.ReadFull(dec, got); err != nil || !bytes.Equal(got, first) {
				t.Fatalf("before the handler went on: got %q, %v; want %q", got, err, first)
			}
			read <- struct{}{}
			tail, err := io.ReadAll(dec)
			if err != nil || !bytes.Equal(tail, rest) {
				t.Errorf("rest: got %d bytes, %v; want %d bytes", len(tail), err, len(rest))
			}
		})
	}
}

var errCompressBroken = errors.New("connection broken")

// brokenWriter fails every body write, like a client that went away.
type brokenWriter struct{ h http.Header }

func (w *brokenWriter) Header() http.Header         { return w.h }
func (w *brokenWriter) WriteHeader(int)             {}
func (w *brokenWriter) Write(p []byte) (int, error) { return 0, errCompressBroken }

func TestCompressWriteError(t *testing.T) {
	chunk := compressTestJSON(64 << 10)
	for _, accept := range []string{"", "gzip", "zstd"} {
		t.Run("accept "+accept, func(t *testing.T) {
			var err error
			h := Middleware(Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				// zstd hands a block to the writer only once 128 KiB are in.
				for i := 0; i < 4 && err == nil; i++ {
					_, err = w.Write(chunk)
				}
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", accept)
			h.ServeHTTP(&brokenWriter{h: http.Header{}}, r)
			if !errors.Is(err, errCompressBroken) {
				t.Errorf("Write: got %v, want %v", err, errCompressBroken)
			}
		})
	}
}

// After a panic the held-back response must stay unsent, so that the
// recoverer outside can still answer 500.
func TestCompressPanicSendsNothing(t *testing.T) {
	rec := httptest.NewRecorder()
	h := Middleware(Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"partial":`))
		panic("boom")
	}))
	func() {
		defer func() { _ = recover() }()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		h.ServeHTTP(rec, r)
	}()
	if rec.Body.Len() != 0 || rec.Header().Get("Vary") != "" {
		t.Errorf("after panic: got body %q, Vary %q; want nothing sent", rec.Body, rec.Header().Get("Vary"))
	}
}

// discardWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the middleware and the encoder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkCompress(b *testing.B) {
	body := compressTestJSON(20 << 10)
	h := Middleware(Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	for _, coding := range []string{"gzip", "zstd"} {
		b.Run(coding, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", coding)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}
