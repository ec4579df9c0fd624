package httpapi

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the HTTP layer's Prometheus series. A nil *Metrics records
// nothing, so the server works without a registry.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inflight    prometheus.Gauge
	rateLimited prometheus.Counter
	overloaded  prometheus.Counter
	timeouts    prometheus.Counter
	panics      prometheus.Counter

	subscribers   prometheus.Gauge
	eventsSent    prometheus.Counter
	slowConsumers prometheus.Counter
}

// NewMetrics creates the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	// Labels are the route pattern ("GET /api/users/{id}"), never the raw
	// path, and the status class, so cardinality is bounded by the routes.
	labels := []string{"route", "method", "code"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_http_requests_total",
			Help: "HTTP requests by route pattern, method and status class (2xx, 4xx, ...).",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_http_inflight_requests",
			Help: "HTTP requests being served right now.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_http_rate_limited_total",
			Help: "Requests answered 429 because the client exceeded its rate limit.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_http_overloaded_total",
			Help: "Requests answered 503 OVERLOADED because every in-flight slot was taken.",
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_http_timeouts_total",
			Help: "Requests answered 503 TIMEOUT because they exceeded the request timeout.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roster_http_panics_total",
			Help: "Handler panics recovered into a 500.",
		}),
	}
	m.subscribers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "roster_feed_subscribers",
		Help: "Open change-feed (SSE) streams.",
	})
	m.eventsSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "roster_feed_events_sent_total",
		Help: "Events written to change-feed streams.",
	})
	m.slowConsumers = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "roster_feed_slow_consumer_disconnects_total",
		Help: "Streams dropped because the subscriber fell behind (it can resume with Last-Event-ID).",
	})
	reg.MustRegister(m.requests, m.duration, m.inflight, m.rateLimited, m.overloaded, m.timeouts, m.panics,
		m.subscribers, m.eventsSent, m.slowConsumers)
	return m
}

func (m *Metrics) begin() {
	if m != nil {
		m.inflight.Inc()
	}
}

// observe ends what begin started.
func (m *Metrics) observe(pattern, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.inflight.Dec()
	if pattern == "" {
		pattern = "unmatched"
	}
	class := strconv.Itoa(status/100) + "xx"
	method = boundedMethod(method)
	m.requests.WithLabelValues(pattern, method, class).Inc()
	m.duration.WithLabelValues(pattern, method, class).Observe(d.Seconds())
}

// boundedMethod keeps arbitrary client-chosen methods out of the labels.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// count increments the counter that pick selects, when there are metrics.
func (m *Metrics) count(pick func(*Metrics) prometheus.Counter) {
	if m != nil {
		pick(m).Inc()
	}
}

func rateLimitedCounter(m *Metrics) prometheus.Counter { return m.rateLimited }
func overloadedCounter(m *Metrics) prometheus.Counter  { return m.overloaded }
func timeoutsCounter(m *Metrics) prometheus.Counter    { return m.timeouts }
func panicsCounter(m *Metrics) prometheus.Counter      { return m.panics }
func eventsSentCounter(m *Metrics) prometheus.Counter  { return m.eventsSent }
func slowConsumersCounter(m *Metrics) prometheus.Counter {
	return m.slowConsumers
}

func (m *Metrics) subscribed(delta float64) {
	if m != nil {
		m.subscribers.Add(delta)
	}
}

// AdminHandler serves the admin listener: Prometheus metrics from g, the
// runtime profiles and the GC figures (/debug/gc). It must never be
// mounted on the public listener.
// /debug/pprof/cmdline is left out: the command line may carry
// --jwt-secret (the index still links it; pprof.Index answers 404).
func AdminHandler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/gc", gcStats)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("roster admin: /metrics, /debug/pprof/, /debug/gc\n"))
	})
	return mux
}
