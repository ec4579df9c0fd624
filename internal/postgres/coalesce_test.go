package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
)

func mustCreateUsers(t *testing.T, db *DB, n int) []roster.User {
	t.Helper()
	users := make([]roster.User, n)
	at := time.Now().UTC().Truncate(time.Microsecond)
	for i := range users {
		u, _, err := db.CreateUser(t.Context(), roster.User{ID: uuid.Must(uuid.NewV7()), Name: fmt.Sprintf("Reader %d", i),
			Email: fmt.Sprintf("reader%d@example.com", i), CreatedAt: at, UpdatedAt: at}, nil)
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	return users
}

// Many concurrent gets, several of the same id and some of ids that do
// not exist, each get exactly its own answer, in every query mode (the
// id array goes as a parameter, binary or text).
func TestCoalescedReads(t *testing.T) {
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			db := mustOpenMigrated(t, pgtest.NewDatabase(t)+"&default_query_exec_mode="+mode, Options{MaxConns: 4})
			users := mustCreateUsers(t, db, 10)
			missing := []uuid.UUID{uuid.New(), uuid.New()}
			var wg sync.WaitGroup
			for round := range 3 {
				for i := range 60 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i%6 == 5 {
							id := missing[i%2]
							if _, err := db.User(t.Context(), id); !errors.Is(err, roster.ErrNotFound) {
								t.Errorf("round %d, missing %s: got %v, want ErrNotFound", round, id, err)
							}
							return
						}
						want := users[i%len(users)]
						got, err := db.User(t.Context(), want.ID)
						if err != nil || got != want {
							t.Errorf("round %d, get %s: got %+v, %v; want %+v", round, want.ID, got, err, want)
						}
					}()
				}
			}
			wg.Wait()
		})
	}
}

// A caller that gives up does not fail the others who wait for the same
// statement: with the only connection held, a first get is out (waiting
// for it) while two more gather in the next batch; one of them is
// cancelled, and when the connection comes back both the first and the
// remaining one get their users.
func TestCoalescedReadCancelledCallerLeavesOthers(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{MaxConns: 1, MinConns: 1, AcquireTimeout: time.Minute})
	users := mustCreateUsers(t, db, 3)
	held, err := db.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		u   roster.User
		err error
	}
	get := func(ctx context.Context, id uuid.UUID) <-chan result {
		ch := make(chan result, 1)
		go func() {
			u, err := db.User(ctx, id)
			ch <- result{u, err}
		}()
		return ch
	}
	waiting := func(n int) { // until the next batch has n callers
		for {
			if _, got := db.reads.users.State(); got == n {
				return
			}
			runtime.Gosched()
		}
	}
	first := get(t.Context(), users[0].ID)
	for { // the first one's statement is out
		if busy, waiting := db.reads.users.State(); busy && waiting == 0 {
			break
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancelled := get(ctx, users[1].ID)
	waiting(1)
	other := get(t.Context(), users[2].ID)
	waiting(2)
	cancel()
	if r := <-cancelled; !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled caller: got %+v, %v; want context.Canceled", r.u, r.err)
	}
	held.Release()
	for i, ch := range []<-chan result{first, other} {
		want := users[2*i]
		if r := <-ch; r.err != nil || r.u != want {
			t.Errorf("caller %d: got %+v, %v; want %+v", i, r.u, r.err, want)
		}
	}
}

// Concurrent lists, many of them identical (sharing a statement) and some
// not, each get exactly the page a list alone gets, in every query mode.
func TestSharedLists(t *testing.T) {
	for _, mode := range []string{"cache_statement", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			db := mustOpenMigrated(t, pgtest.NewDatabase(t)+"&default_query_exec_mode="+mode, Options{MaxConns: 4})
			users := mustCreateUsers(t, db, 30)
			scope := users[3].ID
			queries := []roster.ListQuery{
				{Limit: 10},
				{Limit: 10, Sort: roster.SortName},
				{Limit: 5, Offset: 5},
				{Limit: 10, After: &roster.Cursor{Sort: roster.SortNewest, CreatedAt: users[20].CreatedAt, ID: users[20].ID}},
				{Limit: 10, Filter: roster.UserFilter{Search: "reader1", SearchEmailOf: &scope}},
			}
			want := make([][]roster.User, len(queries))
			for i, q := range queries {
				var err error
				if want[i], err = db.ListUsers(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for i := range 200 {
				wg.Go(func() {
					q := queries[i%len(queries)]
					got, err := db.ListUsers(t.Context(), q)
					if err != nil || !slices.Equal(got, want[i%len(queries)]) {
						t.Errorf("list %d: got %d users, %v; want %d", i%len(queries), len(got), err, len(want[i%len(queries)]))
					}
					if len(got) > 0 {
						got[0].Name = "changed by a caller" // its own copy
					}
				})
			}
			wg.Wait()
		})
	}
}
