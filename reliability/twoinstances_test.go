//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestTwoInstancesOneKilled: two roster instances share one PostgreSQL;
// one is killed with SIGKILL mid-load. The other must keep serving, no
// acknowledged write may be lost, and the survivor's change feed must
// deliver every committed event, in order.
func TestTwoInstancesOneKilled(t *testing.T) {
	dir := workDir(t)
	pg := startPostgres(t, dir)
	dbURL := pg.createDatabase(t, "two")
	a := startServer(t, dir, "roster-a", dbURL)
	b := startServer(t, dir, "roster-b", dbURL)
	token := adminToken(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var head int64
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	feed, err := openStream(ctx, b.base, token, head)
	if err != nil {
		t.Fatal(err)
	}

	total, killAt := 8*time.Second, 3*time.Second
	ld := &load{tag: "two", bases: []string{a.base, b.base}, names: []string{"a", "b"}, token: token, rate: 200,
		max: int(200 * total.Seconds()), dur: total, workers: 32, mix: mixedRW, ledger: newLedger(t, dir, "ledger")}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); ld.run(ctx) }()
	time.Sleep(killAt)
	killed := time.Now()
	a.signal(syscall.SIGKILL)
	<-loadDone

	entries := ld.ledger.all()
	killMS := ld.ledger.since(killed)
	bFailed, bAfter := 0, 0
	for _, e := range entries {
		if e.Server == "b" && e.StartMS >= killMS {
			bAfter++
			if e.Status == 0 || e.Status >= 500 {
				bFailed++
			}
		}
	}
	if bFailed > 0 {
		t.Errorf("the survivor failed %d of its %d requests after the kill", bFailed, bAfter)
	}

	// The survivor's feed catches up with everything committed (its
	// reader also moves the killed instance's outbox rows).
	var want []int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		c := readPostgres(t, dbURL)
		want = want[:0]
		for _, id := range c.eventIDs {
			if id > head {
				want = append(want, id)
			}
		}
		var pending int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM event_outbox`).Scan(&pending)
		got, _, _ := feed.snapshot()
		if pending == 0 && len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, _, _ := feed.snapshot()
	inOrder := slices.IsSorted(got)
	missing := 0
	gotSet := map[int64]bool{}
	for _, id := range got {
		gotSet[id] = true
	}
	for _, id := range want {
		if !gotSet[id] {
			missing++
		}
	}
	if missing > 0 || !inOrder || len(got) != len(want) {
		t.Errorf("survivor's feed: %d events, %d committed; %d missing; in order %v", len(got), len(want), missing, inOrder)
	}
	v := analyse(entries, readPostgres(t, dbURL))
	v.check(t, ld.ledger)
	t.Logf("statuses: %s", v.statuses())
	figure(t, "5 two instances on one PostgreSQL, one SIGKILLed, 200 req/s",
		fmt.Sprintf("%d writes, %d acked", v.writes, v.acked),
		fmt.Sprint(len(v.lost)),
		fmt.Sprint(len(v.failedLanded)),
		fmt.Sprintf("%d (%d landed); %d refused (the killed one)", v.ambiguous, v.ambiguousLanded, v.refused),
		fmt.Sprintf("survivor: %d of %d requests after the kill failed", bFailed, bAfter),
		fmt.Sprintf("survivor's feed: %d of %d committed events, %d missing, in order: %v", len(got), len(want), missing, inOrder),
	)
}
