package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUserStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) roster.UserStore {
		return mustOpenMigrated(t, pgtest.NewDatabase(t), Options{})
	})
}

func mustOpen(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	db, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func mustOpenMigrated(t *testing.T, url string, opts Options) *DB {
	t.Helper()
	db := mustOpen(t, url, opts)
	if _, err := mustMigrator(t, db).Up(t.Context()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return db
}

func mustMigrator(t *testing.T, db *DB) *goose.Provider {
	t.Helper()
	p, err := db.Migrator()
	if err != nil {
		t.Fatalf("Migrator: %v", err)
	}
	return p
}

func TestMigrationsUpDownUp(t *testing.T) {
	db := mustOpen(t, pgtest.NewDatabase(t), Options{})
	p := mustMigrator(t, db)
	steps := []struct {
		name      string
		run       func(context.Context) error
		wantTable bool
	}{
		{"up", func(ctx context.Context) error { _, err := p.Up(ctx); return err }, true},
		{"down to 0", func(ctx context.Context) error { _, err := p.DownTo(ctx, 0); return err }, false},
		{"up again", func(ctx context.Context) error { _, err := p.Up(ctx); return err }, true},
	}
	for _, st := range steps {
		if err := st.run(t.Context()); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got bool
		err := db.pool.QueryRow(t.Context(), "SELECT to_regclass('public.users') IS NOT NULL").Scan(&got)
		if err != nil {
			t.Fatalf("%s: look up table: %v", st.name, err)
		}
		if got != st.wantTable {
			t.Fatalf("after %s: got users table %t, want %t", st.name, got, st.wantTable)
		}
	}
	if _, err := db.ListUsers(t.Context(), 1, 0); err != nil {
		t.Fatalf("ListUsers after up again: got error %v, want nil", err)
	}
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
	_, want, err := providers[0].GetVersions(t.Context())
	if err != nil {
		t.Fatalf("GetVersions: %v", err)
	}
	if got := applied[0] + applied[1]; got != int(want) {
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
			want: Options{MaxConns: 8, MinConns: 0, AcquireTimeout: def.AcquireTimeout, MaxConnIdleTime: def.MaxConnIdleTime, MaxConnLifetime: def.MaxConnLifetime}},
		{name: "min only", in: Options{MinConns: 2},
			want: Options{MaxConns: def.MaxConns, MinConns: 2, AcquireTimeout: def.AcquireTimeout, MaxConnIdleTime: def.MaxConnIdleTime, MaxConnLifetime: def.MaxConnLifetime}},
		{name: "all set", in: Options{MaxConns: 3, MinConns: 1, AcquireTimeout: time.Second, MaxConnIdleTime: time.Minute, MaxConnLifetime: time.Hour},
			want: Options{MaxConns: 3, MinConns: 1, AcquireTimeout: time.Second, MaxConnIdleTime: time.Minute, MaxConnLifetime: time.Hour}},
		{name: "min above max", in: Options{MaxConns: 2, MinConns: 3}, wantErr: true},
		{name: "negative max", in: Options{MaxConns: -1}, wantErr: true},
		{name: "negative min", in: Options{MinConns: -1}, wantErr: true},
		{name: "negative timeout", in: Options{AcquireTimeout: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %t", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
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
