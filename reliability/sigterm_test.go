//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// supportsFlag tells whether the binary under test has a serve flag (the
// suite also measures "before" figures on older commits). Help lists a
// flag as "--name VALUE" (the standard flag package, before kong) or as
// "--name=VALUE" (kong).
func supportsFlag(name string) bool {
	out, _ := exec.Command(rosterBin, "serve", "--help").Output()
	help := string(out)
	return strings.Contains(help, "--"+name+" ") || strings.Contains(help, "--"+name+"=")
}

// TestSigterm: SIGTERM under 500 req/s of reads and writes on 64
// keep-alive connections with 100 change-feed streams open. Every request
// the server accepted must succeed, no connection that had carried a
// request may be reset, the process must exit 0 within the drain, and
// every stream must end cleanly (a whole last frame, then EOF). Repeated
// (20 times in full mode); the worst run is the figure.
func TestSigterm(t *testing.T) {
	dir := workDir(t)
	pg := startPostgres(t, dir)
	dbURL := pg.createDatabase(t, "sigterm")
	token := adminToken(t)
	runs := 20
	if ciMode {
		runs = 3
	}
	const drainDelay, shutdownTimeout = time.Second, 15 * time.Second
	extra := []string{"--shutdown-timeout", shutdownTimeout.String()}
	if supportsFlag("drain-delay") {
		extra = append(extra, "--drain-delay", drainDelay.String())
	} else {
		t.Logf("this roster has no --drain-delay: the listener closes at SIGTERM")
	}
	// The fixed shutdown ends every stream with a final "shutdown" event;
	// an older binary (no --drain-delay) just closes them.
	finalEvent := ""
	if supportsFlag("drain-delay") {
		finalEvent = "shutdown"
	}
	var worst *sigtermRun
	for i := range runs {
		r := sigtermOnce(t, dir, dbURL, token, i, extra, finalEvent)
		t.Logf("run %d: %s", i, r)
		if worst == nil || r.badness() > worst.badness() || (r.badness() == worst.badness() && r.exitAfter > worst.exitAfter) {
			worst = r
		}
	}
	figure(t, fmt.Sprintf("4 SIGTERM at 500 req/s, 64 conns, 100 streams (worst of %d)", runs),
		fmt.Sprintf("%d requests (%d after SIGTERM)", worst.requests, worst.afterTerm),
		fmt.Sprint(worst.failedAccepted),
		fmt.Sprint(worst.resets),
		fmt.Sprintf("%d refused, %d cut before a request", worst.refused, worst.newCut),
		fmt.Sprintf("exit %d after %s", worst.exit, worst.exitAfter.Round(time.Millisecond)),
		fmt.Sprintf("streams: %d clean, %d reset, %d cut mid-frame, %d without a final event (%d dropped as slow consumers); last event %v", worst.streamsClean, worst.streamsReset, worst.streamsPartial, worst.streamsNoFinal, worst.slowDropped, worst.lastEvents),
	)
}

type sigtermRun struct {
	requests, afterTerm            int
	failedAccepted, resets         int
	refused, newCut                int
	exit                           int
	exitAfter                      time.Duration
	streamsClean, streamsReset     int
	streamsPartial, streamsNoFinal int
	slowDropped                    int // streams the feed dropped as slow consumers (server log)
	lastEvents                     map[string]int
	failures                       map[string]int
}

func (r *sigtermRun) badness() int {
	return r.failedAccepted + r.resets + r.streamsReset + r.streamsPartial + max(0, r.streamsNoFinal-r.slowDropped) + abs(r.exit)*1000
}

func abs(n int) int { return max(n, -n) }

func (r *sigtermRun) String() string {
	return fmt.Sprintf("%d requests, %d after SIGTERM; failed accepted %d %v, resets %d, refused %d, new cut %d; exit %d after %s; streams clean %d reset %d partial %d %v",
		r.requests, r.afterTerm, r.failedAccepted, r.failures, r.resets, r.refused, r.newCut, r.exit, r.exitAfter.Round(time.Millisecond),
		r.streamsClean, r.streamsReset, r.streamsPartial, r.lastEvents) + fmt.Sprintf("; slow-consumer drops %d", r.slowDropped)
}

