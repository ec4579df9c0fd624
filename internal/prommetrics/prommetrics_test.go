package prommetrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/prommetrics"
)

// Each event the HTTP layer counts lands in its own series, and only
// there. (httpapi's TestMetrics drives the request series through the
// handler.)
func TestCountEvents(t *testing.T) {
	series := map[httpapi.Event]string{
		httpapi.RateLimited:  "roster_http_rate_limited_total",
		httpapi.Overloaded:   "roster_http_overloaded_total",
		httpapi.TimedOut:     "roster_http_timeouts_total",
		httpapi.Panicked:     "roster_http_panics_total",
		httpapi.EventSent:    "roster_feed_events_sent_total",
		httpapi.SlowConsumer: "roster_feed_slow_consumer_disconnects_total",
	}
	for e, name := range series {
		reg := prometheus.NewRegistry()
		m := prommetrics.New(reg)
		m.Count(e)
		m.Count(e)
		for _, other := range series {
			want := 0.0
			if other == name {
				want = 2
			}
			if got := gathered(t, reg, other); got != want {
				t.Errorf("after counting %s twice: %s = %v, want %v", name, other, got, want)
			}
		}
	}
	reg := prometheus.NewRegistry()
	m := prommetrics.New(reg)
	m.Subscribers(3)
	m.Subscribers(-1)
	if got := gathered(t, reg, "roster_feed_subscribers"); got != 2 {
		t.Errorf("roster_feed_subscribers = %v, want 2", got)
	}
}

func gathered(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("series %s missing", name)
	return 0
}

// A sampled request's trace id is the exemplar of its latency bucket; an
// unsampled one leaves none.
func TestExemplars(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	tests := []struct {
		name  string
		flags trace.TraceFlags
		want  string // the exemplar's trace_id; "" none
	}{
		{"sampled", trace.FlagsSampled, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"not sampled", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := prommetrics.New(reg)
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: tt.flags})
			m.Begin()
			m.Observe(trace.ContextWithSpanContext(context.Background(), sc), "GET /api/users", "GET", 200, 3*time.Millisecond)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, f := range families {
				if f.GetName() != "roster_http_request_duration_seconds" {
					continue
				}
				for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
					for _, l := range b.GetExemplar().GetLabel() {
						if l.GetName() == "trace_id" {
							got = l.GetValue()
						}
					}
				}
			}
			if got != tt.want {
				t.Errorf("exemplar trace_id got %q, want %q", got, tt.want)
			}
		})
	}
}
