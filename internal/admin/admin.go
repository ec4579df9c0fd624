// Package admin serves roster's admin listener: the Prometheus metrics,
// the runtime profiles and the GC figures. It must never be mounted on
// the public listener; only cmd/roster wires it (the edge build has no
// admin listener).
package admin

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the admin listener: Prometheus metrics from g, the
// runtime profiles and the GC figures (/debug/gc).
// /debug/pprof/cmdline is left out: the command line may carry
// --jwt-secret (the index still links it; pprof.Index answers 404).
func Handler(g prometheus.Gatherer) http.Handler {
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
