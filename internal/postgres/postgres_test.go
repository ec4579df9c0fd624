package postgres

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The suite runs in pgx's default query mode (statements prepared and
// cached per connection) and in the two that send parameters as text
// without preparing, which deployments behind PgBouncer's transaction
// pooling may set in the URL.
func TestUserStore(t *testing.T) {
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) roster.UserStore {
				return mustOpenMigrated(t, pgtest.NewDatabase(t)+"&default_query_exec_mode="+mode, Options{})
			})
		})
	}
}

// Concurrent creates commit together and each gets its own answer
// (storetest.RunGroupCommit), in every query mode (the rows travel as
// arrays); the writes are held by holding every pooled connection.
func TestGroupCommit(t *testing.T) {
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			storetest.RunGroupCommit(t, storetest.GroupCommit{
				Open: func(t *testing.T) roster.UserStore {
					return mustOpenMigrated(t, pgtest.NewDatabase(t)+"&default_query_exec_mode="+mode, Options{AcquireTimeout: time.Minute})
				},
				Hold: func(t *testing.T, s roster.UserStore) func() {
					pool := s.(*DB).pool
					var held []*pgxpool.Conn
					for int32(len(held)) < pool.Config().MaxConns {
						conn, err := pool.Acquire(t.Context())
						if err != nil {
							t.Fatalf("hold a connection: %v", err)
						}
						held = append(held, conn)
					}
					return func() {
						for _, conn := range held {
							conn.Release()
						}
					}
				},
				Creates: func(s roster.UserStore) (bool, int) { return s.(*DB).creates.State() },
			})
		})
	}
}

func mustOpen(tb testing.TB, url string, opts Options) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

func mustOpenMigrated(tb testing.TB, url string, opts Options) *DB {
	tb.Helper()
	db := mustOpen(tb, url, opts)
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
	db := mustOpen(t, pgtest.NewDatabase(t), Options{})
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
			var got bool
			err := db.pool.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", "public."+table).Scan(&got)
			if err != nil {
				t.Fatalf("%s: look up table %s: %v", st.name, table, err)
			}
			if want := slices.Contains(st.wantTables, table); got != want {
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
	db := mustOpen(t, pgtest.NewDatabase(t), Options{})
	p := mustMigrator(t, db)
	if _, err := p.UpTo(t.Context(), 1); err != nil {
		t.Fatalf("migrate up to 1: %v", err)
	}
	_, err := db.pool.Exec(t.Context(),
		"INSERT INTO users (id, name, email, created_at, updated_at) VALUES ($1, 'Ada Lovelace', 'ada@example.com', now(), now())", uuid.New())
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	var got string
	if err := db.pool.QueryRow(t.Context(), "SELECT name_lower FROM users").Scan(&got); err != nil {
		t.Fatalf("select name_lower: %v", err)
	}
	if want := "ada lovelace"; got != want {
		t.Errorf("got name_lower %q, want %q", got, want)
	}
}

// Each keyed create deletes a few expired keys, so the table does not grow
// without bound.
func TestIdempotencyKeysPurged(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	count := func() (n int) {
		t.Helper()
		if err := db.pool.QueryRow(t.Context(), "SELECT count(*) FROM idempotency_keys").Scan(&n); err != nil {
			t.Fatalf("count keys: %v", err)
		}
		return n
	}
	storetest.CheckKeysPurged(t, db, count, purgeBatch)
}

// Instances that start together migrate together: the advisory lock must
// let exactly one apply each migration while the other waits and succeeds.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	providers := []*goose.Provider{
		mustMigrator(t, mustOpen(t, url, Options{})),
		mustMigrator(t, mustOpen(t, url, Options{})),
	}
	applied := make([]int, len(providers))
	errs := make([]error, len(providers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range providers {
		wg.Go(func() {
			<-start
			res, err := p.Up(t.Context())
			applied[i], errs[i] = len(res), err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Up %d: got error %v, want nil", i, err)
		}
	}
	// Versions may have gaps (a number taken by a branch not yet merged),
	// so the migrations are counted, not the last version.
	want := len(providers[0].ListSources())
	if got := applied[0] + applied[1]; got != want {
		t.Errorf("got %d migrations applied in total %v, want %d", got, applied, want)
	}
}

func TestAcquireTimeout(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{MaxConns: 1, MinConns: 0, AcquireTimeout: 100 * time.Millisecond})
	held, err := db.pool.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	_, err = db.User(t.Context(), uuid.New())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("User with the pool exhausted: got error %v, want %v", err, context.DeadlineExceeded)
	}
	if !strings.Contains(err.Error(), "pool exhausted") {
		t.Errorf("User with the pool exhausted: got error %q, want it to say the pool is exhausted", err)
	}

	held.Release()
	_, err = db.User(t.Context(), uuid.New())
	if !errors.Is(err, roster.ErrNotFound) {
		t.Fatalf("User after release: got error %v, want %v", err, roster.ErrNotFound)
	}
}

