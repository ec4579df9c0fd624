package bulk

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/rosterhq/roster/internal/roster"
)

// JSONArrayReader reads a JSON array one element at a time; an element's
// "line" is its 1-based index. Elements are cut out of the stream by
// their brackets and quotes (readJSONValue), so that one longer than
// MaxRecord is skipped rather than buffered. A break in the array's own
// syntax (a missing comma, an unclosed array) ends it: what follows
// cannot be found again.
type JSONArrayReader struct {
	br    *bufio.Reader
	index int64
	done  bool
	buf   []byte
}

// NewJSONArrayReader reads up to the array's opening bracket. Anything
// else first is a *roster.Error; r's *TooLargeError is returned as it is.
func NewJSONArrayReader(r io.Reader) (*JSONArrayReader, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	c, err := peekNonSpace(br)
	if err != nil || c != '[' {
		if errors.As(err, new(*TooLargeError)) {
			return nil, err
		}
		return nil, roster.Errorf(roster.CodeBadRequest, "Request body must be a JSON array of users")
	}
	_, _ = br.Discard(1)
	return &JSONArrayReader{br: br}, nil
}

// malformed ends the array with a row error at the next index.
func (a *JSONArrayReader) malformed(msg string) (roster.ImportRecord, error) {
	a.done = true
	return rowError(a.index+1, "", msg), nil
}

// Next returns the next element's record.
func (a *JSONArrayReader) Next() (roster.ImportRecord, error) {
	if a.done {
		return roster.ImportRecord{}, io.EOF
	}
	br := a.br
	c, err := peekNonSpace(br)
	if err == nil && a.index > 0 { // after an element: a comma and the next, or the end
		switch c {
		case ']':
			a.done = true
			return roster.ImportRecord{}, io.EOF
		case ',':
			_, _ = br.Discard(1)
			if c, err = peekNonSpace(br); err == nil && c == ']' {
				return a.malformed("malformed JSON (a comma before ]); the rest of the array was not read")
			}
		default:
			return a.malformed("malformed JSON (no comma between elements); the rest of the array was not read")
		}
	} else if err == nil && c == ']' {
		a.done = true
		return roster.ImportRecord{}, io.EOF
	}
	if err == nil {
		var tooLong bool
		a.buf, tooLong, err = readJSONValue(br, a.buf[:0], MaxRecord)
		if err == nil {
			a.index++
			if tooLong {
				return rowError(a.index, "", fmt.Sprintf("element is longer than %d bytes", MaxRecord)), nil
			}
			return jsonRecord(a.index, a.buf), nil
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return a.malformed("malformed JSON (the array is not closed); the rest of the array was not read")
	}
	return roster.ImportRecord{}, err
}

// peekNonSpace skips JSON whitespace and returns the next byte, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.Discard(1)
		default:
			return b[0], nil
		}
	}
}

// readJSONValue reads one JSON value's bytes, appended to buf: an object
// or array up to its matching bracket, a string up to its closing quote,
// or a number or literal up to the next delimiter. It finds the extent
// only; whether the bytes are valid JSON is the decoder's business. Past
// max bytes it stops keeping them and reports tooLong, reading on to the
// value's end. A value cut short by the end of the input is
// io.ErrUnexpectedEOF.
func readJSONValue(br *bufio.Reader, buf []byte, max int) (_ []byte, tooLong bool, _ error) {
	var (
		depth            int
		inString, escape bool
		scalar           bool
	)
	for {
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				if scalar && depth == 0 && !inString {
					return buf, tooLong, nil
				}
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		chunk, _ := br.Peek(br.Buffered())
		end, used := -1, len(chunk)
	scan:
		for i, c := range chunk {
			switch {
			case inString:
				switch {
				case escape:
					escape = false
				case c == '\\':
					escape = true
				case c == '"':
					inString = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			case scalar:
				switch c {
				case ' ', '\t', '\r', '\n', ',', ']', '}', '[', '{', '"':
					end = i // the delimiter is not the value's
					break scan
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth <= 0 { // <0: a stray closing bracket, one byte of invalid JSON
					end = i + 1
					break scan
				}
			case depth == 0:
				scalar = true
			}
		}
		if end >= 0 {
			used = end
		}
		if !tooLong && len(buf)+used > max {
			tooLong, buf = true, buf[:0]
		}
		if !tooLong {
			buf = append(buf, chunk[:used]...)
		}
		_, _ = br.Discard(used)
		if end >= 0 {
			return buf, tooLong, nil
		}
	}
}
