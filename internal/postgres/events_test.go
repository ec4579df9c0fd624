package postgres

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// A write through one instance (pool) wakes the listener of another once
// a read of the feed has sequenced its event: the writer's own feed reads
// on its commit, and its notification goes through the server.
func TestListenAcrossInstances(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := mustOpenMigrated(t, url, Options{})
	b := mustOpen(t, url, Options{})
	l := storetest.StartListen(t, a)
	l.WaitWake(t, "starting to listen")

	start := time.Now()
	mustCreateUser(t, b, "ada@example.com")
	if evs, err := b.EventsAfter(t.Context(), 0, 10); err != nil || len(evs) != 1 {
		t.Fatalf("EventsAfter on the writing instance: got %v, %v; want the one create", evs, err)
	}
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

// An open transaction holds back its own event only: events committed
// after it began are readable at once, and its event follows them, with a
// larger id, once it commits. (With ids drawn at insert time, a reader
// would have moved past its id, or had to wait for it.)
func TestEventOfLongTransaction(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	ctx := t.Context()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	now := time.Now()
	long := roster.User{ID: uuid.New(), Name: "Long", Email: "long@example.com", CreatedAt: now, UpdatedAt: now}
	if err := appendEvent(ctx, pgdb.New(tx), roster.Event{Type: roster.EventUserCreated, UserID: long.ID, User: &long, At: now}); err != nil {
		t.Fatalf("append in the open transaction: %v", err)
	}

	short := mustCreateUser(t, db, "short@example.com")
	evs, err := db.EventsAfter(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].UserID != short.ID {
		t.Fatalf("EventsAfter with a transaction open: got %v, %v; want the short create alone", evs, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := db.EventsAfter(ctx, evs[0].ID, 10)
	if err != nil || len(after) != 1 || after[0].UserID != long.ID || after[0].ID <= evs[0].ID {
		t.Fatalf("EventsAfter(%d) once it committed: got %v, %v; want the long transaction's event", evs[0].ID, after, err)
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
