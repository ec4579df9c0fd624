package postgres

import (
	"context"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

// userReads coalesces concurrent get-by-id reads into one GetUsers
// statement: at most one runs at a time; the first read goes at once, and
// those that arrive while a statement is out wait for the next, which
// takes all of them. No timer: an idle server adds no wait. Under load,
// 64 concurrent gets cost about two round trips and two statements
// instead of 64 of each. Each answer is still a committed state read at
// query time, as a single read's would be. Its zero value is ready.
type userReads struct {
	pool    *pgxpool.Pool // where they are read; nil: the primary
	mu      sync.Mutex
	running bool       // a statement is out (run's goroutine is live)
	next    *readBatch // reads waiting for the next statement
}

// readBatch is the reads one statement answers. Callers wait on done; a
// caller that gives up leaves the others waiting, and the statement is
// cancelled only when every one of them has given up.
type readBatch struct {
	ids     []uuid.UUID // distinct
	want    map[uuid.UUID]struct{}
	waiters int // callers still waiting; guarded by userReads.mu
	ctx     context.Context
	cancel  context.CancelFunc

	done  chan struct{}
	users map[uuid.UUID]pgdb.User // set before done is closed
	err   error
}

// coalescedUser returns the user with the given id, read together with
// the concurrent reads of other callers.
func (db *DB) coalescedUser(ctx context.Context, r *userReads, id uuid.UUID) (roster.User, error) {
	r.mu.Lock()
	// A batch has as many ids as callers in flight (bounded by the HTTP
	// layer's --max-inflight), so it needs no cap of its own.
	b := r.next
	if b == nil {
		// The batch's context is its own: one caller's cancellation must
		// not fail the others' reads. It ends when the statement has
		// returned or every caller has gone.
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		b = &readBatch{want: map[uuid.UUID]struct{}{}, ctx: bctx, cancel: cancel, done: make(chan struct{})}
		r.next = b
	}
	if _, ok := b.want[id]; !ok {
		b.want[id] = struct{}{}
		b.ids = append(b.ids, id)
	}
	b.waiters++
	if !r.running {
		r.running, r.next = true, nil
		go db.runReads(r, b)
	}
	r.mu.Unlock()

	select {
	case <-b.done:
	case <-ctx.Done():
		r.mu.Lock()
		if b.waiters--; b.waiters == 0 {
			b.cancel()
		}
		r.mu.Unlock()
		return roster.User{}, ctx.Err()
	}
	if b.err != nil {
		return roster.User{}, storeError("get user", b.err)
	}
	row, ok := b.users[id]
	if !ok {
		return roster.User{}, roster.ErrNotFound
	}
	return user(row), nil
}

// runReads answers b, then each batch that gathered meanwhile, until none
// is waiting. It is the one goroutine of r while r.running.
func (db *DB) runReads(r *userReads, b *readBatch) {
	for b != nil {
		b.users, b.err = db.readUsers(b.ctx, r.pool, b.ids)
		b.cancel()
		close(b.done)
		r.mu.Lock()
		b, r.next = r.next, nil
		r.running = b != nil
		r.mu.Unlock()
	}
}

// readUsers runs GetUsers on a pooled connection of pool (the primary's
// when nil).
func (db *DB) readUsers(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) (map[uuid.UUID]pgdb.User, error) {
	if pool == nil {
		pool = db.pool
	}
	users := make(map[uuid.UUID]pgdb.User, len(ids))
	arg := make([]string, len(ids))
	for i, id := range ids {
		arg[i] = id.String()
	}
	err := db.useOn(ctx, pool, func(conn *pgxpool.Conn) error {
		rows, err := pgdb.New(conn).GetUsers(ctx, arg)
		for _, u := range rows {
			users[u.ID] = u
		}
		return err
	})
	return users, err
}
