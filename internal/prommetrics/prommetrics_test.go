package prommetrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
