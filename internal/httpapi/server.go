// Package httpapi serves roster's HTTP API. It turns requests into calls on
// the roster service and results into JSON; the rules live in the service.
package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpcompress"
	"github.com/rosterhq/roster/internal/ratelimit"
	"github.com/rosterhq/roster/internal/roster"
)

// Config holds the dependencies and limits of a Server. The zero value of
// each limit turns it off; cmd/roster supplies the production defaults.
type Config struct {
	Users   *roster.Service
	Auth    *auth.Authority
	Logger  *slog.Logger
	Metrics Metrics // nil: no metrics
	// Tracer makes each request's server span; nil: no tracing, and no
	// cost (spans of the layers below start only under a recording one).
	Tracer trace.TracerProvider
	// TrustTraceparent makes a caller's W3C traceparent the parent of the
	// request's span; otherwise the span starts a new trace linked to it.
	TrustTraceparent bool

	// CORSOrigins allows cross-origin calls from these exact origins, or
	// from any with "*". Empty: CORS is off.
	CORSOrigins []string
	// RequestTimeout bounds each API request, database work included.
	RequestTimeout time.Duration
	// MaxInflight caps API requests in handlers; beyond it a request
	// waits at most InflightWait for a slot, then gets 503 OVERLOADED.
	MaxInflight  int
	InflightWait time.Duration
	// RateLimit is requests per second per client (token sub, else IP),
	// RateBurst the bucket size.
	RateLimit float64
	RateBurst int
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers name the client.
	TrustedProxies []netip.Prefix
	// MinCompressSize is the smallest body worth compressing (default 1 KiB).
	MinCompressSize int
	// Now is the clock of the rate limiter and of the token expiry that
	// ends event streams (tests use a fake one).
	Now func() time.Time
	// Feed is the change feed behind GET /api/events; nil disables it.
	Feed *feed.Broker
	// KeepAlive is the interval of comment lines on idle event streams
	// (default 15 s), so proxies and clients see the connection is alive.
	KeepAlive time.Duration
	// ImportMaxBytes limits an import's body, before and after decoding
	// (default DefaultImportMaxBytes); other API bodies have 1 MiB.
	ImportMaxBytes int64
	// MaxBulk caps the imports and exports served at once (their own cap:
	// they are long and outside MaxInflight); beyond it 503 OVERLOADED.
	MaxBulk int
	// ImportIdleTimeout ends an import whose body makes no progress for
	// this long (0: never), with 408 and the usual rollback rules.
	ImportIdleTimeout time.Duration
	// Version is shown on the landing page, GET /.
	Version string
	// DevMode says on the landing page how to use the tokens that
	// development mode prints.
	DevMode bool
	// CursorKey signs list cursors. Instances behind one load balancer
	// need the same key; empty means a random key for this process.
	CursorKey []byte
	// ConsistencyCookie also carries read-your-writes tokens in a cookie
	// (consistency.go), for browser clients that do not keep headers.
	ConsistencyCookie bool
	// Docs are the documentation's routes (apidocs.Routes) by pattern,
	// registered beside the API; an error a handler returns is answered
	// with the error envelope. Nil: no documentation (the edge build).
	Docs map[string]func(http.ResponseWriter, *http.Request) error
	// NotImplemented lists routes, as registered ("GET /api/events"),
	// that this build answers with 501 NOT_IMPLEMENTED and the reason
	// given: the edge build lacks what they need. Empty: all are served.
	NotImplemented map[string]string
}

