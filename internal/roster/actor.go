package roster

import (
	"context"
	"slices"
)

// RoleAdmin may do everything. Other roles may list and read users and
// update only themselves.
const RoleAdmin = "admin"

// Actor is who performs an operation, as established by authentication.
type Actor struct {
	Subject string
	Roles   []string
}

// IsAdmin reports whether a holds the admin role.
func (a Actor) IsAdmin() bool { return slices.Contains(a.Roles, RoleAdmin) }

type actorKey struct{}

// WithActor returns a context carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