// A caller whose own deadline passes while waiting has not met an exhausted
// pool; its error must not blame the pool.
func TestAcquireCallerDeadline(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{MaxConns: 1, AcquireTimeout: time.Minute})
	held, err := db.pool.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer held.Release()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = db.User(ctx, uuid.New())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("User: got error %v, want %v", err, context.DeadlineExceeded)
	}
	if strings.Contains(err.Error(), "pool exhausted") {
		t.Errorf("User: got error %q, want no mention of the pool being exhausted", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	def := DefaultOptions()
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr bool
	}{
		{name: "zero", in: Options{}, want: def},
		{name: "sized pool keeps no idle connections", in: Options{MaxConns: 8},
			want: Options{MaxConns: 8, MinConns: 0, AcquireTimeout: def.AcquireTimeout, MaxConnIdleTime: def.MaxConnIdleTime, MaxConnLifetime: def.MaxConnLifetime, ReadWait: defaultReadWait}},
		{name: "min only", in: Options{MinConns: 2},
			want: Options{MaxConns: def.MaxConns, MinConns: 2, AcquireTimeout: def.AcquireTimeout, MaxConnIdleTime: def.MaxConnIdleTime, MaxConnLifetime: def.MaxConnLifetime, ReadWait: defaultReadWait}},
		{name: "all set", in: Options{MaxConns: 3, MinConns: 1, AcquireTimeout: time.Second, MaxConnIdleTime: time.Minute, MaxConnLifetime: time.Hour},
			want: Options{MaxConns: 3, MinConns: 1, AcquireTimeout: time.Second, MaxConnIdleTime: time.Minute, MaxConnLifetime: time.Hour, ReadWait: defaultReadWait}},
		{name: "min above max", in: Options{MaxConns: 2, MinConns: 3}, wantErr: true},
		{name: "negative max", in: Options{MaxConns: -1}, wantErr: true},
		{name: "negative min", in: Options{MinConns: -1}, wantErr: true},
		{name: "negative timeout", in: Options{AcquireTimeout: -time.Second}, wantErr: true},
		{name: "negative read wait", in: Options{ReadWait: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %t", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenInvalid(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts Options
	}{
		{"bad URL", "postgres://localhost:notaport/db", Options{}},
		{"bad options", "postgres://localhost/db", Options{MaxConns: 1, MinConns: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(t.Context(), tt.url, tt.opts)
			if err == nil {
				db.Close()
				t.Fatal("Open: got nil error, want an error")
			}
		})
	}
}

// Idempotency records written before migration 00006 still replay the
// user they recorded, and migrating down gives their columns back.
func TestMigrationKeepsIdempotencyRecords(t *testing.T) {
	db := mustOpen(t, pgtest.NewDatabase(t), Options{})
	p := mustMigrator(t, db)
	if _, err := p.UpTo(t.Context(), 5); err != nil {
		t.Fatalf("migrate up to 5: %v", err)
	}
	storetest.CheckKeyMigration(t, db, p, 5, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC), storetest.KeyMigration{
		InsertOld: func(u roster.User, k roster.Idempotency) {
			_, err := db.pool.Exec(t.Context(),
				`INSERT INTO idempotency_keys (subject, key, fingerprint, user_id, user_name, user_email, user_created_at, user_updated_at, created_at, expires_at)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				k.Subject, k.Key, k.Fingerprint, u.ID, u.Name, u.Email, u.CreatedAt, u.UpdatedAt, u.CreatedAt, k.ExpiresAt)
			if err != nil {
				t.Fatalf("insert: %v", err)
			}
		},
		ReadOld: func() (u roster.User) {
			err := db.pool.QueryRow(t.Context(), "SELECT user_id, user_name, user_email, user_created_at, user_updated_at FROM idempotency_keys").
				Scan(&u.ID, &u.Name, &u.Email, &u.CreatedAt, &u.UpdatedAt)
			if err != nil {
				t.Fatalf("select after migrating down: %v", err)
			}
			u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
			return u
		},
	})
}
