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
// GetUser, more (identical ones share an answer) with one GetUsers.
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
	arg := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, dup := users[id]; !dup {
			users[id] = pgdb.User{}
			arg = append(arg, id.String())
		}
	}
	clear(users)
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
