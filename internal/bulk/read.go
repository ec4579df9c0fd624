package bulk

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/rosterhq/roster/internal/roster"
)

// Reader reads an import file one record at a time: a user, or a row
// error with its line (an NDJSON or CSV line, a JSON array's 1-based
// element index). Next returns io.EOF after the last record, and any
// other error when the input itself cannot be read: the import then
// aborts. A Reader is not safe for concurrent use.
type Reader interface {
	Next() (roster.ImportRecord, error)
}

// readBuffer is the read buffer of every Reader.
const readBuffer = 64 << 10

// NewReader returns the Reader of format f over r, after a byte order
// mark, as spreadsheet exports write. The JSON array's opening bracket
// and the CSV header are read here: a problem with them is a
// *roster.Error, or r's own error when r failed (*TooLargeError, say).
func NewReader(r io.Reader, f Format) (Reader, error) {
	br := bufio.NewReaderSize(r, readBuffer)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	switch f {
	case NDJSON:
		return NewNDJSONReader(br), nil
	case JSONArray:
		return NewJSONArrayReader(br)
	case CSV:
		return NewCSVReader(br)
	}
	return nil, fmt.Errorf("bulk: unknown import format %q", f)
}
