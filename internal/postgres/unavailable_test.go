package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rosterhq/roster/internal/outage"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/roster"
)

func TestUnavailableClassifier(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", fmt.Errorf("acquire connection: %w", dial), true},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"unexpected EOF", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"EOF", io.EOF, true},
		{"acquire timeout", fmt.Errorf("acquire connection: %w: %w", errAcquireTimeout, context.DeadlineExceeded), true},
		{"admin_shutdown 57P01", pg("57P01"), true},
		{"crash_shutdown 57P02", pg("57P02"), true},
		{"cannot_connect_now 57P03", pg("57P03"), true},
		{"too_many_connections 53300", pg("53300"), true},
		{"connection_failure 08006", pg("08006"), true},
		{"connection_does_not_exist 08003", pg("08003"), true},
		{"unique_violation", pg("23505"), false},
		{"syntax error", pg("42601"), false},
		{"query_canceled", pg("57014"), false},
		{"no rows", pgx.ErrNoRows, false},
		{"not found", roster.ErrNotFound, false},
		{"deadline of the caller", context.DeadlineExceeded, false},
		{"canceled", context.Canceled, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unavailable(tt.err); got != tt.want {
				t.Errorf("unavailable(%v): got %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	// A callback's network error is the client's, not the database's.
	db := &DB{outage: outage.New("database", nil)}
	if err := db.check(context.Background(), fromCaller(dial)); roster.ErrorCode(err) == roster.CodeUnavailable || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a caller's network error: got %v, want it passed through", err)
	}
}

// syncBuffer is a log destination for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestOutage stops PostgreSQL the hard way (pg_ctl stop -m immediate)
// under an open pool: every call answers roster's UNAVAILABLE, from the
// acquire or the broken connections alike, the outage is logged once,
// and after a restart the same pool serves again and says so.
func TestOutage(t *testing.T) {
	c := pgtest.NewCluster(t)
	url, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	db := mustOpenMigrated(t, url, Options{MaxConns: 4, MinConns: 4, AcquireTimeout: 500 * time.Millisecond})
	logs := &syncBuffer{}
	db.SetLogger(slog.New(slog.NewTextHandler(logs, nil)))
	ctx := context.Background()
	newUser := func(i int) roster.User {
		now := time.Now()
		return roster.User{ID: uuid.New(), Name: fmt.Sprint("U", i), Email: fmt.Sprintf("u%d-%d@example.com", i, now.UnixNano()), CreatedAt: now, UpdatedAt: now}
	}
	if _, _, err := db.CreateUser(ctx, newUser(0), nil); err != nil {
		t.Fatal(err)
	}

	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"CreateUser": func() error { _, _, err := db.CreateUser(ctx, newUser(1), nil); return err },
		"User":       func() error { _, err := db.User(ctx, uuid.New()); return err },
		"ListUsers":  func() error { _, err := db.ListUsers(ctx, roster.ListQuery{Limit: 10}); return err },
		"DeleteUser": func() error { return db.DeleteUser(ctx, uuid.New(), nil, time.Now()) },
		"Ping":       func() error { return db.Ping(ctx) },
	}
	for range 3 { // the pooled connections break first, then dials fail
		for name, call := range calls {
			err := call()
			var re *roster.Error
			if !errors.As(err, &re) || re.Code != roster.CodeUnavailable {
				t.Errorf("%s with the database down: got %v, want a roster error with code UNAVAILABLE", name, err)
			}
		}
	}
	if n := strings.Count(logs.String(), `msg="database unavailable"`); n != 1 {
		t.Errorf("got %d outage lines, want 1:\n%s", n, logs.String())
	}

	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The same pool recovers without a restart of its own.
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, _, last = db.CreateUser(ctx, newUser(2), nil); last == nil {
			break
		}
	}
	if last != nil {
		t.Fatalf("after restart: %v", last)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	if !strings.Contains(logs.String(), `msg="database available again"`) {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}

// TestPingBesideFullPool: readiness must not wait behind requests that
// hold every pooled connection; it checks on a connection of its own.
func TestPingBesideFullPool(t *testing.T) {
	db := mustOpenMigrated(t, pgtest.NewDatabase(t), Options{MaxConns: 2, AcquireTimeout: time.Minute})
	for range 2 {
		conn, err := db.pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping with every pooled connection busy: %v", err)
	}
}
