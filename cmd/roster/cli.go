package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/rosterhq/roster/internal/httpapi"
)

// cli is the command line: kong parses it (flags anywhere, one help
// format, typed values); the environment is read by envResolver, and only
// for flags tagged `environ`, which are server settings. Client filters and
// token claims have no such tag: a variable exported for one command must
// not change what another does.
type cli struct {
	Version kong.VersionFlag `hidden:"" help:"Print the version and exit."`

	Serve     serveConfig `cmd:"" help:"Run the HTTP API (SQLite in ./roster.db unless DATABASE_URL is set)."`
	Migrate   migrateCmd  `cmd:"" help:"Apply, roll back or show database migrations (up|down|status)."`
	Token     tokenCmd    `cmd:"" help:"Print a signed JWT for the API."`
	Import    importCmd   `cmd:"" help:"Import users from an NDJSON, JSON or CSV file (into a server, or a database with --db)."`
	Export    exportCmd   `cmd:"" help:"Export users as NDJSON or CSV (from a server, or a database with --db)."`
	VersionOf versionCmd  `cmd:"" name:"version" help:"Print version, commit and Go version."`
	Help      helpCmd     `cmd:"" help:"Show help for a command."`
}

// command is what every subcommand does once its flags are in.
type command interface {
	run(ctx context.Context, fs *flagSources, env environment) error
}

// argsHelp is implemented by commands with positional arguments: it says
// what they want when they are missing.
type argsHelp interface{ wantArgs() string }

const appDescription = `roster — a users service.

Server settings (serve, migrate, and the secret of token) can also come
from environment variables, named in each command's help. Client filters
and token claims are flags only.`

// flagSources tells, after parsing, where each flag came from.
type flagSources struct {
	// given maps a flag set explicitly to where ("--addr", "PORT"); blank
	// maps a flag given an empty value to where, which the value alone
	// cannot tell from an unset default.
	given map[string]string
	blank map[string]string
}

// explicit reports whether the flag was set on the command line or by a
// non-empty environment variable, rather than left at its default.
func (fs *flagSources) explicit(name string) bool {
	_, ok := fs.given[name]
	return ok
}

// setEmpty returns where the flag was given an empty value: "--name" on
// the command line, or the first of its environment variables that is
// set but empty when none of them has a value.
func (fs *flagSources) setEmpty(name string) (string, bool) {
	src, ok := fs.blank[name]
	return src, ok
}

// envNames lists the environment variables of a flag, in precedence order:
// ROSTER_<FLAG>, then the conventional names of its environ tag (PORT,
// DATABASE_URL, …). A flag without the tag reads none.
func envNames(f *kong.Flag) []string {
	if f.Tag == nil || !f.Tag.Has("environ") {
		return nil
	}
	own := "ROSTER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
	names := []string{own}
	for n := range strings.SplitSeq(f.Tag.Get("environ"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// envResolver gives kong the value of a flag not on the command line from
// the first of its variables that is set and not empty. It reads through
// lookupEnv, so tests pass an environment instead of mutating the process.
func envResolver(lookupEnv func(string) (string, bool), src *flagSources) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		for _, name := range envNames(f) {
			v, set := lookupEnv(name)
			if v == "" {
				if _, seen := src.blank[f.Name]; set && !seen {
					src.blank[f.Name] = name
				}
				continue
			}
			delete(src.blank, f.Name)
			if name == "PORT" { // the platform convention gives a bare port
				v = ":" + v
			}
			// Parsed here too, so that an error names the variable.
			probe := reflect.New(f.Target.Type()).Elem()
			if err := f.Mapper.Decode(&kong.DecodeContext{Value: f.Value, Scan: kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: v})}, probe); err != nil {
				return nil, fmt.Errorf("from %s=%q: %w", name, v, err)
			}
			src.given[f.Name] = name
			return v, nil
		}
		return nil, nil
	})
}

// durationMapper parses durations with an error that shows the form.
type durationMapper struct{}

func (durationMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	var s string
	if err := ctx.Scan.PopValueInto("duration", &s); err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit, e.g. 10s, 500ms or 1h30m", s)
	}
	target.SetInt(int64(d))
	return nil
}

func (durationMapper) PlaceHolder(*kong.Flag) string { return "DURATION" }

// helpValue is a flag's help text followed by its default and the
// environment variables that set it.
func helpValue(v *kong.Value) string {
	h := v.Help
	var notes []string
	if v.HasDefault && v.Default != "" && v.Default != "0" && v.Default != "false" {
		notes = append(notes, "default "+v.Default)
	}
	if v.Flag != nil {
		if names := envNames(v.Flag); len(names) > 0 {
			notes = append(notes, "env "+strings.Join(names, ", "))
		}
	}
	if len(notes) > 0 {
		h += " (" + strings.Join(notes, "; ") + ")"
	}
	return h
}

