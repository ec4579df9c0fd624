// Package httpapi serves roster's HTTP API. It turns requests into calls on
// the roster service and results into JSON; the rules live in the service.
package httpapi

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/roster"
)

// Config holds the dependencies of a Server.
type Config struct {
	Users  *roster.Service
	Auth   *auth.Authority
	Logger *slog.Logger
}

// Server is roster's HTTP handler.
type Server struct {
	users    *roster.Service
	auth     *auth.Authority
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	draining atomic.Bool
}

// NewServer returns a Server with every route registered.
func NewServer(cfg Config) *Server {
	s := &Server{users: cfg.Users, auth: cfg.Auth, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes()
	// Request id and access log are outermost so that every response,
	// including errors from inner layers, carries an id and is logged.
	s.handler = s.requestID(s.accessLog(http.HandlerFunc(s.route)))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Drain makes readiness fail from now on, so that load balancers stop
// sending traffic while in-flight requests finish.
func (s *Server) Drain() { s.draining.Store(true) }

// route dispatches to the mux, answering unmatched requests with the error
// envelope instead of the mux's plain-text 404 and 405.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		info(r.Context()).pattern = pattern
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.error(w, r, errMethodNotAllowed)
		return
	}
	s.error(w, r, roster.Errorf(roster.CodeNotFound, "No route for %s %s", r.Method, r.URL.Path))
}

// headerRecorder captures the status and headers of the mux's fallback
// handlers and discards their plain-text body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }
