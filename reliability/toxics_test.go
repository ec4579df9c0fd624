//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSlowDatabaseLinks: roster reaches PostgreSQL through a proxy that
// adds 200 ms latency, resets every connection, stops data (timeout) and
// limits bandwidth, one after the other under load. Requests must end by
// --request-timeout with the envelope, the pool must never exceed its
// size, and goroutines must return to the baseline within 5 s after the
// toxics are removed — without a restart.
func TestSlowDatabaseLinks(t *testing.T) {
	dir := workDir(t)
	pg := startPostgres(t, dir)
	dbURL := pg.createDatabase(t, "toxic")
	px, err := newToxicProxy(fmt.Sprintf("127.0.0.1:%d", pg.port))
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	viaProxy := strings.Replace(dbURL, fmt.Sprintf(":%d/", pg.port), ":"+strings.Split(px.addr(), ":")[1]+"/", 1)
	const reqTimeout, maxConns = 2 * time.Second, 10
	srv := startServer(t, dir, "roster", viaProxy, "--request-timeout", reqTimeout.String(),
		"--db-max-conns", fmt.Sprint(maxConns), "--db-acquire-timeout", "1s")
	token := adminToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool := &users{}
	run := func(name string, n int) *load {
		ld := &load{tag: name, bases: []string{srv.base}, token: token, rate: 50, max: n, dur: 6 * time.Second, users: pool,
			workers: 32, mix: mixedRW, ledger: newLedger(t, dir, "ledger-"+name), timeout: 20 * time.Second}
		ld.run(ctx)
		return ld
	}
	run("warm", 100)
	time.Sleep(time.Second)
	base, err := srv.metrics()
	if err != nil {
		t.Fatal(err)
	}
	goBase := base["go_goroutines"]

	// The pool's size, sampled all along, from roster and from PostgreSQL.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var poolPeak, pgPeak float64
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sctx.Err() == nil {
			if m, err := srv.metrics(); err == nil {
				poolPeak = max(poolPeak, m[`roster_db_pool_total_conns{pool="pgxpool"}`])
			}
			var n float64
			if conn.QueryRow(sctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n) == nil {
				pgPeak = max(pgPeak, n)
			}
			sleepCtx(sctx, 100*time.Millisecond)
		}
	}()

	type phase struct {
		name  string
		apply func()
	}
	phases := []phase{
		{"latency", func() { px.latency.Store(int64(200 * time.Millisecond)) }},
		{"reset_peer", func() { px.resetPeers() }},
		{"timeout", func() { px.blackout.Store(true) }},
		{"bandwidth", func() { px.bps.Store(2 << 10) }}, // 2 KiB/s
	}
	var cells []string
	for _, ph := range phases {
		ph.apply()
		ld := run(ph.name, 250)
		px.clear()
		entries := ld.ledger.all()
		st := map[string]int{}
		over, noEnvelope, internal := 0, 0, 0
		var worst float64
		for _, e := range entries {
			st[fmt.Sprintf("%d %s", e.Status, e.Code)]++
			worst = max(worst, e.LatMS)
			if e.LatMS > float64((reqTimeout + time.Second).Milliseconds()) {
				over++
			}
			if e.Status == 0 || e.Code == "(no envelope)" {
				noEnvelope++
			}
			if e.Status == 500 { // a broken link is the database unavailable, not a bug
				internal++
			}
		}
		if over > 0 || noEnvelope > 0 {
			t.Errorf("%s: %d requests outlived --request-timeout %s by over 1 s (worst %s); %d without the envelope: %v", ph.name, over, reqTimeout, fmtMS(worst), noEnvelope, st)
		}
		if internal > 0 {
			t.Errorf("%s: %d requests answered 500, want 503 UNAVAILABLE or TIMEOUT: %v", ph.name, internal, st)
		}
		v := analyse(entries, readPostgres(t, dbURL))
		v.check(t, ld.ledger)
		cells = append(cells, fmt.Sprintf("%s: %v, slowest %s", ph.name, st, fmtMS(worst)))
	}

	// Goroutines return to the baseline once the link is healthy.
	var goAfter float64
	cleared := time.Now()
	for time.Since(cleared) < 5*time.Second {
		if m, err := srv.metrics(); err == nil {
			if goAfter = m["go_goroutines"]; goAfter <= goBase+5 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	back := time.Since(cleared).Round(time.Millisecond)
	stopSampling()
	<-sampled
	if goAfter > goBase+5 {
		t.Errorf("goroutines: %v before the toxics, still %v 5 s after they were removed", goBase, goAfter)
	}
	// pg_stat_activity is reported only: after reset_peer it briefly
	// still lists backends whose client is already gone.
	if poolPeak > maxConns || poolPeak == 0 {
		t.Errorf("pool peak %v, want 1 to --db-max-conns %d", poolPeak, maxConns)
	}
	final := run("healed", 50)
	if v := analyse(final.ledger.all(), readPostgres(t, dbURL)); v.acked == 0 {
		t.Errorf("no write acknowledged after the toxics were removed: %s", v.statuses())
	}
	figure(t, fmt.Sprintf("2 slow/broken PostgreSQL link, 50 req/s, --request-timeout %s, --db-max-conns %d", reqTimeout, maxConns),
		strings.Join(cells, "; "),
		fmt.Sprintf("pool peak %v (pg_stat_activity %v)", poolPeak, pgPeak),
		fmt.Sprintf("goroutines %v before, %v after (%s after clearing)", goBase, goAfter, back),
	)
}
