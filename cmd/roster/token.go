package main

import (
	"context"
	"fmt"
	"time"
)

// tokenCmd prints a token. Its claims are flags only: a ROSTER_SUB left in
// the environment must not mint tokens for someone else.
type tokenCmd struct {
	Sub   string        `placeholder:"ID" help:"Subject (\"sub\"): the user id the token acts as (required)."`
	Roles stringList    `name:"role" placeholder:"ROLE" help:"Role to grant (\"roles\"), repeatable or comma-separated; \"admin\" may do everything."`
	TTL   time.Duration `default:"1h" help:"Lifetime of the token."`
	JWT   jwtFlags      `embed:""`
}

// Help is the detail of "roster token --help".
func (*tokenCmd) Help() string {
	return "Prints a signed JWT (only the token, on stdout) for the API of a server running with the same JWT_SECRET. Example:\n\n  export TOKEN=$(roster token --sub 0192... --role admin --ttl 1h)"
}

func (t *tokenCmd) run(_ context.Context, _ *flagSources, env environment) error {
	switch {
	case t.Sub == "":
		return usagef("--sub is required")
	case t.TTL <= 0:
		return usagef("--ttl must be positive")
	case t.JWT.Secret == "":
		return usagef("JWT_SECRET (or --jwt-secret) is required")
	}
	a, err := t.JWT.authority()
	if err != nil {
		return err
	}
	tok, err := a.Issue(t.Sub, t.Roles, t.TTL)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.stdout, tok)
	return err
}
