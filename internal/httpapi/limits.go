package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// Codes of the protective layers.
const (
	codeRateLimited roster.Code = "RATE_LIMITED"
	codeOverloaded  roster.Code = "OVERLOADED"
	codeTimeout     roster.Code = "TIMEOUT"
)

// rateLimit spends one token of the caller's bucket: the token's subject
// when identify found one, else the client IP. Every answer carries the
// RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers).
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if !s.limiter.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		if a, ok := roster.ActorFrom(r.Context()); ok {
			key = "sub:" + a.Subject
		} else {
			key = "ip:" + s.clientIP(r).String()
		}
		d := s.limiter.Allow(key)
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", seconds(d.Reset))
		if !d.Allowed {
			s.metrics.Count(RateLimited)
			h.Set("Retry-After", seconds(d.RetryAfter))
			s.error(w, r, roster.Errorf(codeRateLimited, "Too many requests; retry after the time in Retry-After"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// seconds renders d as whole seconds, rounded up, at least 1 when d > 0.
func seconds(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// backpressure admits at most MaxInflight requests into the handlers (the
// article's semaphore). A request that finds no slot waits InflightWait at
// most and is then turned away at once with 503, so that overload sheds
// load instead of growing an unbounded queue of goroutines and latency.
func (s *Server) backpressure(next http.Handler) http.Handler {
	if s.inflight == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.inflight <- struct{}{}:
		default:
			t := time.NewTimer(s.inflightWait)
			select {
			case s.inflight <- struct{}{}:
				t.Stop()
			case <-t.C:
				s.metrics.Count(Overloaded)
				w.Header().Set("Retry-After", "1")
				s.error(w, r, roster.Errorf(codeOverloaded, "The server is overloaded; retry shortly"))
				return
			case <-r.Context().Done():
				t.Stop()
				s.error(w, r, r.Context().Err())
				return
			}
		}
		defer func() { <-s.inflight }()
		next.ServeHTTP(w, r)
	})
}

// authorize answers with may's error (403, say) before next runs.
func (s *Server) authorize(may func(context.Context) error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := may(r.Context()); err != nil {
			closeUnread(w, r)
			s.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// closeUnread marks the answer to a request whose body is left unread as
// the connection's last. Otherwise net/http reads up to 256 KiB of the
// body before it writes the answer, to keep the connection, and a body
// that trickles or never ends holds the answer back until the read
// timeout.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// bulkCap admits at most MaxBulk imports and exports at once. One more
// is turned away at once rather than queued: a bulk call holds its slot
// for as long as its data takes, so a short wait would rarely help.
func (s *Server) bulkCap(next http.Handler) http.Handler {
	if s.bulkSlots == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.bulkSlots <- struct{}{}:
		default:
			s.metrics.Count(Overloaded)
			closeUnread(w, r)
			w.Header().Set("Retry-After", bulkRetryAfter)
			s.error(w, r, roster.Errorf(codeOverloaded, "Too many imports and exports at once; retry after the time in Retry-After"))
			return
		}
		defer func() { <-s.bulkSlots }()
		next.ServeHTTP(w, r)
	})
}

// bulkRetryAfter is the Retry-After of a bulk call turned away, in
// seconds: longer than an API call's, since the slots free slowly.
const bulkRetryAfter = "5"

// errRequestTimeout is the cause of a request context that ran out of
// time, telling it apart from deadlines of inner layers (pool acquire).
var errRequestTimeout = errors.New("request timeout")

// deadline bounds the request's context; database calls carry it, so
// the work stops when the time is up and error answers 503 TIMEOUT.
func (s *Server) deadline(next http.Handler) http.Handler {
	if s.requestTimeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeoutCause(r.Context(), s.requestTimeout, errRequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
