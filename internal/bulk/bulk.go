// Package bulk reads import files and writes exports: NDJSON, a JSON
// array or CSV in, NDJSON or CSV out, with the limits that keep any input
// small in memory. It knows the domain and io, not the transport: the
// HTTP import and export routes and the command line's --db mode both use
// it.
package bulk

import (
	"unicode/utf8"

	"github.com/rosterhq/roster/internal/roster"
)

// Format is the layout of an import or export file.
type Format string

// The formats. An export is NDJSON or CSV; an import reads all three.
const (
	NDJSON    Format = "ndjson"
	JSONArray Format = "json" // an import only
	CSV       Format = "csv"
)

var mediaTypes = map[Format]string{NDJSON: "application/x-ndjson", JSONArray: "application/json", CSV: "text/csv"}

// MediaType is the media type of a body in f, without parameters; "" for
// an unknown format.
func (f Format) MediaType() string { return mediaTypes[f] }

// FormatOf returns the import format of a media type (without parameters).
func FormatOf(mediaType string) (Format, bool) {
	for f, mt := range mediaTypes {
		if mt == mediaType {
			return f, true
		}
	}
	return "", false
}

// MaxRecord bounds one NDJSON line, JSON-array element and CSV record, in
// bytes: as large as the body of POST /api/users, so that any row an
// import takes could also be created on its own. A longer record is
// reported and skipped without being held in memory.
const MaxRecord = 1 << 20

// Bounds of client-supplied text echoed in import errors, in bytes.
const (
	maxEchoedName    = 64
	maxEchoedMessage = 256
)

// rowError is a record that could not be read. Field names come from the
// client (an unknown field, say) and are cut, as are messages, so that
// 1,000 listed errors stay small whatever the input.
func rowError(line int64, field, msg string) roster.ImportRecord {
	return roster.ImportRecord{Line: line, Err: &roster.ImportError{Line: line, Field: cut(field, maxEchoedName),
		Code: roster.CodeBadRequest, Message: cut(msg, maxEchoedMessage)}}
}

// cut shortens s to at most max bytes, on a rune boundary, marking the cut
// with an ellipsis.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}