// placeholders names each value by its type rather than by its default,
// which helpValue shows.
func placeholders(k *kong.Kong) error {
	return kong.Visit(k.Model, func(node kong.Visitable, next kong.Next) error {
		if f, ok := node.(*kong.Flag); ok && f.PlaceHolder == "" && f.HasDefault {
			switch f.Target.Kind() {
			case reflect.String:
				f.PlaceHolder = "STRING"
			case reflect.Int, reflect.Int64, reflect.Float64:
				if f.Target.Type() != reflect.TypeFor[time.Duration]() {
					f.PlaceHolder = "N"
				}
			}
		}
		return next(nil)
	})
}

// exitRequest carries the status kong asks for after printing help or
// the version, so that run returns instead of the process exiting.
type exitRequest struct{ code int }

func newParser(root *cli, env environment, src *flagSources) (*kong.Kong, error) {
	return kong.New(root,
		kong.Name("roster"),
		kong.Description(appDescription),
		kong.Writers(env.stdout, env.stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.Vars{"version": versionLine(), "import_max_bytes": strconv.FormatInt(httpapi.DefaultImportMaxBytes, 10)},
		kong.Vars(poolDefaults()),
		kong.TypeMapper(reflect.TypeFor[time.Duration](), durationMapper{}),
		kong.Resolvers(envResolver(env.lookupEnv, src)),
		kong.ValueFormatter(helpValue),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true, WrapUpperBound: 100}),
		kong.PostBuild(placeholders),
	)
}

// parse reads the command line and the environment into a command. It
// returns a nil command when help or the version was printed.
func parse(args []string, env environment) (cmd command, name string, src *flagSources, err error) {
	var root cli
	src = &flagSources{given: map[string]string{}, blank: map[string]string{}}
	k, err := newParser(&root, env, src)
	if err != nil {
		return nil, "", nil, err // a mistake in the declarations above
	}
	defer func() {
		if r := recover(); r != nil {
			ex, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			cmd, err = nil, nil
			if ex.code != 0 {
				err = usagef("exit %d", ex.code)
			}
		}
	}()
	kctx, err := k.Parse(args)
	if err != nil {
		return nil, commandName(args, nil), nil, parseError(args, err)
	}
	for _, p := range kctx.Path {
		if p.Flag != nil && !p.Resolved {
			src.given[p.Flag.Name] = "--" + p.Flag.Name
			if p.Flag.Target.Kind() == reflect.String && p.Flag.Target.String() == "" {
				src.blank[p.Flag.Name] = "--" + p.Flag.Name
			} else {
				delete(src.blank, p.Flag.Name)
			}
		}
	}
	sel := kctx.Selected()
	c, ok := sel.Target.Addr().Interface().(command)
	if !ok {
		return nil, "", nil, fmt.Errorf("command %s has no run method", sel.Name)
	}
	return c, sel.Name, src, nil
}

// commandName is the subcommand the arguments name, "" when none.
func commandName(args []string, kctx *kong.Context) string {
	if kctx != nil && kctx.Selected() != nil {
		return kctx.Selected().Name
	}
	for _, a := range args {
		if slices.Contains([]string{"serve", "migrate", "token", "import", "export", "version", "help"}, a) {
			return a
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
	}
	return ""
}

// parseError turns kong's error into a usage error of one line that says
// where to read more.
func parseError(args []string, err error) error {
	var pe *kong.ParseError
	var kctx *kong.Context
	if errors.As(err, &pe) {
		kctx = pe.Context
	}
	name := commandName(args, kctx)
	msg := err.Error()
	if strings.HasPrefix(msg, "unexpected argument ") && name == "" {
		return usagef("unknown command %q (see roster --help)", strings.TrimPrefix(msg, "unexpected argument "))
	}
	if kctx != nil && kctx.Selected() != nil && (strings.HasPrefix(msg, "expected \"<") || strings.HasPrefix(msg, "missing positional")) {
		if h, ok := kctx.Selected().Target.Addr().Interface().(argsHelp); ok {
			msg = h.wantArgs()
		}
	}
	if name == "" {
		return usagef("%s (see roster --help)", msg)
	}
	return &commandError{cmd: name, err: usagef("%s (see roster %s --help)", msg, name)}
}

// commandError is an error of one subcommand: it prints as
// "roster CMD: message", as every error of the program does.
type commandError struct {
	cmd string
	err error
}

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// helpCmd prints the help of the program or of one command.
type helpCmd struct {
	Command string `arg:"" optional:"" help:"The command to explain."`
}

func (h *helpCmd) run(ctx context.Context, _ *flagSources, env environment) error {
	args := []string{"--help"}
	if h.Command != "" {
		args = []string{h.Command, "--help"}
	}
	return runEnv(ctx, args, env)
}

// stringList is a repeatable flag that also accepts comma-separated values;
// blanks around and between them are dropped.
type stringList []string

func (l *stringList) Decode(ctx *kong.DecodeContext) error {
	var v string
	if err := ctx.Scan.PopValueInto("list", &v); err != nil {
		return err
	}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
