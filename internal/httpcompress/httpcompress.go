// Package httpcompress is response compression for any net/http handler:
// zstd or gzip, whichever the request's Accept-Encoding prefers, for bodies
// large enough to gain from it. It knows nothing of roster's API.
//
// klauspost/compress's gzhttp does most of this too, but differs where
// roster's clients notice: it sends the held-back body after a panic (so
// the recoverer cannot answer 500), and it suffixes or drops the ETag
// instead of weakening it (W/), which the API's If-None-Match and 304s
// rely on.
package httpcompress

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Options configures Middleware.
type Options struct {
	// MinSize is the smallest body worth compressing: below it the framing
	// overhead and CPU cost outweigh the bytes saved. 0 means 1024.
	MinSize int
}

// Middleware returns middleware that encodes response bodies in zstd or gzip,
// whichever the request's Accept-Encoding prefers. Responses it leaves
// alone: HEAD and upgrade requests, bodies the handler encoded itself,
// event streams, already-compressed media, 204, 206 and 304.
func Middleware(opts Options) func(http.Handler) http.Handler {
	c := &compressor{minSize: opts.MinSize}
	if c.minSize <= 0 {
		c.minSize = 1024
	}
	// Encoders are pooled because each one owns tens of KiB of tables and
	// history; one per response would dominate the allocation profile.
	c.gzip.New = func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // fails only for a bad level
		return zw
	}
	c.zstd.New = func() any {
		// Concurrency 1 keeps the encoder synchronous, with no goroutines
		// outliving the request. A 128 KiB window bounds the memory each
		// pooled encoder holds; API bodies rarely reach back further.
		zw, _ := zstd.NewWriter(nil, // fails only for bad options
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithLowerEncoderMem(true),
			zstd.WithWindowSize(128<<10))
		return zw
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A HEAD body is never sent, and a hijacked connection must not
			// see a header written for it after the handler returns.
			if r.Method == http.MethodHead || r.Header.Get("Upgrade") != "" {
				next.ServeHTTP(w, r)
				return
			}
			cw := &compressWriter{ResponseWriter: w, c: c, coding: negotiate(r.Header.Values("Accept-Encoding"))}
			next.ServeHTTP(cw, r)
			// Not deferred: after a panic, sending the held-back body would
			// commit a status before the recoverer can write its 500.
			cw.finish()
		})
	}
}

type compressor struct {
	minSize    int
	gzip, zstd sync.Pool
}

// encoder is what *gzip.Writer and *zstd.Encoder have in common.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

func (c *compressor) pool(coding string) *sync.Pool {
	if coding == "zstd" {
		return &c.zstd
	}
	return &c.gzip
}

// compressWriter holds back the status and the first MinSize bytes of the
// body until it knows whether compressing is worth it, then commits.
type compressWriter struct {
	http.ResponseWriter
	c       *compressor
	coding  string // negotiated; "" when the client accepts neither
	status  int
	buf     []byte
	decided bool
	enc     encoder // set once compressing
}

func (w *compressWriter) WriteHeader(status int) {
	switch {
	case w.decided || status >= 100 && status < 200:
		// Informational responses (103 Early Hints) go out at once and
		// leave the final status to come; after the decision, net/http
		// reports superfluous calls itself.
		w.ResponseWriter.WriteHeader(status)
	case w.status == 0:
		w.status = status
		if !w.mayCompress() {
			_ = w.decide(false) // nothing is buffered yet, so nothing can fail
		}
	}
}

