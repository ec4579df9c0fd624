package httpapi

import (
	"maps"
	"net/http"
	"slices"
	"strings"
)

// routes registers every endpoint. This is the one place to read the API's
// surface; api/openapi.yaml documents the same set, and a test holds the
// two equal.
func (s *Server) routes() {
	s.handle("GET /{$}", s.handleHome())
	s.handle("GET /health", http.HandlerFunc(s.handleHealth))
	s.handle("GET /health/ready", http.HandlerFunc(s.handleReady))

	s.handle("GET /api/users", s.api(s.handleListUsers))
	s.handle("POST /api/users", s.api(s.handleCreateUser))
	s.handle("POST /api/users/import", s.bulk(s.users.AuthorizeImport, s.handleImport))
	s.handle("GET /api/users/export", s.bulk(s.users.AuthorizeExport, s.handleExport))
	s.handle("GET /api/users/{id}", s.api(s.handleGetUser))
	s.handle("PUT /api/users/{id}", s.api(s.handleUpdateUser))
	s.handle("PATCH /api/users/{id}", s.api(s.handleUpdateUser))
	s.handle("DELETE /api/users/{id}", s.api(s.handleDeleteUser))
	s.handle("GET /api/events", s.stream(s.handleEvents))

	// The documentation (internal/apidocs), when this build serves it.
	for _, pattern := range slices.Sorted(maps.Keys(s.docs)) {
		serve := s.docs[pattern]
		s.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := serve(w, r); err != nil {
				s.error(w, r, err)
			}
		}))
	}
}

// handle registers h for pattern and remembers the pattern for Routes.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	// "/{$}" is the exact path "/", as every path in the document is.
	s.patterns = append(s.patterns, strings.TrimSuffix(pattern, "{$}"))
}

// Routes lists the registered patterns ("METHOD /path"), in order.
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }
