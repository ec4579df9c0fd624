//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSQLiteKill: roster on SQLite is killed with SIGKILL during 500
// writes/s. No acknowledged write may be lost, the file must pass
// PRAGMA integrity_check, and roster must start again on it.
func TestSQLiteKill(t *testing.T) {
	dir := workDir(t)
	dbPath := filepath.Join(dir, "roster.db")
	srv := startServer(t, dir, "roster", dbPath)
	token := adminToken(t)

	total, killAt := 6*time.Second, 4*time.Second
	if ciMode {
		total, killAt = 4*time.Second, 2500*time.Millisecond
	}
	ld := &load{tag: "sqkill", bases: []string{srv.base}, token: token, rate: 500, max: int(500 * total.Seconds()),
		dur: total, workers: 64, mix: writesOnly, ledger: newLedger(t, dir, "ledger")}
	ctx, cancel := context.WithTimeout(context.Background(), total+time.Minute)
	defer cancel()
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); ld.run(ctx) }()
	time.Sleep(killAt)
	killed := time.Now()
	srv.signal(syscall.SIGKILL)
	if !srv.wait(10 * time.Second) {
		t.Fatal("roster still running 10 s after SIGKILL")
	}
	<-loadDone

	check := integrity(t, dbPath)
	if check != "ok" {
		t.Errorf("PRAGMA integrity_check after SIGKILL: %s", check)
	}
	entries := ld.ledger.all()
	v := analyse(entries, readSQLite(t, dbPath))
	v.check(t, ld.ledger)
	killMS := ld.ledger.since(killed)
	beforeKill := 0
	for _, e := range entries {
		if e.isWrite() && e.acked() && e.StartMS < killMS {
			beforeKill++
		}
	}

	// The same file serves again, and takes a write.
	again := startServer(t, dir, "roster-again", dbPath)
	after := &load{tag: "sqkill-after", bases: []string{again.base}, token: token, rate: 50, max: 20, dur: 5 * time.Second,
		workers: 4, mix: mix{create: 1}, ledger: newLedger(t, dir, "ledger-after")}
	after.run(ctx)
	av := analyse(after.ledger.all(), readSQLite(t, dbPath))
	av.check(t, after.ledger)
	if av.acked != 20 {
		t.Errorf("after the restart %d of 20 creates acknowledged: %s", av.acked, av.statuses())
	}
	t.Logf("statuses: %s; skipped tickets: %d", v.statuses(), ld.skipped)
	figure(t, "3 SQLite SIGKILL at 500 writes/s",
		fmt.Sprintf("%d writes, %d acked (%d before the kill)", v.writes, v.acked, beforeKill),
		fmt.Sprint(len(v.lost)),
		fmt.Sprint(len(v.failedLanded)),
		fmt.Sprintf("%d (%d landed); %d refused", v.ambiguous, v.ambiguousLanded, v.refused),
		"integrity_check: "+check,
		fmt.Sprintf("restarted on the same file: %d/20 creates ok", av.acked),
	)
}
