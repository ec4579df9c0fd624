package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/rosterhq/roster/internal/bulk"
	"github.com/rosterhq/roster/internal/roster"
)

// maxBodyBytes bounds API request bodies: one user, as large as one
// import record, so that any row an import takes could be created alone.
const maxBodyBytes = bulk.MaxRecord

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	startJSON(w, status)
	// The status is sent; a failed write means the client is gone, and
	// there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// userJSONSize is a generous guess at one user's JSON, for buffer sizes.
const userJSONSize = 256

// bodies recycles the buffers of encodeUser and encodeUsers, as
// encoding/json recycles its own; a buffer grown past maxPooledBody (a
// page far above the usual) is left to the collector.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

// encodeUser writes u as encode would, without reflection.
func encodeUser(w http.ResponseWriter, status int, u roster.User) {
	encodeUsersAs(w, status, []roster.User{u}, false)
}

// encodeUsers writes users as a JSON array, [] when empty, as encode
// would, without reflection.
func encodeUsers(w http.ResponseWriter, status int, users []roster.User) {
	encodeUsersAs(w, status, users, true)
}

func encodeUsersAs(w http.ResponseWriter, status int, users []roster.User, array bool) {
	bp := bodies.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBody {
			bodies.Put(bp)
		}
	}()
	buf := slices.Grow((*bp)[:0], 3+len(users)*(userJSONSize+1))
	if array {
		buf = append(buf, '[')
	}
	for i, u := range users {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = bulk.AppendUserJSON(buf, u); err != nil {
			*bp = buf
			if array { // a time encoding/json refuses: let it say so
				encode(w, status, users)
			} else {
				encode(w, status, u)
			}
			return
		}
	}
	if array {
		buf = append(buf, ']')
	}
	*bp = append(buf, '\n')
	writeEncoded(w, status, *bp)
}

// writeEncoded writes an encoded JSON body with the given status.
func writeEncoded(w http.ResponseWriter, status int, body []byte) {
	startJSON(w, status)
	_, _ = w.Write(body) // as in encode: a failed write has nobody to tell
}

// jsonContentType is shared by every JSON response: Header().Set would
// allocate a new one-element slice each time. Nothing writes into a
// header's value slice; Set and Add replace or grow it.
var jsonContentType = []string{"application/json; charset=utf-8"}

func startJSON(w http.ResponseWriter, status int) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
}

// decode reads one JSON value from the body into v. Unknown fields, trailing
// data, wrong types, a non-JSON content type and oversized bodies are
// client errors, reported as *roster.Error.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return roster.Errorf(codeUnsupportedMediaType, "Content-Type must be application/json")
	}
	if r.ContentLength > maxBodyBytes { // refused unread, not after the read timeout
		return roster.Errorf(codePayloadTooLarge, "Request body must not exceed %d bytes", maxBodyBytes)
	}
	// The body is read whole (it is small) so that its raw bytes can be
	// checked after decoding, which replaces invalid UTF-8 silently.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return roster.Errorf(roster.CodeBadRequest, "Request body must contain a single JSON object")
	}
	if !utf8.Valid(raw) {
		return roster.InvalidUTF8(bulk.InvalidUTF8Field(raw))
	}
	return nil
}

// decodeError is the client's error for a body that could not be read
// (too large) or decoded (bulk.JSONError, shared with import records).
func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return roster.Errorf(codePayloadTooLarge, "Request body must not exceed %d bytes", tooBig.Limit)
	}
	return bulk.JSONError(err)
}
