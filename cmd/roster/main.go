// Command roster is the roster users service: one binary that serves the
// API, migrates the database and issues tokens.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a problem with the command line or configuration: it is
// reported in one line and exits with status 2, before anything is opened.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode prints err on one line of stderr, prefixed by the command
// that failed ("roster serve: …", or "roster: …" before one is known),
// and returns the exit status: 2 for usage errors, 1 for the rest.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	prefix := "roster"
	var ce *commandError
	if errors.As(err, &ce) {
		prefix += " " + ce.cmd
	}
	fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// run is the whole program, with its environment passed in so that tests
// can drive it like a user would. lookupEnv is os.LookupEnv's kind: a
// variable set but empty is told from one unset.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, environment{lookupEnv: lookupEnv, stdin: stdin, stdout: stdout, stderr: stderr})
}

// runEnv is run with the whole environment given, clock included.
func runEnv(ctx context.Context, args []string, env environment) error {
	if len(args) == 0 {
		// Not a request for help: a script that runs "roster $CMD" with
		// $CMD unset must fail.
		_ = runEnv(ctx, []string{"--help"}, environment{lookupEnv: env.lookupEnv, stdin: env.stdin, stdout: env.stderr, stderr: env.stderr})
		return usagef("no command given")
	}
	cmd, name, src, err := parse(args, env)
	if err != nil || cmd == nil {
		return err
	}
	if err := cmd.run(ctx, src, env); err != nil {
		var ce *commandError
		if errors.As(err, &ce) {
			return err
		}
		return &commandError{cmd: name, err: err}
	}
	return nil
}

// environment is what a subcommand may touch of the outside world.
type environment struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	// after is the clock of waits such as the drain delay; nil is
	// time.After. Tests end the wait when they choose.
	after func(time.Duration) <-chan time.Time
}

func (e environment) timer(d time.Duration) <-chan time.Time {
	if e.after == nil {
		return time.After(d)
	}
	return e.after(d)
}

// getenv is the variable's value, empty when unset.
func (e environment) getenv(name string) string {
	v, _ := e.lookupEnv(name)
	return v
}
