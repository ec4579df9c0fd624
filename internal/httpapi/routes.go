package httpapi

// routes registers every endpoint. This is the one place to read the API's
// surface; api/openapi.yaml documents the same set.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /health/ready", s.handleReady)

	s.mux.Handle("GET /api/users", s.api(s.handleListUsers))
	s.mux.Handle("POST /api/users", s.api(s.handleCreateUser))
	s.mux.Handle("GET /api/users/{id}", s.api(s.handleGetUser))
	s.mux.Handle("PUT /api/users/{id}", s.api(s.handleUpdateUser))
	s.mux.Handle("PATCH /api/users/{id}", s.api(s.handleUpdateUser))
	s.mux.Handle("DELETE /api/users/{id}", s.api(s.handleDeleteUser))
}
