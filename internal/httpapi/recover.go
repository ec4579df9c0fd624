package httpapi

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/rosterhq/roster/internal/roster"
)

// recoverPanic turns a handler panic into a 500 envelope and a logged
// stack, so one bad request cannot take the process down.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the server's own way to abort a response; it logs nothing
			}
			s.metrics.Count(Panicked)
			s.log.ErrorContext(r.Context(), "panic", "request_id", requestIDFrom(r.Context()),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.error(sw, r, roster.Errorf(roster.CodeInternal, "An unexpected error occurred"))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
