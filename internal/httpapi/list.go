package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// listRequest is a parsed GET /api/users.
type listRequest struct {
	query  roster.ListQuery
	keyset bool // cursor/limit mode rather than page/per_page
	page   int  // page mode: 1-based page number
	count  bool // count=exact
	params url.Values
}

// listParams are the query parameters GET /api/users understands.
var listParams = []string{"page", "per_page", "limit", "cursor", "email", "q", "match", "created_after", "created_before", "sort", "count"}

// maxPage keeps the offset, (page-1) × per_page, far from overflowing:
// past it, the offset wrapped around to another page or a negative one.
const maxPage = math.MaxInt32

// parseList reads the list parameters, reporting every problem at once.
func (s *Server) parseList(q url.Values) (listRequest, error) {
	lr := listRequest{page: 1, params: q}
	var bad []roster.FieldError
	problem := func(field, msg string) { bad = append(bad, roster.FieldError{Field: field, Message: msg}) }
	for name := range q {
		if !slices.Contains(listParams, name) {
			problem(name, "unknown query parameter")
		} else if len(q[name]) > 1 {
			problem(name, "must be given once")
		}
	}
	positive := func(name string) int {
		if !q.Has(name) {
			return 0
		}
		n, err := strconv.Atoi(q.Get(name))
		switch {
		case err != nil:
			problem(name, "must be an integer")
		case n < 1:
			problem(name, "must be at least 1")
		default:
			return n
		}
		return 0
	}
	lr.keyset = q.Has("cursor") || q.Has("limit")
	if lr.keyset && (q.Has("page") || q.Has("per_page")) {
		problem("cursor", "cursor and limit cannot be combined with page and per_page")
	}
	if lr.keyset {
		lr.query.Limit = positive("limit")
	} else {
		if n := positive("page"); n > maxPage {
			problem("page", fmt.Sprintf("must be at most %d", maxPage))
		} else if n > 0 {
			lr.page = n
		}
		lr.query.Limit = positive("per_page")
	}
	lr.query.Sort = roster.Sort(q.Get("sort"))
	if q.Has("cursor") {
		c, err := s.cursors.decode(q.Get("cursor"))
		if err != nil {
			problem("cursor", "is not a cursor this server issued")
		} else {
			lr.query.After = &c
		}
	}
	f := &lr.query.Filter
	f.Email = q.Get("email")
	f.Search = q.Get("q")
	f.Match = roster.Match(q.Get("match"))
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if v := q.Get(t.name); v != "" {
			ts, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				problem(t.name, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z")
			}
			*t.dst = ts
		}
	}
	switch q.Get("count") {
	case "":
	case "exact":
		lr.count = true
	default:
		problem("count", "must be exact")
	}
	if len(bad) > 0 {
		return lr, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid query parameters", Details: bad}
	}
	if !lr.keyset {
		limit := lr.query.Limit
		if limit == 0 {
			limit = roster.DefaultPerPage
		}
		limit = min(limit, roster.MaxPerPage)
		lr.query.Limit = limit
		lr.query.Offset = (lr.page - 1) * limit
	}
	return lr, nil
}

// listLinks builds the RFC 8288 Link header: first/prev/next pages in page
// mode, next in keyset mode. Links keep the request's other parameters.
func (s *Server) listLinks(r *http.Request, lr listRequest, next *roster.Cursor) string {
	link := func(rel string, set map[string]string) string {
		v := url.Values{}
		for k, vs := range lr.params {
			v[k] = vs
		}
		for k, val := range set {
			v.Set(k, val)
		}
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, v.Encode(), rel)
	}
	if lr.keyset {
		if next == nil {
			return ""
		}
		return link("next", map[string]string{"cursor": s.cursors.encode(*next), "limit": strconv.Itoa(min(max(lr.query.Limit, 1), roster.MaxPerPage))})
	}
	perPage := strconv.Itoa(lr.query.Limit)
	links := []string{link("first", map[string]string{"page": "1", "per_page": perPage})}
	if lr.page > 1 {
		links = append(links, link("prev", map[string]string{"page": strconv.Itoa(lr.page - 1), "per_page": perPage}))
	}
	if next != nil {
		links = append(links, link("next", map[string]string{"page": strconv.Itoa(lr.page + 1), "per_page": perPage}))
	}
	return strings.Join(links, ", ")
}

// cursorCodec makes opaque, tamper-evident cursors: the position, then an
// HMAC of it. Every instance sharing the key accepts the others' cursors.
type cursorCodec struct{ key []byte }

var b64 = base64.RawURLEncoding

// cursorVersion lets the layout change without accepting old cursors.
const cursorVersion = 1

func (c cursorCodec) encode(cur roster.Cursor) string {
	// version, sort, created_at (unix µs), id, then the lower-cased name.
	buf := make([]byte, 0, 1+1+8+16+len(cur.Name)+16)
	buf = append(buf, cursorVersion, byte(slices.Index(roster.Sorts, cur.Sort))) // #nosec G115 -- an index into Sorts (4); an unknown sort's -1 becomes 255, which decode refuses
	buf = binary.BigEndian.AppendUint64(buf, uint64(cur.CreatedAt.UnixMicro()))
	buf = append(buf, cur.ID[:]...)
	buf = append(buf, cur.Name...)
	return b64.EncodeToString(buf) + "." + b64.EncodeToString(c.mac(buf))
}

func (c cursorCodec) decode(s string) (roster.Cursor, error) {
	body, sig, ok := strings.Cut(s, ".")
	buf, err1 := b64.DecodeString(body)
	mac, err2 := b64.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, c.mac(buf)) {
		return roster.Cursor{}, errBadCursor
	}
	if len(buf) < 26 || buf[0] != cursorVersion || int(buf[1]) >= len(roster.Sorts) {
		return roster.Cursor{}, errBadCursor
	}
	return roster.Cursor{
		Sort:      roster.Sorts[buf[1]],
		CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(buf[2:10]))).UTC(), // #nosec G115 -- undoes encode's uint64(UnixMicro()), bit for bit
		ID:        uuid.UUID(buf[10:26]),
		Name:      string(buf[26:]),
	}, nil
}

var errBadCursor = roster.Errorf(roster.CodeBadRequest, "Invalid cursor")

func (c cursorCodec) mac(b []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)[:16] // 128 bits: forging is out of reach, cursors stay short
}