func sigtermOnce(t *testing.T, dir, dbURL, token string, run int, extra []string, finalEvent string) *sigtermRun {
	srv := startServer(t, dir, fmt.Sprintf("roster-%02d", run), dbURL, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	streams := make([]*stream, 0, 100)
	var mu sync.Mutex
	var wg sync.WaitGroup
	// One subject per stream, as 100 clients would have: a subject holds
	// at most --max-subscribers-per-user streams.
	tokens := streamTokens(t, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := openStream(ctx, srv.base, tokens[i], -1)
			if err != nil {
				t.Errorf("opening a stream: %v", err)
				return
			}
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
		}()
	}
	wg.Wait()

	total, termAt := 4*time.Second, 2*time.Second
	if ciMode {
		total, termAt = 3*time.Second, 1500*time.Millisecond
	}
	ld := &load{tag: fmt.Sprintf("term%02d", run), bases: []string{srv.base}, token: token, rate: 500, max: int(500 * total.Seconds()),
		dur: total, workers: 64, mix: mixedRW, ledger: newLedger(t, dir, fmt.Sprintf("ledger-%02d", run))}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); ld.run(ctx) }()
	time.Sleep(termAt)
	termed := time.Now()
	srv.signal(syscall.SIGTERM)
	exited := srv.wait(time.Minute)
	<-loadDone

	r := &sigtermRun{lastEvents: map[string]int{}, failures: map[string]int{}}
	if !exited {
		t.Fatalf("run %d: roster still running a minute after SIGTERM", run)
	}
	r.exit, r.exitAfter = srv.exitCode(), srv.exitAt.Sub(termed)
	termMS := ld.ledger.since(termed)
	for _, e := range ld.ledger.all() {
		r.requests++
		if e.StartMS >= termMS {
			r.afterTerm++
		}
		switch {
		case e.Status == 0 && e.Dial:
			r.refused++ // the listener was closed: never accepted
		case e.Status == 0 && e.Reused:
			r.resets++
			r.failures["reset: "+e.Err]++
		case e.Status == 0:
			r.newCut++ // a new connection cut before it carried a request
		case e.Status == 499 || e.Status >= 500:
			r.failedAccepted++
			r.failures[fmt.Sprintf("%d %s", e.Status, e.Code)]++
		}
	}
	// The feed drops a subscriber whose buffer a burst overflows, final
	// event or not: those are the feed's doing, not the shutdown's, and
	// are counted apart (docs/RELIABILITY.md, findings).
	r.slowDropped = strings.Count(tail(srv.logPath, 1<<30), "slow subscriber dropped")
	for _, s := range streams {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Errorf("run %d: a stream still open 10 s after roster exited", run)
			continue
		}
		_, _, last := s.snapshot()
		r.lastEvents[last]++
		if finalEvent != "" && last != finalEvent {
			r.streamsNoFinal++
		}
		switch {
		case s.reset || s.endErr != "":
			r.streamsReset++
		case s.partial:
			r.streamsPartial++
		default:
			r.streamsClean++
		}
	}
	if r.failedAccepted > 0 || r.resets > 0 {
		t.Errorf("run %d: %d accepted requests failed, %d reused connections reset: %v (ledger %s)", run, r.failedAccepted, r.resets, r.failures, ld.ledger.path)
	}
	if r.exit != 0 {
		t.Errorf("run %d: exit status %d, want 0\n%s", run, r.exit, tail(srv.logPath, 3000))
	}
	if r.streamsReset > 0 || r.streamsPartial > 0 || r.streamsNoFinal > r.slowDropped {
		t.Errorf("run %d: streams reset %d, cut mid-frame %d, without the final %q event %d", run, r.streamsReset, r.streamsPartial, finalEvent, r.streamsNoFinal)
	}
	v := analyse(ld.ledger.all(), readPostgres(t, dbURL))
	v.check(t, ld.ledger)
	return r
}
