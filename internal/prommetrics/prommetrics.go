// Package prommetrics exports the HTTP layer's metrics (httpapi.Metrics)
// as Prometheus series. cmd/roster wires it; the edge build does not, so
// the Prometheus client and protobuf stay out of its WebAssembly module.
package prommetrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/httpapi"
)

// Metrics are the HTTP layer's Prometheus series.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	// events are the counters of httpapi's events, by Event.
	events      [httpapi.SlowConsumer + 1]prometheus.Counter
	subscribers prometheus.Gauge
}

var _ httpapi.Metrics = (*Metrics)(nil)

// New creates the series and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
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
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_feed_subscribers",
			Help: "Open change-feed (SSE) streams.",
		}),
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.events[httpapi.RateLimited] = counter("roster_http_rate_limited_total",
		"Requests answered 429 because the client exceeded its rate limit.")
	m.events[httpapi.Overloaded] = counter("roster_http_overloaded_total",
		"Requests answered 503 OVERLOADED because every in-flight slot was taken.")
	m.events[httpapi.TimedOut] = counter("roster_http_timeouts_total",
		"Requests answered 503 TIMEOUT because they exceeded the request timeout.")
	m.events[httpapi.Panicked] = counter("roster_http_panics_total",
		"Handler panics recovered into a 500.")
	m.events[httpapi.EventSent] = counter("roster_feed_events_sent_total",
		"Events written to change-feed streams.")
	m.events[httpapi.SlowConsumer] = counter("roster_feed_slow_consumer_disconnects_total",
		"Streams dropped because the subscriber fell behind (it can resume with Last-Event-ID).")
	reg.MustRegister(m.requests, m.duration, m.inflight, m.subscribers)
	for _, c := range m.events {
		reg.MustRegister(c)
	}
	return m
}

// Begin counts a request in flight until its Observe.
func (m *Metrics) Begin() { m.inflight.Inc() }

// Observe ends what Begin started: the request's count and its latency.
// A request traced and sampled leaves its trace id as the exemplar of
// its latency bucket (shown in the OpenMetrics format, which /metrics
// serves when asked): from a slow bucket to one of its traces.
func (m *Metrics) Observe(ctx context.Context, route, method string, status int, d time.Duration) {
	m.inflight.Dec()
	if route == "" {
		route = "unmatched"
	}
	class := strconv.Itoa(status/100) + "xx"
	method = boundedMethod(method)
	m.requests.WithLabelValues(route, method, class).Inc()
	obs := m.duration.WithLabelValues(route, method, class)
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		obs.(prometheus.ExemplarObserver).ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	obs.Observe(d.Seconds())
}

// Count increments e's counter.
func (m *Metrics) Count(e httpapi.Event) {
	if int(e) < len(m.events) {
		m.events[e].Inc()
	}
}

// Subscribers moves the open streams' gauge.
func (m *Metrics) Subscribers(delta int) { m.subscribers.Add(float64(delta)) }

// boundedMethod keeps arbitrary client-chosen methods out of the labels.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
