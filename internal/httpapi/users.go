package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	page, err := parsePage(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	list, err := s.users.ListUsers(r.Context(), page)
	if err != nil {
		s.error(w, r, err)
		return
	}
	page.PerPage = min(page.PerPage, roster.MaxPerPage)
	if link := pageLinks(r.URL.Path, page, list.HasNext); link != "" {
		w.Header().Set("Link", link)
	}
	users := list.Users
	if users == nil {
		users = []roster.User{} // an empty page is [], not null
	}
	encode(w, http.StatusOK, users)
}

// parsePage reads page and per_page, reporting every problem at once.
func parsePage(q url.Values) (roster.Page, error) {
	p := roster.Page{Number: 1, PerPage: roster.DefaultPerPage}
	var details []roster.FieldError
	for name := range q {
		if name != "page" && name != "per_page" {
			details = append(details, roster.FieldError{Field: name, Message: "unknown query parameter"})
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page", &p.Number}, {"per_page", &p.PerPage}} {
		if !q.Has(f.name) {
			continue
		}
		n, err := strconv.Atoi(q.Get(f.name))
		switch {
		case err != nil:
			details = append(details, roster.FieldError{Field: f.name, Message: "must be an integer"})
		case n < 1:
			details = append(details, roster.FieldError{Field: f.name, Message: "must be at least 1"})
		default:
			*f.dst = n
		}
	}
	if len(details) > 0 {
		return p, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid query parameters", Details: details}
	}
	return p, nil
}

// pageLinks builds an RFC 8288 Link header with first, prev and next.
func pageLinks(path string, p roster.Page, hasNext bool) string {
	link := func(n int, rel string) string {
		return fmt.Sprintf(`<%s?page=%d&per_page=%d>; rel="%s"`, path, n, p.PerPage, rel)
	}
	links := []string{link(1, "first")}
	if p.Number > 1 {
		links = append(links, link(p.Number-1, "prev"))
	}
	if hasNext {
		links = append(links, link(p.Number+1, "next"))
	}
	return strings.Join(links, ", ")
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var in roster.NewUser
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.users.CreateUser(r.Context(), in)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/users/"+u.ID.String())
	encode(w, http.StatusCreated, u)
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
	encode(w, http.StatusOK, u)
}

// handleUpdateUser serves PUT and PATCH alike: both take any subset of the
// writable fields, as the article's API does.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var upd roster.UserUpdate
	if err := decode(w, r, &upd); err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.users.UpdateUser(r.Context(), id, upd)
	if err != nil {
		s.error(w, r, err)
		return
	}
	encode(w, http.StatusOK, u)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.users.DeleteUser(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// userID parses the {id} path segment; only the canonical 36-character
// form is accepted, so every user has exactly one URL.
func userID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, &roster.Error{Code: roster.CodeBadRequest, Message: "Invalid user id",
			Details: []roster.FieldError{{Field: "id", Message: "must be a UUID"}}}
	}
	return id, nil
}
