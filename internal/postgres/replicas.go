package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/roster"
)

// Read replicas with read-your-writes.
//
// List, get, count and export read from a streaming replica, round robin;
// writes, idempotency look-ups, conditional writes and the change feed stay
// on the primary. A replica lags: a read that presents the consistency
// token of a write (consistency.After: the WAL insert position on the
// primary just after that write committed, which is at or past the end of
// its commit record) goes to a replica only once that replica has replayed
// that far (pg_last_wal_replay_lsn), waiting up to ReadWait for one, and
// otherwise to the primary. So a client that carries the token of its last
// write sees it from any instance. A replica that fails a read with an
// outage error is skipped for that read: the primary answers.

// defaultReadWait is Options.ReadWait's default: a replica that is more
// than this behind is lagging, not catching up, and the primary answers
// sooner.
const defaultReadWait = 250 * time.Millisecond

// replicaPoll is how often a waiting read asks a lagging replica again.
const replicaPoll = 5 * time.Millisecond

// replica is one read replica's pool and get-by-id coalescer.
type replica struct {
	name  string // host:port, for metrics and logs
	pool  *pgxpool.Pool
	reads readers
	// replayed is the replay position last seen (a cache: it only grows).
	replayed atomic.Uint64
}

func openReplicas(ctx context.Context, opts Options) ([]*replica, error) {
	var rs []*replica
	for _, url := range opts.ReadURLs {
		pool, err := newPool(ctx, url, opts)
		if err != nil {
			for _, r := range rs {
				r.pool.Close()
			}
			return nil, fmt.Errorf("read replica: %w", err)
		}
		cc := pool.Config().ConnConfig
		r := &replica{name: cc.Host + ":" + strconv.Itoa(int(cc.Port)), pool: pool}
		rs = append(rs, r)
	}
	return rs, nil
}

// parseLSN parses a pg_lsn's text ("16/B374D848").
func parseLSN(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return h<<32 | l, true
}

func formatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, lsn&0xFFFFFFFF) }

// noteCommit records, for a request that tracks consistency tokens, the
// primary's WAL insert position after a write committed on conn. Only a
// DB with replicas pays the round trip: without them every read is on the
// primary, and consistent.
func (db *DB) noteCommit(ctx context.Context, conn *pgxpool.Conn) error {
	if len(db.replicas) == 0 || !consistency.Tracked(ctx) {
		return nil
	}
	if pos := db.commitPosition(ctx, conn); pos != "" {
		consistency.Commit(ctx, pos)
	}
	return nil
}

// commitPosition returns the primary's WAL insert position after a write
// committed on conn, or "" without replicas. A failure to read it is ""
// too: the write has committed, and failing it now would invite a retry
// that writes twice. The client just gets no token.
func (db *DB) commitPosition(ctx context.Context, conn *pgxpool.Conn) string {
	if len(db.replicas) == 0 {
		return ""
	}
	var pos string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&pos); err != nil {
		return ""
	}
	return pos
}

// replayLSN asks r how far it has replayed. A server that is not in
// recovery (a promoted replica, or a primary given as a replica) is
// current: its own insert position.
func (r *replica) replayLSN(ctx context.Context) (uint64, error) {
	var s string
	err := r.pool.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_insert_lsn())::text").Scan(&s)
	if err != nil {
		return 0, err
	}
	lsn, ok := parseLSN(s)
	if !ok {
		return 0, fmt.Errorf("replay position %q", s)
	}
	for {
		old := r.replayed.Load()
		if lsn <= old || r.replayed.CompareAndSwap(old, lsn) {
			return max(lsn, old), nil
		}
	}
}

// reader picks the replica a read of ctx's request goes to, or nil for
// the primary.
func (db *DB) reader(ctx context.Context) *replica {
	n := len(db.replicas)
	if n == 0 {
		return nil
	}
	first := int(db.next.Add(1)) % n
	token := consistency.After(ctx)
	if token == "" {
		return db.replicas[first]
	}
	want, ok := parseLSN(token)
	if !ok {
		return nil // not ours (another deployment's, or garbled): the primary is always current
	}
	deadline := time.Now().Add(db.readWait)
	for {
		for i := range n {
			r := db.replicas[(first+i)%n]
			if r.replayed.Load() >= want {
				return r
			}
			qctx, cancel := context.WithDeadline(ctx, deadline)
			lsn, err := r.replayLSN(qctx)
			cancel()
			if err == nil && lsn >= want {
				return r
			}
		}
		if ctx.Err() != nil || !time.Now().Add(replicaPoll).Before(deadline) {
			return nil
		}
		t := time.NewTimer(replicaPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// read runs fn on the pool (and get-by-id coalescer) reader picks; when a
// replica fails it with an outage, on the primary's.
func (db *DB) read(ctx context.Context, fn func(pool *pgxpool.Pool, reads *readers) error) error {
	r := db.reader(ctx)
	if r == nil {
		if len(db.replicas) > 0 {
			db.primaryReads.Add(1)
		}
		return fn(db.pool, &db.reads)
	}
	err := fn(r.pool, &r.reads)
	if err != nil && errors.Is(err, roster.ErrUnavailable) && ctx.Err() == nil {
		db.primaryReads.Add(1)
		return fn(db.pool, &db.reads)
	}
	db.replicaReads.Add(1)
	return err
}

// ReplicaStatus is one read replica's state, for metrics.
type ReplicaStatus struct {
	Name string
	// LagBytes is how much WAL the primary has written that the replica
	// has not replayed; -1 when either could not be asked.
	LagBytes float64
}

// Replicas reports each read replica's lag behind the primary.
func (db *DB) Replicas(ctx context.Context) []ReplicaStatus {
	if len(db.replicas) == 0 {
		return nil
	}
	var primary string
	perr := db.pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&primary)
	head, ok := parseLSN(primary)
	out := make([]ReplicaStatus, len(db.replicas))
	for i, r := range db.replicas {
		out[i] = ReplicaStatus{Name: r.name, LagBytes: -1}
		lsn, err := r.replayLSN(ctx)
		if perr == nil && ok && err == nil {
			out[i].LagBytes = float64(head - min(lsn, head))
		}
	}
	return out
}

// ReadCounts returns how many reads replicas served and how many went to
// the primary instead (behind the token, or the replica down), since Open.
func (db *DB) ReadCounts() (replica, primary int64) {
	return db.replicaReads.Load(), db.primaryReads.Load()
}
