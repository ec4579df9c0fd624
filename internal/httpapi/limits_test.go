//go:build !fuzzing

package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rosterhq/roster/internal/admin"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/prommetrics"
	"github.com/rosterhq/roster/internal/roster"
)

// sqliteStore is a fresh store for tests of layers that do not depend on
// the engine.
func sqliteStore(t *testing.T) roster.UserStore { return engines[0].open(t) }

// panickingStore fails the way a bug would.
type panickingStore struct{ failingStore }

func (panickingStore) ListUsers(context.Context, roster.ListQuery) ([]roster.User, error) {
	panic("index out of range [3] with length 3")
}

func TestPanicRecovery(t *testing.T) {
	h := newHarness(t, panickingStore{})
	req := request{method: "GET", path: "/api/users", token: h.admin, header: http.Header{"X-Request-Id": {"boom-1"}}}
	env := checkError(t, h.do(req), http.StatusInternalServerError, "INTERNAL_ERROR")
	if env.Error.Message != "An unexpected error occurred" {
		t.Errorf("got message %q", env.Error.Message)
	}
	logs := h.logs.String()
	for _, want := range []string{`"msg":"panic"`, `"request_id":"boom-1"`, "index out of range", "goroutine"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The server keeps serving.
	if rec := h.do(request{method: "GET", path: "/health"}); rec.Code != http.StatusOK {
		t.Errorf("after a panic: got %d from /health", rec.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, sqliteStore(t))
	for _, req := range []request{
		{method: "GET", path: "/api/users", token: h.admin},
		{method: "GET", path: "/api/users"}, // 401
		{method: "GET", path: "/nope"},
	} {
		rec := h.do(req)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
			"Content-Type":           "application/json; charset=utf-8",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", req.method, req.path, rec.Code, k, got, want)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	preflight := func(origin string) request {
		return request{method: "OPTIONS", path: "/api/users/" + uuid.NewString(), header: http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"PATCH"},
			"Access-Control-Request-Headers": {"authorization, content-type, if-match"},
		}}
	}
	t.Run("off by default", func(t *testing.T) {
		h := newHarness(t, sqliteStore(t))
		rec := h.do(preflight(app))
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS answered without being configured")
		}
	})
	t.Run("allowlist", func(t *testing.T) {
		h := newHarness(t, sqliteStore(t), func(c *httpapi.Config) { c.CORSOrigins = []string{app} })
		rec := h.do(preflight(app))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("preflight: got %d, want 204", rec.Code)
		}
		hd := rec.Header()
		if hd.Get("Access-Control-Allow-Origin") != app || !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(strings.ToLower(hd.Get("Access-Control-Allow-Headers")), "authorization") ||
			hd.Get("Access-Control-Max-Age") != "600" || !strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") ||
			hd.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight headers: %v", hd)
		}
		// A simple request gets the origin and the exposed headers.
		get := request{method: "GET", path: "/api/users", token: h.admin, header: http.Header{"Origin": {app}}}
		rec = h.do(get)
		if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "Link") {
			t.Errorf("simple request: %d %v", rec.Code, rec.Header())
		}
		// Other origins get nothing that lets a browser read the answer.
		for _, req := range []request{preflight("https://evil.example"), {method: "GET", path: "/api/users", token: h.admin, header: http.Header{"Origin": {"https://evil.example"}}}} {
			if got := h.do(req).Header().Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("%s from a foreign origin: Allow-Origin %q", req.method, got)
			}
		}
	})
	t.Run("any origin never with credentials", func(t *testing.T) {
		h := newHarness(t, sqliteStore(t), func(c *httpapi.Config) { c.CORSOrigins = []string{"*"} })
		rec := h.do(preflight("https://anywhere.example"))
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("got %v", rec.Header())
		}
	})
}

