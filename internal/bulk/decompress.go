package bulk

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/internal/roster"
)

// ErrUnknownCoding is Decompress's answer to a content coding other than
// gzip, zstd or identity.
var ErrUnknownCoding = errors.New("content coding must be gzip, zstd or identity")

// TooLargeError is a body read past its limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("body exceeds %d bytes", e.Limit) }

// Decompress undoes a content coding ("", "identity", "gzip", "x-gzip" or
// "zstd") of body. The limit applies to the bytes after decoding too, so
// that a small compressed bomb cannot make the reader take in more than a
// plain body could: a read past it fails with *TooLargeError. closeFn
// releases the decoder.
func Decompress(body io.Reader, coding string, limit int64) (_ io.Reader, closeFn func(), _ error) {
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
		return nil, nil, ErrUnknownCoding
	}
	return &limitedReader{r: r, left: limit, limit: limit}, close, nil
}

// limitedReader fails with *TooLargeError past limit bytes.
type limitedReader struct {
	r           io.Reader
	left, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte more tells a body of exactly limit bytes from a longer one
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, err = int(l.left), &TooLargeError{Limit: l.limit}
	}
	l.left -= int64(n)
	return n, err
}
