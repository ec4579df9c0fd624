package bulk

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/rosterhq/roster/internal/roster"
)

// importUser is one JSON record. The fields an export writes besides name
// and email are accepted, so that an export imports as it is, and ignored:
// the import makes new ids and times.
type importUser struct {
	Name      string          `json:"name"`
	Email     string          `json:"email"`
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// jsonRecord reads one JSON object with the rules of POST /api/users.
func jsonRecord(line int64, data []byte) roster.ImportRecord {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in importUser
	err := dec.Decode(&in)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return rowError(line, "", "must be a single JSON object")
		}
		if !utf8.Valid(data) { // decoding replaced the bad bytes: refuse as POST does
			fe := roster.InvalidUTF8(InvalidUTF8Field(data)).Details[0]
			return roster.ImportRecord{Line: line, Err: &roster.ImportError{Line: line, Field: fe.Field, Code: roster.CodeInvalid, Message: fe.Message}}
		}
		return roster.ImportRecord{Line: line, User: roster.NewUser{Name: in.Name, Email: in.Email}}
	}
	e := JSONError(err)
	if len(e.Details) > 0 {
		return rowError(line, e.Details[0].Field, e.Details[0].Message)
	}
	return rowError(line, "", e.Message)
}

// JSONError describes an encoding/json decoding error of a request body
// or an import record for the client: where the syntax broke, which field
// has the wrong type, which one is unknown. err is a Decode error, not
// one of the reader beneath.
func JSONError(err error) *roster.Error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		bad     = roster.CodeBadRequest
	)
	switch {
	case errors.Is(err, io.EOF):
		return roster.Errorf(bad, "Request body is required")
	case errors.As(err, &syntax):
		return roster.Errorf(bad, "Malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return roster.Errorf(bad, "Malformed JSON: unexpected end of body")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return roster.Errorf(bad, "Request body must be a JSON object")
		}
		return &roster.Error{Code: bad, Message: "Wrong type in request body",
			Details: []roster.FieldError{{Field: field, Message: "must be " + jsonType(typeErr.Type.Kind())}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &roster.Error{Code: bad, Message: "Unknown field in request body",
			Details: []roster.FieldError{{Field: field, Message: "is not allowed"}}}
	}
	return roster.Errorf(bad, "Invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names a Go kind the way a JSON client thinks of it.
func jsonType(kind reflect.Kind) string {
	switch kind {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	}
	return "a number"
}

// InvalidUTF8Field names the member of the JSON object raw (valid JSON,
// invalid UTF-8) whose value holds the bad bytes; "body" if none does.
func InvalidUTF8Field(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return "body"
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		start := dec.InputOffset()
		var value json.RawMessage
		if dec.Decode(&value) != nil {
			break
		}
		if name, ok := key.(string); ok && !utf8.Valid(raw[start:dec.InputOffset()]) {
			return name
		}
	}
	return "body"
}
