package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

// The whole contract through PgBouncer in transaction pooling mode, as a
// deployment behind it runs: migrations and Listen direct to PostgreSQL,
// everything else through the pooler, whose 20 server sessions the
// suite's stores share, so that any session state one transaction left
// behind would meet another's. Then no session holds what a pooled
// transaction must not leave behind.
func TestUserStoreThroughPgBouncer(t *testing.T) {
	var directs []string
	t.Run("suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) roster.UserStore {
			direct, pooled := pgtest.NewPooledDatabase(t)
			directs = append(directs, direct)
			mustOpenMigrated(t, direct, Options{MaxConns: 2, MinConns: 0}).Close()
			return mustOpen(t, pooled, Options{Pooled: true, ListenURL: direct})
		})
	})
	if t.Failed() || len(directs) == 0 {
		return
	}
	for _, url := range directs[len(directs)-1:] {
		assertNoSessionState(t, url)
	}
}

// assertNoSessionState checks, from a session of its own, that no session
// of the database holds an advisory lock or sits in an open transaction.
func assertNoSessionState(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var locks, open int
	err = conn.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),
		(SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%')`).Scan(&locks, &open)
	if err != nil {
		t.Fatal(err)
	}
	if locks != 0 || open != 0 {
		t.Errorf("after the suite through PgBouncer: got %d advisory locks held and %d sessions idle in a transaction, want 0 and 0", locks, open)
	}
}

// Behind a transaction pooler goose's session lock would outlive the
// migration on a server session the pooler hands to others: the store
// refuses to migrate.
func TestPooledRefusesMigrator(t *testing.T) {
	_, pooled := pgtest.NewPooledDatabase(t)
	db := mustOpen(t, pooled, Options{Pooled: true})
	if _, err := db.Migrator(); !errors.Is(err, errPooledMigrator) {
		t.Fatalf("Migrator through a pooler: got error %v, want errPooledMigrator", err)
	}
}

// Without a ListenURL, a pooled store's Listen does not LISTEN (through
// the pooler it would hear nothing reliably): it wakes at its start and
// on this process's commits, and the feed polls for the rest.
func TestPooledListenWithoutListenURL(t *testing.T) {
	direct, pooled := pgtest.NewPooledDatabase(t)
	mustOpenMigrated(t, direct, Options{MaxConns: 2, MinConns: 0}).Close()
	db := mustOpen(t, pooled, Options{Pooled: true})
	if got := db.pool.Config().ConnConfig.DefaultQueryExecMode; got != pgx.QueryExecModeExec {
		t.Errorf("query exec mode through a pooler: got %v, want exec", got)
	}
	l := storetest.StartListen(t, db)
	l.WaitWake(t, "starting")
	mustCreateUser(t, db, "ada@example.com")
	l.WaitWake(t, "a create of this process")

	conn, err := pgx.Connect(t.Context(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var listeners int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", listenApplicationName).Scan(&listeners); err != nil {
		t.Fatal(err)
	}
	if listeners != 0 {
		t.Errorf("got %d listening sessions, want none", listeners)
	}
	if err := l.Stop(t); err != nil {
		t.Errorf("Listen: got error %v after its context ended, want nil", err)
	}
}
