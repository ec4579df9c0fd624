package httpapi

import (
	"net/http"

	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/roster"
)

var errBadConsistency = roster.Errorf(roster.CodeBadRequest, "Invalid "+consistency.Header+" header")

// consistent carries read-your-writes tokens (internal/consistency): the
// one a request presents in X-Roster-Consistency goes into its context for
// the store; the commit position of the request's last write, if the
// store recorded one (only a store with read replicas does), goes back in
// the same header of the response.
func (s *Server) consistent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		after := r.Header.Get(consistency.Header)
		if after != "" && !consistency.Valid(after) {
			s.error(w, r, errBadConsistency)
			return
		}
		ctx, tok := consistency.NewContext(r.Context(), after)
		next(&consistencyWriter{ResponseWriter: w, tok: tok}, r.WithContext(ctx))
	}
}

// consistencyWriter sets the header when the response starts: the write
// has committed by then.
type consistencyWriter struct {
	http.ResponseWriter
	tok     *consistency.Tokens
	started bool
}

func (w *consistencyWriter) start() {
	if !w.started {
		w.started = true
		if pos := w.tok.Committed(); pos != "" {
			w.Header().Set(consistency.Header, pos)
		}
	}
}

func (w *consistencyWriter) WriteHeader(status int) {
	w.start()
	w.ResponseWriter.WriteHeader(status)
}

func (w *consistencyWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *consistencyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
