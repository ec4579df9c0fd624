package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// readyTimeout bounds the database check of the readiness probe.
const readyTimeout = time.Second

type healthBody struct {
	Status string `json:"status"`
}

// handleHealth is the liveness probe: the process serves HTTP. It touches
// no dependency, so a database outage never restarts healthy instances.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	encode(w, http.StatusOK, healthBody{Status: "ok"})
}

// handleReady is the readiness probe: this instance should get traffic.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.notReady(w, r, "server", "shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.users.Ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "request_id", requestIDFrom(r.Context()), "check", "database", "err", err)
		s.notReady(w, r, "database", "did not answer within 1s")
		return
	}
	encode(w, http.StatusOK, healthBody{Status: "ok"})
}

func (s *Server) notReady(w http.ResponseWriter, r *http.Request, check, msg string) {
	w.Header().Set("Retry-After", "1")
	s.error(w, r, &roster.Error{Code: roster.CodeUnavailable, Message: "Not ready",
		Details: []roster.FieldError{{Field: check, Message: msg}}})
}
