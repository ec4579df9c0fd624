package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagSet is a flag.FlagSet whose every flag can also come from the
// environment: ROSTER_<FLAG> (--admin-addr ↔ ROSTER_ADMIN_ADDR), then any
// conventional names registered with alias (DATABASE_URL, PORT, …).
// Precedence: command line, ROSTER_<FLAG>, aliases, default.
type flagSet struct {
	*flag.FlagSet
	summary string
	aliases map[string][]string
	// Filled by parse: where each flag given explicitly came from
	// ("--addr", "PORT"), and where one was given but empty, which the
	// value alone cannot tell from the default.
	given map[string]string
	blank map[string]string
}

func newFlagSet(name, summary string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by the caller
	return &flagSet{FlagSet: fs, summary: summary, aliases: map[string][]string{},
		given: map[string]string{}, blank: map[string]string{}}
}

// explicit reports whether the flag was set on the command line or by a
// non-empty environment variable, rather than left at its default.
func (fs *flagSet) explicit(name string) bool {
	_, ok := fs.given[name]
	return ok
}

// setEmpty returns where the flag was given an empty value: "--name" on
// the command line, or the first of its environment variables that is
// set but empty when none of them has a value.
func (fs *flagSet) setEmpty(name string) (string, bool) {
	src, ok := fs.blank[name]
	return src, ok
}

// alias makes the environment variables names also set the flag.
func (fs *flagSet) alias(flag string, names ...string) {
	fs.aliases[flag] = append(fs.aliases[flag], names...)
}

// envNames lists the environment variables of a flag, in precedence order.
func (fs *flagSet) envNames(name string) []string {
	own := "ROSTER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return append([]string{own}, fs.aliases[name]...)
}

// parse reads args, then the environment for flags not given. A help flag
// prints the help to stdout and returns errHelp.
func (fs *flagSet) parse(args []string, env environment) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.printHelp(env.stdout)
			return errHelp
		}
		return usagef("%s: %v (see roster %s --help)", fs.Name(), err, fs.Name())
	}
	fs.Visit(func(f *flag.Flag) {
		fs.given[f.Name] = "--" + f.Name
		if f.Value.String() == "" {
			fs.blank[f.Name] = "--" + f.Name
		}
	})
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if fs.explicit(f.Name) || err != nil {
			return
		}
		for _, name := range fs.envNames(f.Name) {
			v, set := env.lookupEnv(name)
			if v == "" {
				if _, seen := fs.blank[f.Name]; set && !seen {
					fs.blank[f.Name] = name
				}
				continue
			}
			delete(fs.blank, f.Name)
			fs.given[f.Name] = name
			if name == "PORT" { // the platform convention gives a bare port
				v = ":" + v
			}
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("%s: invalid value %q for %s: %v", fs.Name(), v, name, e)
			}
			return
		}
	})
	return err
}

// errHelp means help was printed; the command ends successfully.
var errHelp = errors.New("help requested")

func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: roster %s\n\n%s\n\nFlags:\n", fs.Name(), fs.summary)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n      %s", usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "\n      env: %s\n", strings.Join(fs.envNames(f.Name), ", "))
	})
}

// stringList is a repeatable flag that also accepts comma-separated values.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
