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
	set     map[string]bool // flags given on the command line or in the environment
}

func newFlagSet(name, summary string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by the caller
	return &flagSet{FlagSet: fs, summary: summary, aliases: map[string][]string{}}
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
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.set = given
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		for _, name := range fs.envNames(f.Name) {
			v := env.getenv(name)
			if v == "" {
				continue
			}
			if name == "PORT" { // the platform convention gives a bare port
				v = ":" + v
			}
			given[f.Name] = true
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("%s: invalid value %q for %s: %v", fs.Name(), v, name, e)
			}
			return
		}
	})
	return err
}

// isSet reports whether the flag was given, on the command line or in the
// environment, rather than left at its default.
func (fs *flagSet) isSet(name string) bool { return fs.set[name] }

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