// A 100-user list asked for in zstd comes back in zstd and decodes to the
// same JSON as the uncompressed answer.
func TestCompressedList(t *testing.T) {
	h := newHarness(t, sqliteStore(t))
	for i := range 100 {
		h.createUser("User", "user"+strings.Repeat("x", i%7)+uuid.NewString()[:8]+"@example.com")
	}
	plain := h.do(request{method: "GET", path: "/api/users?per_page=100", token: h.admin})
	if plain.Header().Get("Content-Encoding") != "" || plain.Code != 200 {
		t.Fatalf("uncompressed request: %d, encoding %q", plain.Code, plain.Header().Get("Content-Encoding"))
	}
	rec := h.do(request{method: "GET", path: "/api/users?per_page=100", token: h.admin, header: http.Header{"Accept-Encoding": {"gzip;q=0.5, zstd"}}})
	if vary := rec.Header().Values("Vary"); rec.Header().Get("Content-Encoding") != "zstd" || !slices.Contains(vary, "Accept-Encoding") {
		t.Fatalf("got Content-Encoding %q, Vary %q", rec.Header().Get("Content-Encoding"), vary)
	}
	dec, err := zstd.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	body, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != plain.Body.String() {
		t.Errorf("decoded zstd body differs from the plain one")
	}
	t.Logf("100 users: %d bytes plain, %d in zstd", plain.Body.Len(), rec.Body.Len())
}

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newHarness(t, sqliteStore(t), func(c *httpapi.Config) {
		c.RateLimit, c.RateBurst, c.Now = 1, 3, clock.Now
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	alice, bob := h.token("alice"), h.token("bob")
	list := func(tok string) request { return request{method: "GET", path: "/api/users", token: tok} }

	for i, wantRemaining := range []string{"2", "1", "0"} {
		rec := h.do(list(alice))
		if rec.Code != 200 || rec.Header().Get("RateLimit-Limit") != "3" || rec.Header().Get("RateLimit-Remaining") != wantRemaining {
			t.Fatalf("request %d: %d, RateLimit-Limit %q, Remaining %q", i+1, rec.Code, rec.Header().Get("RateLimit-Limit"), rec.Header().Get("RateLimit-Remaining"))
		}
	}
	rec := h.do(list(alice))
	checkError(t, rec, http.StatusTooManyRequests, "RATE_LIMITED")
	if rec.Header().Get("Retry-After") != "1" || rec.Header().Get("RateLimit-Remaining") != "0" || rec.Header().Get("RateLimit-Reset") == "" {
		t.Errorf("429 headers: %v", rec.Header())
	}
	if rec := h.do(list(bob)); rec.Code != 200 {
		t.Errorf("another token was limited too: %d", rec.Code)
	}
	if rec := h.do(request{method: "GET", path: "/health"}); rec.Code != 200 || rec.Header().Get("RateLimit-Limit") != "" {
		t.Errorf("health is limited: %d %v", rec.Code, rec.Header())
	}
	clock.Add(time.Second)
	if rec := h.do(list(alice)); rec.Code != 200 {
		t.Errorf("after a refill second: got %d", rec.Code)
	}

	// Without a token the key is the client IP, as a trusted proxy says.
	viaProxy := func(client string) request {
		return request{method: "GET", path: "/api/users", remote: "10.0.0.5:4000", header: http.Header{"X-Forwarded-For": {client + ", 10.0.0.9"}}}
	}
	for range 3 {
		checkError(t, h.do(viaProxy("198.51.100.7")), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	checkError(t, h.do(viaProxy("198.51.100.7")), http.StatusTooManyRequests, "RATE_LIMITED")
	checkError(t, h.do(viaProxy("198.51.100.8")), http.StatusUnauthorized, "UNAUTHORIZED")
	forwarded := request{method: "GET", path: "/api/users", remote: "10.0.0.5:4000", header: http.Header{"Forwarded": {`for=198.51.100.7;proto=https, for="10.0.0.9"`}}}
	checkError(t, h.do(forwarded), http.StatusTooManyRequests, "RATE_LIMITED")
	// An untrusted peer cannot pick its key by forging the header.
	spoofed := request{method: "GET", path: "/api/users", remote: "203.0.113.1:5000", header: http.Header{"X-Forwarded-For": {"198.51.100.8"}}}
	checkError(t, h.do(spoofed), http.StatusUnauthorized, "UNAUTHORIZED")
}

// blockingStore holds ListUsers until released or until the request's
// context ends, and reports how the context ended.
type blockingStore struct {
	roster.UserStore
	entered chan struct{}
	release chan struct{}
	ended   chan error
}

func newBlockingStore(t *testing.T) *blockingStore {
	return &blockingStore{UserStore: sqliteStore(t), entered: make(chan struct{}, 10), release: make(chan struct{}), ended: make(chan error, 10)}
}

func (b *blockingStore) ListUsers(ctx context.Context, q roster.ListQuery) ([]roster.User, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return b.UserStore.ListUsers(ctx, q)
	case <-ctx.Done():
		b.ended <- ctx.Err()
		return nil, ctx.Err()
	}
}

func TestBackpressure(t *testing.T) {
	store := newBlockingStore(t)
	h := newHarness(t, store, func(c *httpapi.Config) { c.MaxInflight, c.InflightWait = 1, 10*time.Millisecond })
	first := make(chan int)
	go func() { first <- h.do(request{method: "GET", path: "/api/users", token: h.admin}).Code }()
	<-store.entered // the only slot is taken

	rec := h.do(request{method: "GET", path: "/api/users", token: h.admin})
	checkError(t, rec, http.StatusServiceUnavailable, "OVERLOADED")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 OVERLOADED without Retry-After")
	}
	for _, path := range []string{"/health", "/health/ready"} {
		if rec := h.do(request{method: "GET", path: path}); rec.Code != 200 {
			t.Errorf("%s while saturated: got %d, want 200 (exempt)", path, rec.Code)
		}
	}
	close(store.release)
	if code := <-first; code != 200 {
		t.Errorf("the admitted request: got %d", code)
	}
	if rec := h.do(request{method: "GET", path: "/api/users", token: h.admin}); rec.Code != 200 {
		t.Errorf("after the slot freed: got %d", rec.Code)
	}
}

func TestRequestTimeout(t *testing.T) {
	store := newBlockingStore(t)
	h := newHarness(t, store, func(c *httpapi.Config) { c.RequestTimeout = 20 * time.Millisecond })
	rec := h.do(request{method: "GET", path: "/api/users", token: h.admin})
	checkError(t, rec, http.StatusServiceUnavailable, "TIMEOUT")
	if err := <-store.ended; err != context.DeadlineExceeded {
		t.Errorf("the store call ended with %v, want its context's deadline", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := &fakeClock{now: time.Now()}
	h := newHarness(t, sqliteStore(t), func(c *httpapi.Config) {
		c.Metrics = prommetrics.New(reg)
		c.RateLimit, c.RateBurst, c.Now = 1, 100, clock.Now
	})
	u := h.createUser("Ada", "ada@example.com")
	h.do(request{method: "GET", path: "/api/users/" + u.ID.String(), token: h.admin})
	for range 50 { // many distinct paths, one route
		h.do(request{method: "GET", path: "/api/users/" + uuid.NewString(), token: h.admin})
	}
	for range 20 {
		h.do(request{method: "GET", path: "/random/" + uuid.NewString()})
		h.do(request{method: "BREW", path: "/api/users"})
	}
	greedy := h.token("greedy")
	for range 101 { // one past the burst
		h.do(request{method: "GET", path: "/api/users", token: greedy})
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	for _, name := range []string{"roster_http_requests_total", "roster_http_request_duration_seconds",
		"roster_http_inflight_requests", "roster_http_rate_limited_total", "roster_http_overloaded_total"} {
		if byName[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	routes := map[string]float64{}
	for _, m := range byName["roster_http_requests_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		routes[l["route"]+" "+l["method"]+" "+l["code"]] += m.GetCounter().GetValue()
	}
	want := map[string]float64{
		"POST /api/users POST 2xx":    1,
		"GET /api/users/{id} GET 2xx": 1,
		"GET /api/users/{id} GET 4xx": 50,
		"unmatched GET 4xx":           20,
		"unmatched OTHER 4xx":         20,
		"GET /api/users GET 2xx":      100,
		"GET /api/users GET 4xx":      1,
	}
	for k, v := range want {
		if routes[k] != v {
			t.Errorf("requests_total{%s} = %v, want %v", k, routes[k], v)
		}
	}
	if len(routes) != len(want) {
		t.Errorf("label sets: got %v, want only %v", routes, want)
	}
	if got := byName["roster_http_rate_limited_total"].GetMetric()[0].GetCounter().GetValue(); got != 1 {
		t.Errorf("rate_limited_total = %v, want 1", got)
	}
	if got := byName["roster_http_inflight_requests"].GetMetric()[0].GetGauge().GetValue(); got != 0 {
		t.Errorf("inflight after all requests = %v, want 0", got)
	}
}

// The admin endpoints exist only on the admin handler.
func TestAdminEndpointsArePrivate(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, sqliteStore(t), func(c *httpapi.Config) { c.Metrics = prommetrics.New(reg) })
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap", "/debug/gc"} {
		checkError(t, h.do(request{method: "GET", path: path}), http.StatusNotFound, "NOT_FOUND")
	}
	h.do(request{method: "GET", path: "/health"})
	ac := newAdminClient(t, admin.Handler(reg))
	if body := ac.get("/metrics"); !strings.Contains(body, `roster_http_requests_total{code="2xx",method="GET",route="GET /health"} 1`) {
		t.Errorf("/metrics lacks the health request:\n%s", body)
	}
	if body := ac.get("/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ index: %s", body)
	}
	// The command line may hold --jwt-secret: it is not served.
	rec := httptest.NewRecorder()
	admin.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/cmdline", nil))
	if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), os.Args[0]) {
		t.Errorf("/debug/pprof/cmdline: got %d %q, want 404 without the command line", rec.Code, rec.Body)
	}
}

type adminClient struct {
	t *testing.T
	h http.Handler
}

func newAdminClient(t *testing.T, h http.Handler) *adminClient { return &adminClient{t, h} }

func (a *adminClient) get(path string) string {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		a.t.Fatalf("admin GET %s: %d", path, rec.Code)
	}
	return rec.Body.String()
}
