package postgres

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// A write through one instance (pool) wakes the listener of another on the
// same database: the notification goes through the server.
func TestListenAcrossInstances(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := mustOpenMigrated(t, url, Options{})
	b := mustOpen(t, url, Options{})
	l := storetest.StartListen(t, a)
	l.WaitWake(t, "starting to listen")

	start := time.Now()
	mustCreateUser(t, b, "ada@example.com")
	l.WaitWake(t, "a create through the other instance")
	t.Logf("woken %v after the create began", time.Since(start))

	evs, err := a.EventsAfter(t.Context(), 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != roster.EventUserCreated {
		t.Fatalf("EventsAfter on the listening instance: got %v, %v; want the one create", evs, err)
	}
	if err := l.Stop(t); err != nil {
		t.Errorf("Listen: got error %v after its context ended, want nil", err)
	}
}

// When its connection is cut, Listen reconnects and wakes, since
// notifications may have been lost meanwhile, and then wakes on commits
// again.
func TestListenReconnects(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	l := storetest.StartListen(t, db)
	l.WaitWake(t, "starting to listen")
	first := listenerPID(t, db, 0)

	var terminated bool
	err := db.pool.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", first).Scan(&terminated)
	if err != nil || !terminated {
		t.Fatalf("terminate the listener's backend %d: got %t, %v", first, terminated, err)
	}
	l.WaitWake(t, "its connection was terminated")
	listenerPID(t, db, first) // a new connection listens

	mustCreateUser(t, db, "ada@example.com")
	l.WaitWake(t, "a create after reconnecting")
}

// listenerPID returns the backend pid of db's listening connection, other
// than not (a terminated backend may not have left pg_stat_activity yet).
func listenerPID(t *testing.T, db *DB, not int32) int32 {
	t.Helper()
	var pid int32
	err := db.pool.QueryRow(t.Context(),
		`SELECT pid FROM pg_stat_activity
		 WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN%' AND pid <> $2`,
		listenApplicationName, not).Scan(&pid)
	if err != nil {
		t.Fatalf("find the listener's backend: %v", err)
	}
	return pid
}

func mustCreateUser(t *testing.T, db *DB, email string) roster.User {
	t.Helper()
	now := time.Now()
	u, _, err := db.CreateUser(t.Context(), roster.User{ID: uuid.New(), Name: "Ada", Email: email, CreatedAt: now, UpdatedAt: now}, nil)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}
