package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/batch"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
)

// readers coalesces the reads on one pool (the primary's or a replica's).
type readers struct {
	users *userReads
	lists *listReads
}

func (db *DB) newReaders(pool *pgxpool.Pool) readers {
	return readers{users: db.newUserReads(pool), lists: db.newListReads(pool)}
}

// userReads coalesces concurrent get-by-id reads on one pool (the
// primary's or a replica's) into one GetUsers statement (internal/batch):
// a read that finds none out runs GetUser at once, on its own goroutine,
// as if there were no coalescing; those that arrive while a statement is
// out ride the next, which takes all of them. Under load, 64 concurrent
// gets cost about two round trips and two statements instead of 64 of
// each. Each answer is still a committed state read at query time, as a
// single read's would be. A batch has as many ids as callers in flight
// (bounded by the HTTP layer's --max-inflight), so it needs no cap.
type userReads = batch.Batcher[uuid.UUID, userRead]

// userRead is one id's answer: the user, or found false.
type userRead struct {
	user  pgdb.User
	found bool
}

// newUserReads returns the coalescer of get-by-id reads on pool.
func (db *DB) newUserReads(pool *pgxpool.Pool) *userReads {
	return batch.New("postgres.GetUsers batch", func(ctx context.Context, ids []uuid.UUID) ([]userRead, error) {
		return db.readUsers(ctx, pool, ids)
	})
}

// coalescedUser returns the user with the given id, read together with
// the concurrent reads of other callers.
func (db *DB) coalescedUser(ctx context.Context, r *userReads, id uuid.UUID) (roster.User, error) {
	res, err := r.Do(ctx, id)
	if err != nil {
		return roster.User{}, storeError("get user", err)
	}
	if !res.found {
		return roster.User{}, roster.ErrNotFound
	}
	return user(res.user), nil
}

// readUsers answers ids on a pooled connection of pool: one id with
// GetUser, more with one GetUsers (an id given twice matches its row
// once, and both callers get it).
func (db *DB) readUsers(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) ([]userRead, error) {
	out := make([]userRead, len(ids))
	if len(ids) == 1 {
		err := db.useOn(ctx, pool, func(conn *pgxpool.Conn) (err error) {
			out[0].user, err = pgdb.New(conn).GetUser(ctx, ids[0])
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return out, nil
		}
		out[0].found = err == nil
		return out, err
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
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		out[i].user, out[i].found = users[id]
	}
	return out, nil
}

// listReads lets identical concurrent page-mode list queries share one statement
// (batch.Shared): a query none like it is out for runs at once; the same
// query arriving while it is out waits for the next run, which answers
// every caller that gathered. So a caller never gets rows read before it
// arrived, and a popular page (the first, say) costs one statement per
// round trip however many ask for it. A query that no other caller makes
// at the same moment costs what it did without sharing.
type listReads = batch.Shared[listKey, []roster.User]

// listKey is a ListQuery as a map key: the same key, the same rows. A
// search scoped to one caller's email (SearchEmailOf) is keyed by that
// caller, so callers share only what each would have been given.
type listKey struct {
	filter roster.UserFilter // SearchEmailOf nil: in scope
	scope  uuid.UUID
	scoped bool
	sort   roster.Sort
	limit  int
	offset int
}

// keyOf is the key of q, a page-mode query (no After).
func keyOf(q roster.ListQuery) listKey {
	k := listKey{filter: q.Filter, sort: q.Sort, limit: q.Limit, offset: q.Offset}
	if q.Filter.SearchEmailOf != nil {
		k.filter.SearchEmailOf, k.scope, k.scoped = nil, *q.Filter.SearchEmailOf, true
	}
	return k
}

func (k listKey) query() roster.ListQuery {
	q := roster.ListQuery{Filter: k.filter, Sort: k.sort, Limit: k.limit, Offset: k.offset}
	if k.scoped {
		q.Filter.SearchEmailOf = &k.scope
	}
	return q
}

func (db *DB) newListReads(pool *pgxpool.Pool) *listReads {
	return batch.NewShared("postgres.ListUsers shared", func(ctx context.Context, k listKey) ([]roster.User, error) {
		return db.listOn(ctx, pool, k.query())
	})
}
