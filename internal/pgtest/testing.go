package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// One cluster per test binary, started on first use and stopped by Main.
var shared struct {
	sync.Mutex
	cluster *Cluster
	err     error
	started bool
	// The binary's PgBouncer in front of the cluster, started on the
	// first NewPooledDatabase.
	bouncer        *Bouncer
	bouncerErr     error
	bouncerStarted bool
}

// NewDatabase returns the URL of a new, empty database on the test
// binary's shared cluster. Without PostgreSQL installed the test is
// skipped, unless CI=true, where it fails: CI must not go green by
// silently testing one engine.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	shared.Lock()
	c, err := sharedCluster()
	shared.Unlock()
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
			tb.Skipf("%v (install PostgreSQL to run these tests; CI=true makes this a failure)", err)
		}
		tb.Fatal(err)
	}
	return createDatabase(tb, c)
}

// sharedCluster starts the shared cluster on first use; shared is locked.
func sharedCluster() (*Cluster, error) {
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		shared.cluster, shared.err = Start(ctx)
		cancel()
	}
	return shared.cluster, shared.err
}

// NewPooledDatabase creates a new, empty database on the shared cluster
// and returns its URL direct to PostgreSQL and its URL through the test
// binary's PgBouncer (transaction pooling, 20 server connections per
// database). Without PostgreSQL or pgbouncer installed the test is
// skipped, unless CI=true, where it fails.
func NewPooledDatabase(tb testing.TB) (direct, pooled string) {
	tb.Helper()
	shared.Lock()
	c, err := sharedCluster()
	if err == nil && !shared.bouncerStarted {
		shared.bouncerStarted = true
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		shared.bouncer, shared.bouncerErr = StartBouncer(ctx, c, BouncerOptions{})
		cancel()
	}
	b := shared.bouncer
	if err == nil {
		err = shared.bouncerErr
	}
	shared.Unlock()
	if err != nil {
		if (errors.Is(err, ErrNotInstalled) || errors.Is(err, ErrNoPgBouncer)) && os.Getenv("CI") != "true" {
			tb.Skipf("%v (install PostgreSQL and pgbouncer to run these tests; CI=true makes this a failure)", err)
		}
		tb.Fatal(err)
	}
	direct = createDatabase(tb, c)
	return direct, b.Via(direct)
}

func createDatabase(tb testing.TB, c *Cluster) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := c.CreateDatabase(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return url
}

// Main runs the tests and then stops the shared cluster, if one started.
// Use it as the package's TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	shared.Lock()
	if shared.bouncer != nil {
		if err := shared.bouncer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop pgbouncer:", err)
		}
	}
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop:", err)
		}
	}
	shared.Unlock()
	os.Exit(code)
}

// NewCluster starts a durable cluster of the test's own, stopped at its
// end: for tests that crash or restart the server, which the shared one
// must not.
// Without PostgreSQL installed the test is skipped (failed with CI=true).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := StartDurable(ctx)
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
			tb.Skipf("%v (install PostgreSQL to run these tests; CI=true makes this a failure)", err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return c
}
