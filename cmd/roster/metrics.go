package main

import (
	"database/sql"
	"runtime"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry gathers the process, Go runtime, build and database pool
// series; the HTTP layer adds its own with prommetrics.New.
func newRegistry(db *database) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "roster_build_info",
			Help:        "Always 1; the labels tell the build.",
			ConstLabels: prometheus.Labels{"version": version, "commit": buildCommit(), "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	if db.pool != nil {
		reg.MustRegister(db.pool)
	}
	return reg
}

// poolMetric is one series read off a pool's statistics.
type poolMetric[S any] struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(S) float64
}

// poolCollector reads a pool's statistics at scrape time, so the numbers
// are never stale and nothing runs between scrapes.
type poolCollector[S any] struct {
	stats   func() map[string]S // by pool name ("read", "write"; "" for one)
	metrics []poolMetric[S]
}

func (c *poolCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *poolCollector[S]) Collect(ch chan<- prometheus.Metric) {
	for pool, s := range c.stats() {
		for _, m := range c.metrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s), pool)
		}
	}
}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("roster_db_pool_"+name, help, []string{"pool"}, nil)
}

func pgxPoolCollector(stat func() *pgxpool.Stat) prometheus.Collector {
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	return &poolCollector[*pgxpool.Stat]{
		stats: func() map[string]*pgxpool.Stat { return map[string]*pgxpool.Stat{"pgxpool": stat()} },
		metrics: []poolMetric[*pgxpool.Stat]{
			{poolDesc("acquired_conns", "Connections in use."), g, func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }},
			{poolDesc("idle_conns", "Idle connections."), g, func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }},
			{poolDesc("total_conns", "Open connections."), g, func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }},
			{poolDesc("max_conns", "Maximum connections."), g, func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }},
			{poolDesc("acquires_total", "Connection acquisitions."), c, func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }},
			{poolDesc("waits_total", "Acquisitions that had to wait for a connection."), c, func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }},
			{poolDesc("wait_seconds_total", "Time spent acquiring connections."), c, func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }},
			{poolDesc("canceled_acquires_total", "Acquisitions given up (timeout or client gone)."), c, func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }},
		},
	}
}

func sqlPoolCollector(stats func() map[string]sql.DBStats) prometheus.Collector {
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	return &poolCollector[sql.DBStats]{
		stats: stats,
		metrics: []poolMetric[sql.DBStats]{
			{poolDesc("acquired_conns", "Connections in use."), g, func(s sql.DBStats) float64 { return float64(s.InUse) }},
			{poolDesc("idle_conns", "Idle connections."), g, func(s sql.DBStats) float64 { return float64(s.Idle) }},
			{poolDesc("total_conns", "Open connections."), g, func(s sql.DBStats) float64 { return float64(s.OpenConnections) }},
			{poolDesc("max_conns", "Maximum connections."), g, func(s sql.DBStats) float64 { return float64(s.MaxOpenConnections) }},
			{poolDesc("waits_total", "Acquisitions that had to wait for a connection."), c, func(s sql.DBStats) float64 { return float64(s.WaitCount) }},
			{poolDesc("wait_seconds_total", "Time spent acquiring connections."), c, func(s sql.DBStats) float64 { return s.WaitDuration.Seconds() }},
		},
	}
}
