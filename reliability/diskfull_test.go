//go:build reliability

package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull: roster's SQLite file lives on a small tmpfs that is then
// filled. Writes must answer 503 or 507 with the envelope, reads must keep
// working, the file must stay intact, and writes must resume once space
// is freed. Mounting needs root (CAP_SYS_ADMIN); without it the scenario
// is skipped with the reason.
func TestDiskFull(t *testing.T) {
	dir := workDir(t)
	disk := filepath.Join(dir, "disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", disk).Run() })
	dbPath := filepath.Join(disk, "roster.db")
	srv := startServer(t, dir, "roster", dbPath)
	token := adminToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := &users{} // the acknowledged creates, read and updated while the disk is full
	phase := func(name string, m mix, n int) *load {
		ld := &load{tag: name, bases: []string{srv.base}, token: token, rate: 100, max: n, dur: 10 * time.Second, users: pool,
			workers: 4, mix: m, ledger: newLedger(t, dir, "ledger-"+name)}
		ld.run(ctx)
		return ld
	}
	before := phase("before", mix{create: 1}, 100)

	filler := filepath.Join(disk, "filler")
	fillDisk(t, filler)
	full := phase("full", mix{create: 2, update: 1, get: 2, list: 1}, 300)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after := phase("after", mix{create: 1}, 50)

	srv.signal(syscall.SIGTERM)
	if !srv.wait(30 * time.Second) {
		t.Fatal("roster did not stop")
	}
	check := integrity(t, dbPath)
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
	c := readSQLite(t, dbPath)
	var all []entry
	for _, ld := range []*load{before, full, after} {
		all = append(all, ld.ledger.all()...)
	}
	v := analyse(all, c)
	v.check(t, full.ledger)

	var wOK, wRefused, wWrong, rOK, rFail int
	wrong := map[string]int{}
	for _, e := range full.ledger.all() {
		switch {
		case e.isWrite() && e.acked():
			wOK++ // WAL pages freed by a checkpoint can still take a write
		case e.isWrite() && (e.Status == 503 || e.Status == 507) && e.Code != "(no envelope)":
			wRefused++
		case e.isWrite() && e.Status != 404:
			wWrong++
			wrong[fmt.Sprintf("%d %s", e.Status, e.Code)]++
		case !e.isWrite() && e.acked():
			rOK++
		case !e.isWrite() && e.Status != 404:
			rFail++
		}
	}
	afterOK := 0
	for _, e := range after.ledger.all() {
		if e.acked() {
			afterOK++
		}
	}
	if wWrong > 0 {
		t.Errorf("disk full: %d writes answered other than 503/507 with the envelope: %v", wWrong, wrong)
	}
	if rFail > 0 {
		t.Errorf("disk full: %d reads failed", rFail)
	}
	if afterOK != 50 {
		t.Errorf("space freed: %d of 50 creates succeeded (%s)", afterOK, analyse(after.ledger.all(), c).statuses())
	}
	figure(t, "6 SQLite disk full (16 MiB tmpfs)",
		fmt.Sprintf("while full: writes %d ok, %d 503/507, %d other %v; reads %d ok, %d failed", wOK, wRefused, wWrong, wrong, rOK, rFail),
		fmt.Sprint(len(v.lost)),
		fmt.Sprint(len(v.failedLanded)),
		"integrity_check: "+check,
		fmt.Sprintf("after freeing space: %d/50 creates ok", afterOK),
	)
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 1 << 14 { // bounded: 1 GiB at most
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the tmpfs never filled")
}
