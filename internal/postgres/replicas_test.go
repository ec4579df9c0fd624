package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
)

func TestParseLSN(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0/0", 0, true},
		{"16/B374D848", 0x16_B374D848, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"0/16B3748", 0x16B3748, true},
		{"16B3748", 0, false},
		{"/1", 0, false},
		{"1/", 0, false},
		{"1/2/3", 0, false},
		{"100000000/0", 0, false},
		{"x/1", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseLSN(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseLSN(%q): got %X, %t; want %X, %t", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && formatLSN(got) != tt.in && tt.in != "0/16B3748" {
			t.Errorf("formatLSN(%X): got %q, want %q", got, formatLSN(got), tt.in)
		}
	}
}

// A real streaming replica (pg_basebackup -R), without and with a 500 ms
// apply delay. Instance A writes; instance B, another pool on the same
// primary and replica, reads with A's token and always sees the write,
// served by the replica once it has replayed it. Without the token B's
// read may miss it: how often is reported, not asserted (it is timing).
func TestReadYourWritesOnReplica(t *testing.T) {
	for _, delay := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run(fmt.Sprintf("apply delay %s", delay), func(t *testing.T) {
			primary := pgtest.NewCluster(t)
			ctx := t.Context()
			url, err := primary.CreateDatabase(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustOpenMigrated(t, url, Options{MaxConns: 2, MinConns: 0}).Close()
			replica := pgtest.NewReplica(t, primary, delay)
			cfg, _ := pgx.ParseConfig(url)
			readURL := replica.URL(cfg.Database)

			a := mustOpen(t, url, Options{ReadURLs: []string{readURL}})
			// B waits longer than the delay, so that the replica serves
			// its token reads (the default would send them to the primary).
			b := mustOpen(t, url, Options{ReadURLs: []string{readURL}, ReadWait: 3 * delay})

			const writes = 10
			var missed int
			for i := range writes {
				wctx, tok := consistency.NewContext(ctx, "")
				now := time.Now()
				u, _, err := a.CreateUser(wctx, roster.User{ID: uuid.New(), Name: "Ada", Email: fmt.Sprintf("ada%d@example.com", i), CreatedAt: now, UpdatedAt: now}, nil)
				if err != nil {
					t.Fatalf("create on A: %v", err)
				}
				token := tok.Committed()
				if _, ok := parseLSN(token); !ok {
					t.Fatalf("create on A: got consistency token %q, want a WAL position", token)
				}

				// Without the token first, so that it races the replay.
				if _, err := b.User(ctx, u.ID); errors.Is(err, roster.ErrNotFound) {
					missed++
				} else if err != nil {
					t.Fatalf("read on B without the token: %v", err)
				}
				rctx, _ := consistency.NewContext(ctx, token)
				got, err := b.User(rctx, u.ID)
				if err != nil || got.Email != u.Email {
					t.Fatalf("read on B with A's token %s: got %v, %v; want the user just created", token, got, err)
				}

				uctx, tok := consistency.NewContext(ctx, "")
				if _, err := a.UpdateUser(uctx, u.ID, roster.UserUpdate{Name: new("Grace")}, time.Now()); err != nil {
					t.Fatalf("update on A: %v", err)
				}
				lctx, _ := consistency.NewContext(ctx, tok.Committed())
				list, err := b.ListUsers(lctx, roster.ListQuery{Filter: roster.UserFilter{Email: u.Email}, Limit: 10})
				if err != nil || len(list) != 1 || list[0].Name != "Grace" {
					t.Fatalf("list on B with A's update token: got %v, %v; want the user renamed Grace", list, err)
				}
			}
			onReplica, onPrimary := b.ReadCounts()
			t.Logf("apply delay %s: without the token, %d of %d reads on B right after A's write missed it; B's reads: %d on the replica, %d on the primary",
				delay, missed, writes, onReplica, onPrimary)
			if onReplica < 2*writes {
				t.Errorf("got %d of B's reads on the replica, want at least the %d with a token", onReplica, 2*writes)
			}
			st := b.Replicas(ctx)
			if len(st) != 1 || st[0].LagBytes < 0 || st[0].Name == "" {
				t.Errorf("Replicas: got %+v, want one replica with a lag", st)
			}
		})
	}
}

// A token the replica cannot reach in time sends the read to the primary;
// so does one that is no WAL position.
func TestReadFallsBackToPrimary(t *testing.T) {
	primary := pgtest.NewCluster(t)
	ctx := t.Context()
	url, err := primary.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustOpenMigrated(t, url, Options{MaxConns: 2, MinConns: 0}).Close()
	replica := pgtest.NewReplica(t, primary, time.Hour) // replays nothing within the test
	cfg, _ := pgx.ParseConfig(url)
	db := mustOpen(t, url, Options{ReadURLs: []string{replica.URL(cfg.Database)}, ReadWait: 50 * time.Millisecond})

	wctx, tok := consistency.NewContext(ctx, "")
	now := time.Now()
	u, _, err := db.CreateUser(wctx, roster.User{ID: uuid.New(), Name: "Ada", Email: "ada@example.com", CreatedAt: now, UpdatedAt: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{tok.Committed(), "not-a-position"} {
		rctx, _ := consistency.NewContext(ctx, token)
		if _, err := db.User(rctx, u.ID); err != nil {
			t.Errorf("read with token %q: got %v, want the user from the primary", token, err)
		}
	}
	if _, err := db.User(ctx, u.ID); !errors.Is(err, roster.ErrNotFound) {
		t.Errorf("read without a token: got %v, want not found (from the replica, an hour behind)", err)
	}
	if onReplica, onPrimary := db.ReadCounts(); onReplica != 1 || onPrimary != 2 {
		t.Errorf("got %d reads on the replica and %d on the primary, want 1 and 2", onReplica, onPrimary)
	}
}
