package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rs/cors"

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
			s.metrics.count(panicsCounter)
			s.log.ErrorContext(r.Context(), "panic", "request_id", requestIDFrom(r.Context()),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.error(sw, r, roster.Errorf(roster.CodeInternal, "An unexpected error occurred"))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// securityHeaders marks every response as JSON-or-nothing for browsers
// and keeps authenticated data out of shared caches.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// corsPolicy answers preflights and decorates cross-origin responses for the
// allowed origins; with none it is a no-op. Credentials (cookies) are
// never allowed: the API authenticates with bearer tokens, and that also
// rules out the unsafe "*" + credentials combination.
func corsPolicy(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	c := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "If-Match", "If-None-Match",
			"Idempotency-Key", "Last-Event-ID", "X-Request-ID"},
		ExposedHeaders: []string{"Link", "Location", "ETag", "Retry-After", "X-Request-ID", "X-Total-Count",
			"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		MaxAge:               600,
		AllowCredentials:     false,
		OptionsSuccessStatus: http.StatusNoContent,
	})
	return c.Handler
}

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
			s.metrics.count(rateLimitedCounter)
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
				s.metrics.count(overloadedCounter)
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
			s.metrics.count(overloadedCounter)
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

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// first address not of a trusted proxy counting from the right of
// Forwarded or X-Forwarded-For: entries left of that are client-supplied
// and could be forged.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !s.isTrusted(peer) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a := addrOf(hops[i])
		if !a.IsValid() {
			break // garbage: don't trust anything further left
		}
		if !s.isTrusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hop addresses, nearest last, from the standard
// Forwarded header (RFC 7239) when present, else X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var hops []string
	if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		for _, line := range fwd {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						hops = append(hops, strings.Trim(v, `"`))
					}
				}
			}
		}
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, a := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	return hops
}

// addrOf parses "ip", "ip:port", "[v6]:port" or "[v6]"; invalid gives the
// zero Addr.
func addrOf(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, _ := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap()
}
