package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// etag is the strong entity tag of u as sent: its updated_at in
// microseconds, which the stores move forward on every write, so it names
// one version, and redactedTag when the caller may not see the email, so
// that the two bodies of one version never share a tag (a client or cache
// holding the whole body gets no 304 for the other, nor the reverse).
func etag(u roster.User) string {
	tag := strconv.AppendInt([]byte{'"'}, u.UpdatedAt.UnixMicro(), 36)
	if u.Email == "" {
		tag = append(tag, redactedTag...)
	}
	return string(append(tag, '"'))
}

// redactedTag ends the tag of a user sent without its email (outside the
// base-36 digits of the version).
const redactedTag = ".r"

// parseETag reverses etag: either view's tag names the version. A weak
// form of our own tag is accepted too: the only weak tags we hand out are
// strong ones the compressor weakened.
func parseETag(tag string) (time.Time, bool) {
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return time.Time{}, false
	}
	us, err := strconv.ParseInt(strings.TrimSuffix(tag[1:len(tag)-1], redactedTag), 36, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMicro(us).UTC(), true
}

// noneMatch reports whether an If-None-Match header matches tag (weak
// comparison, RFC 9110 §13.1.2).
func noneMatch(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(tag, "W/") {
			return true
		}
	}
	return false
}

// ifMatch turns an If-Match header into the version a write is
// conditional on: nil without the header; the tag's version for one tag.
// "*" or several tags are resolved against the current version, which the
// conditional write then pins, so the check stays atomic.
func (s *Server) ifMatch(r *http.Request, id uuid.UUID) (*time.Time, error) {
	header := strings.TrimSpace(r.Header.Get("If-Match"))
	if header == "" {
		return nil, nil
	}
	var versions []time.Time
	matchAny := false
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			matchAny = true
			continue
		}
		if v, ok := parseETag(t); ok {
			versions = append(versions, v)
		}
	}
	if len(versions) == 1 && !matchAny {
		return &versions[0], nil
	}
	u, err := s.users.User(r.Context(), id)
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		if v.Equal(u.UpdatedAt) {
			matchAny = true
		}
	}
	if !matchAny {
		return nil, roster.Errorf(roster.CodePrecondition, "User %s has changed since it was read", id)
	}
	return &u.UpdatedAt, nil
}