// Server is roster's HTTP handler.
type Server struct {
	users   *roster.Service
	auth    *auth.Authority
	log     *slog.Logger
	metrics Metrics
	tracer  trace.TracerProvider
	// trustParent: see Config.TrustTraceparent.
	trustParent bool
	mux         *http.ServeMux
	patterns    []string // registered routes, for Routes
	handler     http.Handler
	draining    atomic.Bool
	// streams counts the event streams served on hijacked connections;
	// streamsMu orders their start against Drain, which sets streamsEnded.
	streams      sync.WaitGroup
	streamsMu    sync.Mutex
	streamsEnded bool

	limiter        *ratelimit.Limiter
	inflight       chan struct{} // nil: unlimited
	inflightWait   time.Duration
	requestTimeout time.Duration
	trusted        []netip.Prefix
	importMaxBytes int64
	importIdle     time.Duration
	bulkSlots      chan struct{} // nil: unlimited
	cursors        cursorCodec
	tokenCookie    bool
	feed           *feed.Broker
	keepAlive      time.Duration
	encodedEvents  eventCache
	now            func() time.Time
	version        string
	devMode        bool
	notImplemented map[string]string
	docs           map[string]func(http.ResponseWriter, *http.Request) error
	// afterFunc runs f after d (time.AfterFunc; tests use a fake) and
	// returns the function that stops it.
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

// NewServer returns a Server with every route registered.
func NewServer(cfg Config) *Server {
	s := &Server{
		users:          cfg.Users,
		auth:           cfg.Auth,
		log:            cfg.Logger,
		metrics:        cfg.Metrics,
		tracer:         cfg.Tracer,
		trustParent:    cfg.TrustTraceparent,
		mux:            http.NewServeMux(),
		limiter:        ratelimit.New(ratelimit.Config{Rate: cfg.RateLimit, Burst: cfg.RateBurst, Now: cfg.Now}),
		inflightWait:   cfg.InflightWait,
		requestTimeout: cfg.RequestTimeout,
		trusted:        cfg.TrustedProxies,
		feed:           cfg.Feed,
		keepAlive:      cfg.KeepAlive,
		tokenCookie:    cfg.ConsistencyCookie,
		importMaxBytes: cfg.ImportMaxBytes,
		importIdle:     cfg.ImportIdleTimeout,
		now:            cfg.Now,
		version:        cfg.Version,
		devMode:        cfg.DevMode,
		notImplemented: cfg.NotImplemented,
		docs:           cfg.Docs,
		afterFunc: func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if cfg.MaxBulk > 0 {
		s.bulkSlots = make(chan struct{}, cfg.MaxBulk)
	}
	if s.importMaxBytes <= 0 {
		s.importMaxBytes = DefaultImportMaxBytes
	}
	if s.keepAlive <= 0 {
		s.keepAlive = 15 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cursors.key = cfg.CursorKey
	if len(s.cursors.key) == 0 {
		s.cursors.key = make([]byte, 32)
		_, _ = rand.Read(s.cursors.key) // crypto/rand.Read never fails on supported platforms
	}
	if cfg.MaxInflight > 0 {
		s.inflight = make(chan struct{}, cfg.MaxInflight)
	}
	s.routes()
	// The whole chain, outermost first. Request id and access log come
	// first so that every response, including errors and panics of the
	// inner layers, carries an id, is logged and is counted. The span
	// comes between them, so that the access log line carries its ids.
	chain := []func(http.Handler) http.Handler{
		s.requestID,
		s.traced,
		s.accessLog,
		s.recoverPanic,
		securityHeaders,
		corsPolicy(cfg.CORSOrigins),
		httpcompress.Middleware(httpcompress.Options{MinSize: cfg.MinCompressSize}),
	}
	s.handler = http.HandlerFunc(s.route)
	for i := len(chain) - 1; i >= 0; i-- {
		s.handler = chain[i](s.handler)
	}
	return s
}

// stream wraps a long-lived streaming handler: like api, but without the
// in-flight cap and the request deadline, which are for short requests.
func (s *Server) stream(h http.HandlerFunc) http.Handler {
	return s.identifyFrom(s.rateLimit(s.requireAuth(h)), true)
}

// bulk wraps an import or export: like api, but with a cap of its own
// (MaxBulk) instead of the in-flight cap and without the request
// deadline, since it takes as long as its data does. may is the domain's
// rule for who may call it, asked before the handler reads the body or
// takes a slot, so that a caller without the right costs nothing.
func (s *Server) bulk(may func(context.Context) error, h http.HandlerFunc) http.Handler {
	return s.identify(s.rateLimit(s.requireAuth(s.authorize(may, s.bulkCap(s.consistent(h))).ServeHTTP)))
}

// api wraps an API handler in the per-request layers that public health
// checks skip: identify the caller, rate-limit it, bound concurrency and
// time, then require valid credentials. Identification comes before the
// limit so a token's subject is the key; the 401 comes after it so that
// guessing tokens is rate-limited per IP.
func (s *Server) api(h http.HandlerFunc) http.Handler {
	return s.identify(s.rateLimit(s.backpressure(s.deadline(s.requireAuth(s.consistent(h))))))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		// The client's next request opens a new connection, which the
		// balancer sends to an instance that is staying. Over HTTP/2
		// net/http turns this into a GOAWAY.
		w.Header().Set("Connection", "close")
	}
	s.handler.ServeHTTP(w, r)
}

// BeginDrain starts a graceful shutdown: readiness fails from now on, so
// that load balancers stop sending traffic here, while requests are still
// served, each answer asking the client to close its connection. Event
// streams go on until Drain.
func (s *Server) BeginDrain() {
	s.draining.Store(true)
}

// Drain is BeginDrain, then ends the event streams, which would otherwise
// never finish: each gets a final "shutdown" event telling its client to
// reconnect (elsewhere) with Last-Event-ID.
func (s *Server) Drain() {
	s.BeginDrain()
	s.streamsMu.Lock()
	s.streamsEnded = true
	s.streamsMu.Unlock()
	if s.feed != nil {
		s.feed.Close()
	}
}

// WaitStreams waits, until ctx ends, for the event streams served on
// hijacked connections, which http.Server.Shutdown does not track. After
// Drain they end with their subscriptions, each within a write timeout.
func (s *Server) WaitStreams(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // ends with the streams, within a write timeout
		s.streams.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("event streams still open: %w", ctx.Err())
	}
}

// route dispatches to the mux, answering unmatched requests with the error
// envelope instead of the mux's plain-text 404 and 405.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		info(r.Context()).pattern = pattern
		if why, ok := s.notImplemented[pattern]; ok {
			s.error(w, r, roster.Errorf(codeNotImplemented, "%s is not available in this build: %s", pattern, why))
			return
		}
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
