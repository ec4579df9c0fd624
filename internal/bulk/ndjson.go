package bulk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/rosterhq/roster/internal/roster"
)

// NDJSONReader reads one JSON object per line. Blank lines are skipped,
// CRLF line ends accepted, and a line longer than MaxRecord is reported
// and skipped without being held in memory.
type NDJSONReader struct {
	br   *bufio.Reader
	line int64
	buf  []byte
}

// NewNDJSONReader returns a reader of r's lines.
func NewNDJSONReader(r io.Reader) *NDJSONReader {
	return &NDJSONReader{br: bufio.NewReaderSize(r, readBuffer)}
}

// Next returns the next record.
func (n *NDJSONReader) Next() (roster.ImportRecord, error) {
	for {
		data, tooLong, err := n.readLine()
		if err != nil {
			return roster.ImportRecord{}, err
		}
		n.line++
		if tooLong {
			return rowError(n.line, "", fmt.Sprintf("line is longer than %d bytes", MaxRecord)), nil
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		return jsonRecord(n.line, data), nil
	}
}

// readLine returns the next line without its end; io.EOF only when no
// line is left. Past MaxRecord it stops keeping bytes.
func (n *NDJSONReader) readLine() (line []byte, tooLong bool, err error) {
	n.buf = n.buf[:0]
	read := false
	for {
		frag, err := n.br.ReadSlice('\n')
		read = read || len(frag) > 0
		if !tooLong {
			if len(n.buf)+len(frag) > MaxRecord+2 { // +2: the line end
				tooLong, n.buf = true, n.buf[:0]
			} else {
				n.buf = append(n.buf, frag...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && read:
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(n.buf, []byte("\n")), []byte("\r")), tooLong, nil
	}
}
