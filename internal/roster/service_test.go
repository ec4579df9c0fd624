package roster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want, problem string
		norm                    func(string) (string, string)
	}{
		{"trimmed name", "  Ada  ", "Ada", "", normalizeName},
		{"empty name", " \t ", "", "must not be empty", normalizeName},
		{"100 runes", strings.Repeat("é", 100), strings.Repeat("é", 100), "", normalizeName},
		{"101 runes", strings.Repeat("é", 101), strings.Repeat("é", 101), "must be at most 100 characters", normalizeName},
		{"control character", "Ada\x00", "Ada\x00", "must not contain control characters", normalizeName},
		{"lower-cased email", " Ada@Example.COM ", "ada@example.com", "", normalizeEmail},
		{"empty email", "", "", "must not be empty", normalizeEmail},
		{"no at", "ada.example.com", "ada.example.com", "must be a valid email address", normalizeEmail},
		{"display name", "Ada <ada@example.com>", "ada <ada@example.com>", "must be a valid email address", normalizeEmail},
		{"angle brackets", "<ada@example.com>", "<ada@example.com>", "must be a valid email address", normalizeEmail},
		{"comment", "ada@example.com (Ada)", "ada@example.com (ada)", "must be a valid email address", normalizeEmail},
		{"254 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", "", normalizeEmail},
		{"255 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "must be at most 254 characters", normalizeEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := tt.norm(tt.in)
			if got != tt.want || problem != tt.problem {
				t.Errorf("got (%q, %q), want (%q, %q)", got, problem, tt.want, tt.problem)
			}
		})
	}
}

// memStore is the smallest UserStore the service rules can be tested on;
// the real engines have their own contract suite.
type memStore struct {
	users   map[uuid.UUID]User
	created []User
}

func (m *memStore) CreateUser(_ context.Context, u User) error {
	m.created = append(m.created, u)
	return nil
}
func (m *memStore) User(_ context.Context, id uuid.UUID) (User, error) {
	if u, ok := m.users[id]; ok {
		return u, nil
	}
	return User{}, ErrNotFound
}
func (m *memStore) ListUsers(_ context.Context, limit, offset int) ([]User, error) {
	return make([]User, max(0, min(limit, 3-offset))), nil // three users in all
}
func (m *memStore) UpdateUser(_ context.Context, id uuid.UUID, upd UserUpdate, at time.Time) (User, error) {
	return User{ID: id, Name: *upd.Name, UpdatedAt: at}, nil
}
func (m *memStore) DeleteUser(context.Context, uuid.UUID) error { return ErrEmailTaken }
func (m *memStore) Ping(context.Context) error                  { return nil }

func TestServiceRules(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	store := &memStore{}
	svc := NewService(store, func() time.Time { return now })
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})
	self := uuid.Must(uuid.NewV7())
	user := WithActor(context.Background(), Actor{Subject: self.String(), Roles: []string{"user"}})

	u, err := svc.CreateUser(admin, NewUser{Name: " Ada ", Email: "ADA@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	want := now.UTC().Truncate(time.Microsecond)
	if !u.CreatedAt.Equal(want) || u.CreatedAt.Location() != time.UTC || u.ID.Version() != 7 || len(store.created) != 1 {
		t.Errorf("created %+v: want UTC microsecond time %v and a UUIDv7", u, want)
	}

	tests := []struct {
		name string
		err  error
		code Code
	}{
		{"no actor", func() error { _, err := svc.User(context.Background(), self); return err }(), CodeUnauthorized},
		{"user creates", func() error { _, err := svc.CreateUser(user, NewUser{}); return err }(), CodeForbidden},
		{"user deletes", svc.DeleteUser(user, self), CodeForbidden},
		{"user updates other", func() error { _, err := svc.UpdateUser(user, uuid.New(), UserUpdate{}); return err }(), CodeForbidden},
		{"user updates self, empty", func() error { _, err := svc.UpdateUser(user, self, UserUpdate{}); return err }(), CodeInvalid},
		{"missing user", func() error { _, err := svc.User(user, self); return err }(), CodeNotFound},
		{"store conflict", svc.DeleteUser(admin, self), CodeConflict},
		{"page zero", func() error { _, err := svc.ListUsers(user, Page{Number: 0, PerPage: 1}); return err }(), CodeBadRequest},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: got code %s (%v), want %s", tt.name, got, tt.err, tt.code)
		}
	}

	list, err := svc.ListUsers(user, Page{Number: 1, PerPage: 2})
	if err != nil || len(list.Users) != 2 || !list.HasNext {
		t.Errorf("page 1 of 3 by 2: got %d users, next %v, err %v; want 2, true", len(list.Users), list.HasNext, err)
	}
	list, _ = svc.ListUsers(user, Page{Number: 2, PerPage: 2})
	if len(list.Users) != 1 || list.HasNext {
		t.Errorf("page 2 of 3 by 2: got %d users, next %v; want 1, false", len(list.Users), list.HasNext)
	}

	name := "  Me "
	got, err := svc.UpdateUser(user, self, UserUpdate{Name: &name})
	if err != nil || got.Name != "Me" {
		t.Errorf("self update: got %+v, %v; want trimmed name Me", got, err)
	}
	if err := svc.DeleteUser(admin, self); !errors.As(err, new(*Error)) {
		t.Errorf("store sentinel not translated: %v", err)
	}
}
