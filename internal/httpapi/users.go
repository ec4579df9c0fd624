package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	lr, err := s.parseList(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.users.ListUsers(r.Context(), lr.query)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if lr.count {
		n, err := s.users.CountUsers(r.Context(), lr.query.Filter)
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("X-Total-Count", strconv.FormatInt(n, 10))
	}
	if link := s.listLinks(r, lr, list.Next); link != "" {
		w.Header().Set("Link", link)
	}
	varyByCaller(w)
	encodeUsers(w, http.StatusOK, list.Users) // an empty page is [], not null
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	if err := s.users.AuthorizeCreate(r.Context()); err != nil {
		s.error(w, r, err) // before the body is read: a caller without the right costs nothing
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var in roster.NewUser
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	u, replayed, err := s.users.CreateUser(r.Context(), in, key)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/users/"+u.ID.String())
	w.Header().Set("ETag", etag(u))
	encodeUser(w, http.StatusCreated, u)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.users.User(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	tag := etag(u)
	w.Header().Set("ETag", tag)
	varyByCaller(w)
	if noneMatch(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	encodeUser(w, http.StatusOK, u)
}

// handleUpdateUser serves PUT and PATCH alike: both take any subset of the
// writable fields, as the article's API does.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.users.AuthorizeUpdate(r.Context(), id); err != nil {
		s.error(w, r, err) // before the body is read, as for a create
		return
	}
	ifMatch, err := s.ifMatch(r, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var upd roster.UserUpdate
	if err := decode(w, r, &upd); err != nil {
		s.error(w, r, err)
		return
	}
	upd.IfUpdatedAt = ifMatch
	u, err := s.users.UpdateUser(r.Context(), id, upd)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(u))
	encodeUser(w, http.StatusOK, u)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	ifMatch, err := s.ifMatch(r, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.users.DeleteUser(r.Context(), id, ifMatch); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// varyByCaller marks a response whose body depends on who asks (whose
// emails it shows), for caches that would otherwise share it.
func varyByCaller(w http.ResponseWriter) { w.Header().Add("Vary", "Authorization") }

// userID parses the {id} path segment: the 36-character hyphenated form,
// in either case (RFC 9562 §4: hex digits are case-insensitive on input).
// Other forms uuid.Parse takes (braces, urn:uuid:, 32 bare digits) are
// refused. Answers always carry the lower-case form.
func userID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || !strings.EqualFold(raw, id.String()) {
		return uuid.Nil, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid user id",
			Details: []roster.FieldError{{Field: "id", Message: "must be a UUID"}}}
	}
	return id, nil
}

// idempotencyKey reads the optional Idempotency-Key header
// (draft-ietf-httpapi-idempotency-key-header): 1–255 printable ASCII.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	ok := len(vs) == 1 && len(k) >= 1 && len(k) <= 255
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] >= 0x20 && k[i] <= 0x7e
	}
	if !ok {
		return "", &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid Idempotency-Key header",
			Details: []roster.FieldError{{Field: "Idempotency-Key", Message: "must be one value of 1 to 255 printable ASCII characters"}}}
	}
	return k, nil
}
