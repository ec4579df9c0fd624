package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// TestDiskFull: a database that cannot grow (here capped with
// max_page_count, as a full disk would) fails writes with roster's
// UNAVAILABLE, logged once, while reads go on; writes resume when there
// is room again.
func TestDiskFull(t *testing.T) {
	db := mustOpenMigrated(t)
	var logs bytes.Buffer // one goroutine writes: this one
	db.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	create := func(i int) error {
		now := time.Now()
		u := roster.User{ID: uuid.New(), Name: strings.Repeat("n", 100), Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: now, UpdatedAt: now}
		_, _, err := db.CreateUser(ctx, u, nil)
		return err
	}
	if err := create(0); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var failed int
	for i := 1; i <= 200 && failed < 3; i++ {
		err := create(i)
		if err == nil {
			continue // the last pages still had room
		}
		failed++
		var re *roster.Error
		if !errors.As(err, &re) || re.Code != roster.CodeUnavailable {
			t.Fatalf("create on a full database: got %v, want a roster error with code UNAVAILABLE", err)
		}
	}
	if failed == 0 {
		t.Fatal("no write failed on the full database")
	}
	if _, err := db.ListUsers(ctx, roster.ListQuery{Limit: 10}); err != nil {
		t.Errorf("read on a full database: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := create(1000); err != nil {
		t.Errorf("create once there is room: %v", err)
	}
	if n := strings.Count(logs.String(), `msg="database unavailable"`); n != 1 {
		t.Errorf("got %d outage lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `msg="database available again"`) {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}
