//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestPostgresCrash: PostgreSQL is stopped the way a crash stops it
// (pg_ctl stop -m immediate) for 3 s under 200 writes/s, then started
// again. No acknowledged write may be missing, no write answered 4xx/5xx
// may have committed, failures during the outage must be quick (within
// --db-acquire-timeout) and roster must serve again without a restart.
func TestPostgresCrash(t *testing.T) {
	dir := workDir(t)
	pg := startPostgres(t, dir)
	dbURL := pg.createDatabase(t, "crash")
	const acquire = 3 * time.Second // the default --db-acquire-timeout, stated
	srv := startServer(t, dir, "roster", dbURL, "--db-acquire-timeout", acquire.String())

	total, crashAt, outage := 12*time.Second, 3*time.Second, 3*time.Second
	if ciMode {
		total, crashAt = 9*time.Second, 2*time.Second
	}
	ld := &load{tag: "pgcrash", bases: []string{srv.base}, token: adminToken(t), rate: 200, max: int(200 * total.Seconds()),
		dur: total, workers: 64, mix: writesOnly, ledger: newLedger(t, dir, "ledger")}
	ctx, cancel := context.WithTimeout(context.Background(), total+time.Minute)
	defer cancel()
	ready, stopProbe := startProbe(ctx, srv.base+"/health/ready", 50*time.Millisecond)

	loadDone := make(chan struct{})
	go func() { defer close(loadDone); ld.run(ctx) }()
	time.Sleep(crashAt)
	crashed := time.Now()
	if err := pg.crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage)
	restartBegan := time.Now()
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	<-loadDone
	stopProbe()

	entries := ld.ledger.all()
	v := analyse(entries, readPostgres(t, dbURL))
	v.check(t, ld.ledger)

	crashMS, restartMS := ld.ledger.since(crashed), ld.ledger.since(restarted)
	inOutage := func(e entry) bool { return e.StartMS >= crashMS && e.StartMS < restartMS }
	failLat := latencies(entries, func(e entry) bool { return inOutage(e) && e.Status != 201 && e.Status != 200 && e.Status != 204 })
	codes := map[string]int{}
	retryAfter := 0
	nFail, wrong := 0, 0
	for _, e := range entries {
		if inOutage(e) && !e.acked() {
			nFail++
			codes[fmt.Sprintf("%d %s", e.Status, e.Code)]++
			if e.Retry != "" {
				retryAfter++
			}
			// An outage is the database being unavailable, not a bug.
			if (e.Status >= 500 || e.Status == 0) && (e.Status != http.StatusServiceUnavailable || e.Code != "UNAVAILABLE" || e.Retry == "") {
				wrong++
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d requests during the outage answered other than 503 UNAVAILABLE with Retry-After: %v", wrong, codes)
	}
	var firstOK float64 = -1
	for _, e := range entries {
		if e.isWrite() && e.acked() && e.StartMS >= restartMS && (firstOK < 0 || e.end() < firstOK) {
			firstOK = e.end()
		}
	}
	recovery := "never"
	if firstOK >= 0 {
		recovery = fmtMS(max(0, firstOK-restartMS))
		if firstOK-restartMS > 10000 {
			t.Errorf("first acknowledged write %s after PostgreSQL was back: roster did not recover", recovery)
		}
	} else {
		t.Errorf("no write acknowledged after PostgreSQL was back")
	}
	// Readiness: 503 soon after the crash, 200 again once PostgreSQL is
	// back (possibly before pg_ctl start returns).
	notReady := ready.firstAfter(crashed, http.StatusServiceUnavailable)
	readyAgain := time.Time{}
	if !notReady.IsZero() {
		readyAgain = ready.firstAfter(notReady, http.StatusOK)
	}
	p99 := percentile(failLat, 99)
	if p99 > float64(acquire.Milliseconds())+2000 {
		t.Errorf("p99 of failures during the outage %s, want about --db-acquire-timeout %s at most", fmtMS(p99), acquire)
	}
	t.Logf("statuses: %s; skipped tickets: %d", v.statuses(), ld.skipped)
	t.Logf("outage answers: %v (with Retry-After: %d of %d)", codes, retryAfter, nFail)
	t.Logf("pg restart took %s", restarted.Sub(restartBegan).Round(time.Millisecond))
	if srv.exitAt != (time.Time{}) {
		t.Errorf("roster exited during the outage")
	}
	figure(t, "1 PostgreSQL crash 3 s, 200 writes/s",
		fmt.Sprintf("%d writes, %d acked", v.writes, v.acked),
		fmt.Sprint(len(v.lost)),
		fmt.Sprint(len(v.failedLanded)),
		fmt.Sprintf("%d (%d landed); %d refused", v.ambiguous, v.ambiguousLanded, v.refused),
		fmt.Sprintf("%d failed: %v; p99 %s", nFail, codes, fmtMS(p99)),
		fmt.Sprintf("first write ok %s after PG accepted connections (pg_ctl start took %s); readiness 503 %s after the crash, 200 %s after pg_ctl start began",
			recovery, restarted.Sub(restartBegan).Round(time.Millisecond), sinceOr(crashed, notReady), sinceOr(restartBegan, readyAgain)),
	)
}
