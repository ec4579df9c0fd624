//go:build reliability

package reliability

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// abuseMaxInflight is --max-inflight for TestAbuse (env RELIABILITY_MAX_INFLIGHT
// overrides it, e.g. 512 to see the default's behaviour).
var abuseMaxInflight = cmp.Or(os.Getenv("RELIABILITY_MAX_INFLIGHT"), "4096")

// TestAbuse: 2,000 slowloris connections (headers a byte at a time) and
// 2,000 slow-body uploads at once, for a bounded window, beside a healthy
// client. The healthy client must keep 100 % success; its p99, the
// server's peak RSS and its descriptors before and after are the figures.
func TestAbuse(t *testing.T) {
	// 4,000 abusive connections and their server ends, in this process
	// and roster (which inherits the limit TestMain raised).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 10000 {
		t.Skipf("needs 10,000 open files (RLIMIT_NOFILE %d, %v): raise the hard limit (ulimit -Hn) to run it", lim.Cur, err)
	}
	dir := workDir(t)
	// A slow upload holds an in-flight slot while its body trickles in
	// (up to the 30 s read timeout), so 2,000 of them exhaust the default
	// --max-inflight 512 and the healthy client gets 503: the limit is
	// raised above the abuse, as an operator expecting it would.
	srv := startServer(t, dir, "roster", filepath.Join(dir, "roster.db"), "--max-inflight", abuseMaxInflight)
	token := adminToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	warm := &load{tag: "warm", bases: []string{srv.base}, token: token, rate: 50, max: 50, dur: 5 * time.Second,
		workers: 4, mix: mix{create: 1, get: 2}, ledger: newLedger(t, dir, "ledger-warm")}
	warm.run(ctx)
	time.Sleep(500 * time.Millisecond)
	fdBase, sockBase := openFDs(srv.pid())

	const n, window = 2000, 12 * time.Second
	actx, stopAbuse := context.WithTimeout(ctx, window)
	defer stopAbuse()
	var wg sync.WaitGroup
	var opened, cut atomic.Int64
	addr := strings.TrimPrefix(srv.base, "http://")
	abuser := func(slowBody bool) {
		defer wg.Done()
		for actx.Err() == nil { // a cut abuser comes back, until the window ends
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				sleepCtx(actx, 200*time.Millisecond)
				continue
			}
			opened.Add(1)
			stop := context.AfterFunc(actx, func() { conn.Close() })
			var msg string
			if slowBody {
				msg = "POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
					"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"name\":\""
				if _, err := io.WriteString(conn, msg); err != nil {
					stop()
					conn.Close()
					continue
				}
				msg = strings.Repeat("a", 1000)
			} else {
				msg = "GET /api/users HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("b", 1000)
			}
			for i := 0; i < len(msg) && actx.Err() == nil; i++ {
				if _, err := conn.Write([]byte{msg[i]}); err != nil {
					cut.Add(1)
					break
				}
				sleepCtx(actx, time.Second)
			}
			stop()
			conn.Close()
		}
	}
	for i := range 2 * n {
		wg.Add(1)
		go abuser(i%2 == 1)
		if i%200 == 199 {
			time.Sleep(50 * time.Millisecond) // ramp, so the listener backlog keeps up
		}
	}
	time.Sleep(2 * time.Second) // the abuse is in place
	healthy := &load{tag: "healthy", bases: []string{srv.base}, token: token, rate: 50, max: 400, dur: 8 * time.Second,
		workers: 8, mix: mix{create: 1, get: 3, list: 1}, ledger: newLedger(t, dir, "ledger-healthy")}
	var fdPeak int
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		for actx.Err() == nil {
			all, _ := openFDs(srv.pid())
			fdPeak = max(fdPeak, all)
			sleepCtx(actx, 500*time.Millisecond)
		}
	}()
	healthy.run(ctx)
	<-actx.Done()
	wg.Wait()
	<-peakDone

	// Descriptors return to the baseline once the abusers are gone.
	fdAfter, sockAfter := -1, -1
	settled := time.Now()
	for time.Since(settled) < 10*time.Second {
		if fdAfter, sockAfter = openFDs(srv.pid()); sockAfter <= sockBase {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	hwm := procStatus(srv.pid(), "VmHWM")

	entries := healthy.ledger.all()
	ok := 0
	for _, e := range entries {
		if e.acked() {
			ok++
		}
	}
	p99 := percentile(latencies(entries, func(entry) bool { return true }), 99)
	if ok != len(entries) {
		v := analyse(entries, newCommitted())
		t.Errorf("healthy client: %d of %d succeeded (%s)", ok, len(entries), v.statuses())
	}
	if sockAfter > sockBase {
		t.Errorf("sockets: %d before the abuse, still %d 10 s after it", sockBase, sockAfter)
	}
	if hwm > 150<<10 {
		t.Errorf("peak RSS %d MiB, want < 150 MiB", hwm>>10)
	}
	t.Logf("abusers opened %d connections, %d were cut mid-trickle; skipped tickets %d", opened.Load(), cut.Load(), healthy.skipped)
	figure(t, "7 2,000 slowloris + 2,000 slow bodies, healthy client at 50 req/s, --max-inflight "+abuseMaxInflight,
		fmt.Sprintf("healthy: %d/%d ok, p99 %s", ok, len(entries), fmtMS(p99)),
		fmt.Sprintf("fds: %d before (%d sockets), %d peak, %d after (%d sockets)", fdBase, sockBase, fdPeak, fdAfter, sockAfter),
		fmt.Sprintf("peak RSS (VmHWM) %d MiB", hwm>>10),
		fmt.Sprintf("%d abusive connections opened, %d cut by the server", opened.Load(), cut.Load()),
	)
}
