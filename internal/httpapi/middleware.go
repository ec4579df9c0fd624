package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/roster"
)

// requestInfo is filled in by the layers a request passes through and read
// by the access log once the response is done. It lives in the context as
// a pointer because inner layers see copies of the request.
type requestInfo struct {
	id      string
	pattern string
	subject string
	status  int       // of the response, once the access log has it
	expires time.Time // when the request's token stops being accepted; zero without one
}

type infoKey struct{}

// info returns the request's info; requests that did not pass requestID
// (handlers called directly in tests) get a throwaway one.
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

func requestIDFrom(ctx context.Context) string { return info(ctx).id }

// requestID accepts a sane X-Request-ID from the client or makes one, and
// echoes it on the response.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The canonical spelling: "X-Request-ID" would be canonicalized
		// into a new string on every call (an allocation each).
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), infoKey{}, &requestInfo{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID keeps client ids short and printable so they cannot forge
// log lines or bloat them.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// accessLog writes one structured line per request and counts it in the
// metrics.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.Begin()
		next.ServeHTTP(sw, r)
		ri := info(r.Context())
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		ri.status = status
		elapsed := time.Since(start)
		s.metrics.Observe(r.Context(), ri.pattern, r.Method, status, elapsed)
		s.log.LogAttrs(r.Context(), logLevel(status), "request",
			slog.String("method", r.Method),
			slog.String("route", ri.pattern),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.Int("bytes", sw.bytes),
			slog.String("request_id", ri.id),
			slog.String("sub", ri.subject),
		)
	})
}

// statusWriter records what was written for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// identify verifies the bearer token, if any, and puts the actor in the
// context. It never rejects: requireAuth does, after the rate limiter has
// had a chance to count the attempt against the caller's IP.
func (s *Server) identify(next http.Handler) http.Handler {
	return s.identifyFrom(next, false)
}

// identifyFrom is identify; with fromQuery, a token may also come as
// ?access_token= (RFC 6750 §2.3) — only for the event stream, because
// browsers' EventSource cannot send headers. The access log records the
// path without the query, so the token does not end up in logs.
func (s *Server) identifyFrom(next http.Handler, fromQuery bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok && fromQuery {
			token = r.URL.Query().Get("access_token")
			ok = token != ""
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		claims, err := s.auth.Verify(token)
		if err != nil {
			s.log.InfoContext(r.Context(), "token rejected", "request_id", requestIDFrom(r.Context()), "reason", err)
			reason := auth.ReasonMalformed
			var te *auth.TokenError
			if errors.As(err, &te) {
				reason = te.Reason
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rejectedKey{}, reason)))
			return
		}
		ri := info(r.Context())
		ri.subject, ri.expires = claims.Subject, claims.Expires
		ctx := roster.WithActor(r.Context(), roster.Actor{Subject: claims.Subject, Roles: claims.Roles})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// tokenExpires is when the request's token stops being accepted
// (auth.Claims.Expires), zero when it has none; an event stream, which
// outlives the check at its start, ends then.
func tokenExpires(ctx context.Context) time.Time { return info(ctx).expires }

// rejectedKey holds the auth.Reason identify refused a token for.
type rejectedKey struct{}

// requireAuth answers 401 unless identify found a valid token. The
// challenge says why (RFC 6750 §3): nothing more than the scheme when no
// token came, error="invalid_token" and the reason when one was refused.
func (s *Server) requireAuth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := roster.ActorFrom(r.Context()); !ok {
			challenge := bearerChallenge
			if reason, ok := r.Context().Value(rejectedKey{}).(auth.Reason); ok {
				challenge += `, error="invalid_token", error_description="` + string(reason) + `"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			closeUnread(w, r)
			s.error(w, r, roster.Errorf(roster.CodeUnauthorized, "Invalid credentials"))
			return
		}
		next(w, r)
	})
}

// bearerToken extracts the token of an "Authorization: Bearer" header; the
// scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// logLevel makes server faults stand out from ordinary traffic.
func logLevel(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
