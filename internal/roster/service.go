package roster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Service holds the rules for users: validation, authorization and
// translation of store conditions into client errors. It knows no HTTP.
type Service struct {
	store UserStore
	now   func() time.Time
}

// NewService returns a Service over store. now is the clock; nil means
// time.Now.
func NewService(store UserStore, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// timestamp returns the current time in the precision both engines store,
// so that what is returned equals what is read back later.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// Ready checks that the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// ListUsers returns one page of users, newest first. PerPage above
// MaxPerPage is clamped.
func (s *Service) ListUsers(ctx context.Context, p Page) (UserList, error) {
	if _, err := authorize(ctx, ""); err != nil {
		return UserList{}, err
	}
	var bad problems
	if p.Number < 1 {
		bad.add("page", "must be at least 1")
	}
	if p.PerPage < 1 {
		bad.add("per_page", "must be at least 1")
	}
	if len(bad) > 0 {
		return UserList{}, &Error{Code: CodeBadRequest, Message: "Invalid query parameters", Details: bad}
	}
	p.PerPage = min(p.PerPage, MaxPerPage)
	// One extra row tells whether a next page exists without a count.
	users, err := s.store.ListUsers(ctx, p.PerPage+1, p.Offset())
	if err != nil {
		return UserList{}, fmt.Errorf("list users: %w", err)
	}
	list := UserList{Users: users, HasNext: len(users) > p.PerPage}
	if list.HasNext {
		list.Users = users[:p.PerPage]
	}
	return list, nil
}

// User returns the user with the given id.
func (s *Service) User(ctx context.Context, id uuid.UUID) (User, error) {
	if _, err := authorize(ctx, ""); err != nil {
		return User{}, err
	}
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, storeError("get user", id, err)
	}
	return u, nil
}

// CreateUser validates in and stores a new user with a fresh UUIDv7.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	if _, err := authorize(ctx, RoleAdmin); err != nil {
		return User{}, err
	}
	var bad problems
	name, msg := normalizeName(in.Name)
	bad.add("name", msg)
	email, msg := normalizeEmail(in.Email)
	bad.add("email", msg)
	if err := bad.err(); err != nil {
		return User{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, fmt.Errorf("create user: new id: %w", err)
	}
	now := s.timestamp()
	u := User{ID: id, Name: name, Email: email, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, storeError("create user", id, err)
	}
	return u, nil
}

// UpdateUser applies the fields set in upd. Admins may update anyone;
// others only the user whose id is their subject.
func (s *Service) UpdateUser(ctx context.Context, id uuid.UUID, upd UserUpdate) (User, error) {
	if _, err := authorize(ctx, id.String()); err != nil {
		return User{}, err
	}
	var bad problems
	if upd.Name == nil && upd.Email == nil {
		bad.add("body", "at least one of name, email is required")
	}
	if upd.Name != nil {
		name, msg := normalizeName(*upd.Name)
		bad.add("name", msg)
		upd.Name = &name
	}
	if upd.Email != nil {
		email, msg := normalizeEmail(*upd.Email)
		bad.add("email", msg)
		upd.Email = &email
	}
	if err := bad.err(); err != nil {
		return User{}, err
	}
	u, err := s.store.UpdateUser(ctx, id, upd, s.timestamp())
	if err != nil {
		return User{}, storeError("update user", id, err)
	}
	return u, nil
}

// DeleteUser removes a user. Admins only.
func (s *Service) DeleteUser(ctx context.Context, id uuid.UUID) error {
	if _, err := authorize(ctx, RoleAdmin); err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return storeError("delete user", id, err)
	}
	return nil
}

// authorize checks the actor in ctx. need is "" for any authenticated
// actor, RoleAdmin for admins only, or a user id that the actor may act on
// as itself (admins may act on anyone).
func authorize(ctx context.Context, need string) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return a, Errorf(CodeUnauthorized, "Invalid credentials")
	}
	if need == "" || a.IsAdmin() || (need != RoleAdmin && need == a.Subject) {
		return a, nil
	}
	return a, Errorf(CodeForbidden, "You are not allowed to do this")
}

// storeError turns store sentinels into client errors and wraps the rest.
func storeError(op string, id uuid.UUID, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return Errorf(CodeNotFound, "User %s not found", id)
	case errors.Is(err, ErrEmailTaken):
		return &Error{Code: CodeConflict, Message: "A user with this email already exists",
			Details: []FieldError{{Field: "email", Message: "already taken"}}}
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}
