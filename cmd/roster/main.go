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

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "roster:", err)
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
		printUsage(env.stdout)
		return nil
	}
	name, rest := args[0], args[1:]
	switch name {
	case "serve":
		return serve(ctx, rest, env)
	case "migrate":
		return migrate(ctx, rest, env)
	case "token":
		return token(rest, env)
	case "import":
		return importCmd(ctx, rest, env)
	case "export":
		return exportCmd(ctx, rest, env)
	case "version", "--version":
		return showVersion(rest, env)
	case "help", "-h", "-help", "--help":
		return help(rest, env)
	}
	return usagef("unknown command %q (see roster help)", name)
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

const usageText = `roster — a users service.

Usage:
  roster <command> [flags]

Commands:
  serve     run the HTTP API (SQLite in ./roster.db unless DATABASE_URL is set)
  migrate   apply, roll back or show database migrations (up|down|status)
  token     print a signed JWT for the API
  import    import users from an NDJSON, JSON or CSV file (into a server, or a database with --db)
  export    export users as NDJSON or CSV (from a server, or a database with --db)
  version   print version, commit and Go version
  help      show help for a command

Every flag can also be set by an environment variable, shown in each
command's help ("roster <command> --help").
`

func printUsage(w io.Writer) { fmt.Fprint(w, usageText) }

func help(args []string, env environment) error {
	if len(args) == 0 {
		printUsage(env.stdout)
		return nil
	}
	switch args[0] {
	case "serve", "migrate", "token", "version", "import", "export":
		return run(context.Background(), []string{args[0], "--help"}, env.lookupEnv, env.stdin, env.stdout, env.stderr)
	}
	return usagef("unknown command %q (see roster help)", args[0])
}
