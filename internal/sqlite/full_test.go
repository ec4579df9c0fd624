package sqlite

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// A full disk is the database unavailable (503, retry later), not a bug
// (500): max_page_count makes SQLite answer SQLITE_FULL as a full disk
// would, without needing one.
func TestDiskFullIsUnavailable(t *testing.T) {
	db := mustOpenMigrated(t)
	db.write.SetMaxOpenConns(1) // the pragma below is per connection
	var pages int
	if err := db.write.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var err error
	for i := range 1000 {
		u := roster.User{ID: uuid.Must(uuid.NewV7()), Name: fmt.Sprintf("user %d", i), Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: now, UpdatedAt: now}
		if _, _, err = db.CreateUser(t.Context(), u, nil); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("1000 creates fitted in two pages")
	}
	if !errors.Is(err, roster.ErrUnavailable) {
		t.Errorf("got %v, want roster.ErrUnavailable", err)
	}
}
