package main

import (
	"fmt"
	"time"
)

func token(args []string, env environment) error {
	var (
		j     jwtFlags
		sub   string
		roles stringList
		ttl   time.Duration
	)
	fs := newFlagSet("token", "Prints a signed JWT (only the token, on stdout) for the API of a server\nrunning with the same JWT_SECRET. Example:\n\n  export TOKEN=$(roster token --sub 0192... --role admin --ttl 1h)")
	fs.StringVar(&sub, "sub", "", `subject ("sub"): the user id the token acts as (required)`)
	fs.Var(&roles, "role", `role to grant ("roles"), repeatable or comma-separated; "admin" may do everything`)
	fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token")
	j.register(fs)
	if err := fs.parse(args, env); err != nil {
		return helpIsSuccess(err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("token: unexpected argument %q", fs.Arg(0))
	case sub == "":
		return usagef("token: --sub is required")
	case ttl <= 0:
		return usagef("token: --ttl must be positive")
	case j.secret == "":
		return usagef("token: JWT_SECRET (or --jwt-secret) is required")
	}
	a, err := j.authority()
	if err != nil {
		return err
	}
	tok, err := a.Issue(sub, roles, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.stdout, tok)
	return err
}
