package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/internal/storetest"
)

func TestUserStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) roster.UserStore { return mustOpenMigrated(t) })
}

// mustOpen opens a new database in a temporary directory.
func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenWith(tb, Options{})
}

func mustOpenWith(tb testing.TB, opts Options) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), filepath.Join(tb.TempDir(), "roster.db"), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func mustOpenMigrated(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenMigratedWith(tb, Options{})
}

func mustOpenMigratedWith(tb testing.TB, opts Options) *DB {
	tb.Helper()
	db := mustOpenWith(tb, opts)
	if _, err := mustMigrator(tb, db).Up(tb.Context()); err != nil {
		tb.Fatalf("migrate up: %v", err)
	}
	return db
}

func mustMigrator(tb testing.TB, db *DB) *goose.Provider {
	tb.Helper()
	p, err := db.Migrator()
	if err != nil {
		tb.Fatalf("Migrator: %v", err)
	}
	return p
}

func TestMigrationsUpDownUp(t *testing.T) {
	db := mustOpen(t)
	p := mustMigrator(t, db)
	steps := []struct {
		name       string
		run        func(context.Context) error
		wantTables []string // of users, idempotency_keys, events
	}{
		{"up", func(ctx context.Context) error { _, err := p.Up(ctx); return err }, []string{"users", "idempotency_keys", "events"}},
		{"down to 2", func(ctx context.Context) error { _, err := p.DownTo(ctx, 2); return err }, []string{"users", "idempotency_keys"}},
		{"down to 1", func(ctx context.Context) error { _, err := p.DownTo(ctx, 1); return err }, []string{"users"}},
		{"down to 0", func(ctx context.Context) error { _, err := p.DownTo(ctx, 0); return err }, nil},
		{"up again", func(ctx context.Context) error { _, err := p.Up(ctx); return err }, []string{"users", "idempotency_keys", "events"}},
	}
	for _, st := range steps {
		if err := st.run(t.Context()); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, table := range []string{"users", "idempotency_keys", "events"} {
			var n int
			err := db.read.QueryRowContext(t.Context(),
				"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", table).Scan(&n)
			if err != nil {
				t.Fatalf("%s: look up table %s: %v", st.name, table, err)
			}
			if got, want := n == 1, slices.Contains(st.wantTables, table); got != want {
				t.Fatalf("after %s: got %s table %t, want %t", st.name, table, got, want)
			}
		}
	}
	if _, err := db.ListUsers(t.Context(), roster.ListQuery{Limit: 1}); err != nil {
		t.Fatalf("ListUsers after up again: got error %v, want nil", err)
	}
	if _, err := db.EventsAfter(t.Context(), 0, 1); err != nil {
		t.Fatalf("EventsAfter after up again: got error %v, want nil", err)
	}
}

// Rows written before migration 00002 get their name key from it.
func TestMigrationBackfillsNameKey(t *testing.T) {
	db := mustOpen(t)
	p := mustMigrator(t, db)
	if _, err := p.UpTo(t.Context(), 1); err != nil {
		t.Fatalf("migrate up to 1: %v", err)
	}
	_, err := db.write.ExecContext(t.Context(),
		"INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?, 'Ada Lovelace', 'ada@example.com', 0, 0)", uuid.NewString())
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	var got string
	if err := db.read.QueryRowContext(t.Context(), "SELECT name_lower FROM users").Scan(&got); err != nil {
		t.Fatalf("select name_lower: %v", err)
	}
	if want := "ada lovelace"; got != want {
		t.Errorf("got name_lower %q, want %q", got, want)
	}
}

// Each keyed create deletes a few expired keys, so the table does not grow
// without bound.
func TestIdempotencyKeysPurged(t *testing.T) {
	db := mustOpenMigrated(t)
	count := func() (n int) {
		t.Helper()
		if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM idempotency_keys").Scan(&n); err != nil {
			t.Fatalf("count keys: %v", err)
		}
		return n
	}
	storetest.CheckKeysPurged(t, db, count, purgeBatch)
}

