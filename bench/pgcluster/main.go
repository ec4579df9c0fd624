// Command pgcluster runs a throwaway PostgreSQL cluster for bench/run, with
// the same helper as the tests (internal/pgtest). It prints the URL of a
// fresh database on stdout, then keeps the cluster until SIGINT or SIGTERM
// arrives or its standard input closes, and stops it and removes its
// directory. The stdin rule lets a shell script own the cluster's lifetime:
// it holds a pipe open, and the cluster goes away when the script does,
// even when the script is killed without a chance to clean up.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := pgtest.Start(startCtx)
	if err != nil {
		return err
	}
	url, err := c.CreateDatabase(startCtx)
	if err != nil {
		return fmt.Errorf("%w (stop: %v)", err, c.Stop())
	}
	if _, err := fmt.Fprintln(stdout, url); err != nil {
		return fmt.Errorf("%w (stop: %v)", err, c.Stop())
	}

	// The reader blocks in a read of stdin that nothing can interrupt; it
	// ends with the process, which exits right after the cluster stops.
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-ctx.Done():
	case <-closed:
	}
	return c.Stop()
}