func (w *compressWriter) Write(p []byte) (int, error) {
	if !w.decided {
		if w.status == 0 {
			w.status = http.StatusOK // as net/http: a Write fixes the status
		}
		// Hold the body back until MinSize, never more: an untyped body
		// is sniffed from what was held, as net/http would.
		held := w.mayCompress() && len(w.buf)+len(p) < w.c.minSize
		if held {
			if w.buf == nil {
				w.buf = make([]byte, 0, w.c.minSize)
			}
			if w.buf = append(w.buf, p...); len(w.buf) < w.c.minSize {
				return len(p), nil
			}
		}
		if _, typed := w.Header()["Content-Type"]; !typed && !held && w.Header().Get("Content-Encoding") == "" {
			w.Header().Set("Content-Type", http.DetectContentType(sniffSample(w.buf, p)))
		}
		if err := w.decide(true); err != nil {
			return 0, err
		}
		if held {
			return len(p), nil
		}
	}
	if w.enc != nil {
		return w.enc.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// sniffSample is the first 512 bytes of held followed by p, all that
// http.DetectContentType reads.
func sniffSample(held, p []byte) []byte {
	const sniffLen = 512
	if len(held) >= sniffLen {
		return held[:sniffLen]
	}
	return append(append(make([]byte, 0, sniffLen), held...), p[:min(len(p), sniffLen-len(held))]...)
}

// FlushError is what http.ResponseController.Flush calls. A flush before
// the decision means the handler is streaming, so size no longer matters.
func (w *compressWriter) FlushError() error {
	if !w.decided {
		if err := w.decide(true); err != nil {
			return err
		}
	}
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *compressWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over (an event stream does): nothing is
// decided or sent for this response afterwards.
func (w *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.decided = true
	}
	return conn, brw, err
}

// finish sends whatever the handler left undecided and ends the stream.
func (w *compressWriter) finish() {
	if !w.decided {
		_ = w.decide(false)
	}
	if w.enc != nil {
		// The handler is done; a failed close means the client is gone.
		_ = w.enc.Close()
		w.enc.Reset(nil) // so the pool does not keep this response alive
		w.c.pool(w.coding).Put(w.enc)
		w.enc = nil
	}
}

// mayCompress reports whether, as far as the status and header tell so
// far, the body could still be compressed. An unset Content-Type passes:
// decide sniffs it from the buffered bytes.
func (w *compressWriter) mayCompress() bool {
	h := w.Header()
	if w.coding == "" || h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" ||
		w.status == http.StatusNoContent || w.status == http.StatusPartialContent || w.status == http.StatusNotModified {
		return false
	}
	_, typed := h["Content-Type"]
	return !typed || compressibleType(h.Get("Content-Type"))
}

// decide commits to compressing or not, writes the header and the held-back
// body. large reports that the body reached MinSize or is being streamed.
func (w *compressWriter) decide(large bool) error {
	w.decided = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.Header()
	// net/http would sniff the compressed bytes, so sniff the plain ones
	// first; it sniffs the same way when nothing is compressed.
	if _, typed := h["Content-Type"]; !typed && len(w.buf) > 0 && h.Get("Content-Encoding") == "" {
		h.Set("Content-Type", http.DetectContentType(w.buf))
	}
	// The representation depends on Accept-Encoding whenever the body is of
	// a kind we compress, even if this one was small or this client asked
	// for nothing: a cache must not hand it to a client that asked otherwise.
	if w.status != http.StatusNoContent && h.Get("Content-Encoding") == "" && compressibleType(h.Get("Content-Type")) {
		addVary(h)
		switch {
		case (large || len(w.buf) >= w.c.minSize) && w.mayCompress():
			h.Del("Content-Length")
			h.Del("Accept-Ranges") // ranges would address the identity bytes
			h.Set("Content-Encoding", w.coding)
			weakenETag(h) // the encoded bytes differ, so they are only weakly equal
			w.enc = w.c.pool(w.coding).Get().(encoder)
			w.enc.Reset(w.ResponseWriter)
		case w.status == http.StatusNotModified && w.coding != "":
			// Match the weak ETag a compressed 200 carried, or caches
			// cannot pair this 304 with it (RFC 9111 §4.3.4).
			weakenETag(h)
		}
	}
	w.ResponseWriter.WriteHeader(w.status)
	if len(w.buf) == 0 {
		return nil
	}
	var dst io.Writer = w.ResponseWriter
	if w.enc != nil {
		dst = w.enc
	}
	_, err := dst.Write(w.buf)
	w.buf = nil
	return err
}

// compressibleType reports whether a body of this media type shrinks under
// compression. Unknown types are not compressed: a guess could double-encode.
func compressibleType(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "image/svg+xml":
		return true
	case "", "text/event-stream", // an event stream must reach the client event by event
		"application/octet-stream", "application/zip", "application/gzip", "application/x-gzip",
		"application/zstd", "application/x-xz", "application/x-bzip2", "application/x-7z-compressed",
		"application/vnd.rar", "font/woff", "font/woff2":
		return false
	}
	major, _, _ := strings.Cut(mt, "/")
	return major != "image" && major != "video" && major != "audio"
}

// addVary adds Accept-Encoding to Vary unless it, or "*", is already there.
func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

func weakenETag(h http.Header) {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et)
	}
}

// negotiate picks "zstd", "gzip" or "" (identity) from the request's
// Accept-Encoding values (RFC 9110 §12.5.3): the highest q wins, zstd on a
// tie; "*" stands for any coding not named; q=0 refuses. A missing or empty
// header gets identity, as browsers and proxies expect in practice.
func negotiate(values []string) string {
	zq, gq, star := -1, -1, -1 // thousandths; -1 when not named
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			name, q := parseCoding(entry)
			switch {
			case strings.EqualFold(name, "zstd"):
				zq = q
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"): // §8.4.1.3
				gq = q
			case name == "*":
				star = q
			}
		}
	}
	if zq < 0 {
		zq = star
	}
	if gq < 0 {
		gq = star
	}
	switch {
	case zq > 0 && zq >= gq:
		return "zstd"
	case gq > 0:
		return "gzip"
	}
	return ""
}

// parseCoding splits `coding [;q=value]` into the coding and its weight in
// thousandths. A malformed weight counts as 0, so a garbled header can only
// ever refuse a coding, never enable one the client may not decode.
func parseCoding(s string) (string, int) {
	name, param, ok := strings.Cut(s, ";")
	name = strings.TrimSpace(name)
	if !ok {
		return name, 1000
	}
	param = strings.TrimSpace(param)
	if len(param) < 2 || param[0] != 'q' && param[0] != 'Q' || param[1] != '=' {
		return name, 0
	}
	return name, parseQ(param[2:])
}

// parseQ parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQ(s string) int {
	if len(s) == 0 || len(s) > 5 || s[0] != '0' && s[0] != '1' || len(s) > 1 && s[1] != '.' {
		return 0
	}
	q, scale := int(s[0]-'0')*1000, 100
	for _, c := range []byte(s[min(len(s), 2):]) {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0
	}
	return q
}