// Every connection of both pools must carry the settings that make
// concurrent use safe; a connection opened without them would fail with
// "database is locked" under load.
func TestPragmas(t *testing.T) {
	db := mustOpen(t)
	tests := []struct {
		pragma string
		want   string
	}{
		{"busy_timeout", "10000"},
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	pools := map[string]func(ctx context.Context, query string) (string, error){
		"read": func(ctx context.Context, q string) (s string, err error) {
			return s, db.read.QueryRowContext(ctx, q).Scan(&s)
		},
		"write": func(ctx context.Context, q string) (s string, err error) {
			return s, db.write.QueryRowContext(ctx, q).Scan(&s)
		},
	}
	for name, query := range pools {
		for _, tt := range tests {
			t.Run(name+"/"+tt.pragma, func(t *testing.T) {
				got, err := query(t.Context(), "PRAGMA "+tt.pragma)
				if err != nil {
					t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
				}
				if got != tt.want {
					t.Errorf("PRAGMA %s: got %q, want %q", tt.pragma, got, tt.want)
				}
			})
		}
	}
}

func TestReadPoolRejectsWrites(t *testing.T) {
	db := mustOpenMigrated(t)
	_, err := db.read.ExecContext(t.Context(), "DELETE FROM users")
	if err == nil {
		t.Fatal("DELETE through the read pool: got nil error, want a query_only error")
	}
}

func TestOpenBadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "roster.db")
	db, err := Open(t.Context(), path, Options{})
	if err == nil {
		_ = db.Close()
		t.Fatal("Open in a missing directory: got nil error, want an error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open: got error %q, want it to name %q", err, path)
	}
}

// The path becomes a file: URI, where these characters would otherwise
// start the query, the fragment or an escape.
func TestOpenPathNeedingEscapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "roster?.db")
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: got error %v, want nil", err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: got %v, want it at %q", err, path)
	}
}

func TestOpenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	db, err := Open(t.Context(), "roster.db", Options{})
	if err != nil {
		t.Fatalf("Open: got error %v, want nil", err)
	}
	defer db.Close()
	if _, err := os.Stat("roster.db"); err != nil {
		t.Errorf("database file: got %v, want it in the working directory", err)
	}
}

// A row the store did not write must come back as an error, not a panic or
// a zero id.
func TestBadStoredID(t *testing.T) {
	db := mustOpenMigrated(t)
	_, err := db.write.ExecContext(t.Context(),
		"INSERT INTO users (id, name, email, created_at, updated_at) VALUES ('not-a-uuid', 'Ada', 'ada@example.com', 0, 0)")
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	_, err = db.ListUsers(t.Context(), roster.ListQuery{Limit: 10})
	if err == nil || errors.Is(err, roster.ErrNotFound) {
		t.Fatalf("ListUsers: got error %v, want a bad stored id error", err)
	}
	if !strings.Contains(err.Error(), "not-a-uuid") {
		t.Errorf("ListUsers: got error %q, want it to name the bad id", err)
	}
}

// Idempotency records written before migration 00006 still replay the
// user they recorded, and migrating down gives their columns back. The
// time is before 1970: the conversion takes the fraction upwards.
func TestMigrationKeepsIdempotencyRecords(t *testing.T) {
	db := mustOpen(t)
	p := mustMigrator(t, db)
	if _, err := p.UpTo(t.Context(), 4); err != nil {
		t.Fatalf("migrate up to 4: %v", err)
	}
	storetest.CheckKeyMigration(t, db, p, 4, time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC), storetest.KeyMigration{
		InsertOld: func(u roster.User, k roster.Idempotency) {
			_, err := db.write.ExecContext(t.Context(),
				`INSERT INTO idempotency_keys (subject, key, fingerprint, user_id, user_name, user_email, user_created_at, user_updated_at, created_at, expires_at)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				k.Subject, k.Key, k.Fingerprint, u.ID.String(), u.Name, u.Email, u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro(), u.CreatedAt.UnixMicro(), k.ExpiresAt.UnixMicro())
			if err != nil {
				t.Fatalf("insert: %v", err)
			}
		},
		ReadOld: func() roster.User {
			var row sqlitedb.User
			err := db.read.QueryRowContext(t.Context(), "SELECT user_id, user_name, user_email, user_created_at, user_updated_at FROM idempotency_keys").
				Scan(&row.ID, &row.Name, &row.Email, &row.CreatedAt, &row.UpdatedAt)
			if err != nil {
				t.Fatalf("select after migrating down: %v", err)
			}
			u, err := row.Domain()
			if err != nil {
				t.Fatal(err)
			}
			return u
		},
	})
}

// Concurrent creates commit together and each gets its own answer
// (storetest.RunGroupCommit); the writes are held by holding the one
// write connection.
func TestGroupCommit(t *testing.T) {
	storetest.RunGroupCommit(t, storetest.GroupCommit{
		Open: func(t *testing.T) roster.UserStore { return mustOpenMigrated(t) },
		Hold: func(t *testing.T, s roster.UserStore) func() {
			conn, err := s.(*DB).write.Conn(t.Context())
			if err != nil {
				t.Fatalf("hold the write connection: %v", err)
			}
			return func() { _ = conn.Close() }
		},
		Creates: func(s roster.UserStore) (bool, int) { return s.(*DB).creates.State() },
	})
}
