package bulk

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rosterhq/roster/internal/roster"
)

// maxHeaderErrors bounds the unknown columns listed for a CSV header.
const maxHeaderErrors = 20

// CSVReader reads CSV with a header row naming the columns:
// roster.UserFields by name, in any order. The columns a client sets are
// required, the others (an export's) known and ignored. encoding/csv
// buffers a whole record, so it reads through a csvLimiter, which ends a
// record longer than MaxRecord early in a way the parser refuses: that
// record becomes a row error, and the ones after it read as usual.
type CSVReader struct {
	cr  *csv.Reader
	lim *csvLimiter
	set []func(*roster.NewUser, string) // by column; nil: ignored
}

// NewCSVReader reads and checks the header row. A missing, oversized or
// wrong header is a *roster.Error; r's *TooLargeError is returned as it
// is.
func NewCSVReader(r io.Reader) (*CSVReader, error) {
	lim := &csvLimiter{br: bufio.NewReaderSize(r, readBuffer), max: MaxRecord, line: 1, start: 1}
	cr := csv.NewReader(lim)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.As(err, new(*TooLargeError)) {
			return nil, err
		}
		if lim.wasCut(err) {
			return nil, roster.Errorf(roster.CodeBadRequest, "The CSV header row is longer than %d bytes", MaxRecord)
		}
		return nil, roster.Errorf(roster.CodeBadRequest, "Request body must start with a CSV header row: %s", strings.Join(csvInputs, ","))
	}
	set := make([]func(*roster.NewUser, string), len(header))
	found := map[string]bool{}
	var bad []roster.FieldError
	for i, col := range header {
		f := slices.IndexFunc(roster.UserFields, func(f roster.UserField) bool { return f.Name == col })
		switch {
		case f < 0:
			if len(bad) < maxHeaderErrors {
				bad = append(bad, roster.FieldError{Field: cut(col, maxEchoedName), Message: "unknown column"})
			}
		case roster.UserFields[f].Set != nil:
			set[i], found[col] = roster.UserFields[f].Set, true
		}
	}
	if len(found) < len(csvInputs) {
		bad = append(bad, roster.FieldError{Field: "header", Message: "must have the columns " + strings.Join(csvInputs, " and ")})
	}
	if len(bad) > 0 {
		return nil, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid CSV header", Details: bad}
	}
	return &CSVReader{cr: cr, lim: lim, set: set}, nil
}

// Next returns the next record's row.
func (c *CSVReader) Next() (roster.ImportRecord, error) {
	rec, err := c.cr.Read()
	var perr *csv.ParseError
	switch {
	case errors.As(err, &perr) && c.lim.wasCut(err):
		return rowError(int64(perr.StartLine), "", fmt.Sprintf("record is longer than %d bytes", MaxRecord)), nil
	case errors.As(err, &perr):
		return rowError(int64(perr.StartLine), "", perr.Err.Error()), nil
	case err != nil:
		return roster.ImportRecord{}, err
	}
	line, _ := c.cr.FieldPos(0)
	var in roster.NewUser
	for i, s := range c.set {
		if s != nil {
			// The fields share one string with the whole record, other
			// columns included: copies keep a row that waits in a batch small.
			s(&in, strings.Clone(rec[i]))
		}
	}
	return roster.ImportRecord{Line: int64(line), User: in}, nil
}

// csvInputs are the columns a CSV import requires: the fields a client sets.
var csvInputs = func() []string {
	var cols []string
	for _, f := range roster.UserFields {
		if f.Set != nil {
			cols = append(cols, f.Name)
		}
	}
	return cols
}()
