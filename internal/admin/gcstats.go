package admin

import (
	"fmt"
	"math"
	"net/http"
	"runtime/metrics"
	"strconv"
)

// gcMetrics are the runtime/metrics samples /debug/gc reports: the GC's
// CPU estimate beside the total it is a share of, and the stop-the-world
// pauses the GC caused.
var gcMetrics = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
	"/sched/pauses/total/gc:seconds",
}

// gcStats writes the GC figures as "name value" lines, cumulative since
// the process started, and the pause histogram at the runtime's own
// resolution (Prometheus's Go collector coarsens it to powers of ten) as
// "pause_le <upper bound in seconds> <cumulative count>" for each non-empty
// bucket. A load test takes one snapshot before and one after a run and
// subtracts (bench/run does): GC CPU share, pause p50/p99 of that run.
func gcStats(w http.ResponseWriter, _ *http.Request) {
	samples := make([]metrics.Sample, len(gcMetrics))
	for i, name := range gcMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b []byte
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindFloat64:
			b = fmt.Appendf(b, "%s %g\n", s.Name, s.Value.Float64())
		case metrics.KindUint64:
			b = fmt.Appendf(b, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64Histogram:
			h := s.Value.Float64Histogram()
			var n uint64
			for i, c := range h.Counts {
				if c == 0 {
					continue
				}
				n += c
				upper := h.Buckets[i+1]
				if math.IsInf(upper, 1) {
					upper = h.Buckets[i]
				}
				b = append(b, "pause_le "...)
				b = strconv.AppendFloat(b, upper, 'g', -1, 64)
				b = fmt.Appendf(b, " %d\n", n)
			}
		}
	}
	_, _ = w.Write(b)
}
