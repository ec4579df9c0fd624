package roster

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

func TestVisibleTo(t *testing.T) {
	u := User{ID: uuid.Must(uuid.NewV7()), Name: "Ada", Email: "ada@x.io"}
	tests := []struct {
		name   string
		actor  Actor
		policy EmailVisibility
		want   string
	}{
		{"admin", Actor{Subject: "a", Roles: []string{RoleAdmin}}, EmailsSelf, "ada@x.io"},
		{"itself", Actor{Subject: u.ID.String(), Roles: []string{"user"}}, EmailsSelf, "ada@x.io"},
		{"another user", Actor{Subject: uuid.NewString(), Roles: []string{"user"}}, EmailsSelf, ""},
		{"no subject", Actor{}, EmailsSelf, ""},
		{"the zero policy is self", Actor{Subject: "x"}, "", ""},
		{"shared directory", Actor{Subject: "x"}, EmailsAll, "ada@x.io"},
	}
	for _, tt := range tests {
		if got := u.VisibleTo(tt.actor, tt.policy); got.Email != tt.want || got.Name != u.Name || got.ID != u.ID {
			t.Errorf("%s: got %+v, want email %q and the rest unchanged", tt.name, got, tt.want)
		}
	}
	for _, in := range []string{"", "none", "ALL"} {
		if _, err := ParseEmailVisibility(in); err == nil {
			t.Errorf("ParseEmailVisibility(%q): no error", in)
		}
	}
}

// dirStore holds two users and answers every list with both.
type dirStore struct {
	memStore
	listed int
}

func (d *dirStore) ListUsers(context.Context, ListQuery) ([]User, error) {
	d.listed++
	return []User{d.users[self], d.users[other]}, nil
}
func (d *dirStore) ExportUsers(_ context.Context, _ UserFilter, fn func(User) error) error {
	for _, u := range []User{d.users[self], d.users[other]} {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

var self, other = uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())

// Every service path that hands out users applies the one rule, and the
// email filter of a non-admin matches only its own address.
func TestServiceEmailVisibility(t *testing.T) {
	store := &dirStore{memStore: memStore{users: map[uuid.UUID]User{
		self:  {ID: self, Name: "Self", Email: "self@x.io"},
		other: {ID: other, Name: "Other", Email: "other@x.io"},
	}}}
	svc := NewService(store, nil)
	user := WithActor(context.Background(), Actor{Subject: self.String(), Roles: []string{"user"}})
	stranger := WithActor(context.Background(), Actor{Subject: "svc-account"})
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})

	list, err := svc.ListUsers(user, ListQuery{})
	if err != nil || list.Users[0].Email != "self@x.io" || list.Users[1].Email != "" {
		t.Errorf("list: got %+v, %v; want its own email only", list.Users, err)
	}
	if u, _ := svc.User(user, other); u.Email != "" || u.Name != "Other" {
		t.Errorf("get another: got %+v, want no email", u)
	}
	if u, _ := svc.User(user, self); u.Email != "self@x.io" {
		t.Errorf("get itself: got %+v, want its email", u)
	}
	var exported []User
	if err := svc.ExportUsers(admin, UserFilter{}, func(u User) error { exported = append(exported, u); return nil }); err != nil ||
		len(exported) != 2 || exported[1].Email != "other@x.io" {
		t.Errorf("admin export: got %+v, %v; want every email", exported, err)
	}

	for _, tt := range []struct {
		name      string
		ctx       context.Context
		email     string
		wantRows  bool
		wantCount int64
	}{
		{"another's email", user, "other@x.io", false, 0},
		{"an unknown email", user, "nobody@x.io", false, 0},
		{"its own, any case", user, " SELF@x.io", true, 3},
		{"a subject that is no user", stranger, "self@x.io", false, 0},
		{"admin", admin, "other@x.io", true, 3},
	} {
		before := store.listed
		list, err := svc.ListUsers(tt.ctx, ListQuery{Filter: UserFilter{Email: tt.email}})
		if err != nil || (len(list.Users) > 0) != tt.wantRows || list.Users == nil || (store.listed > before) != tt.wantRows {
			t.Errorf("%s: got %d users (nil %v), store asked %v, err %v; want rows %v", tt.name, len(list.Users), list.Users == nil, store.listed > before, err, tt.wantRows)
		}
		if n, err := svc.CountUsers(tt.ctx, UserFilter{Email: tt.email}); n != tt.wantCount || err != nil {
			t.Errorf("%s: count %d, %v; want %d", tt.name, n, err, tt.wantCount)
		}
	}

	all := NewService(store, nil, WithEmailVisibility(EmailsAll))
	if list, _ := all.ListUsers(stranger, ListQuery{Filter: UserFilter{Email: "other@x.io"}}); len(list.Users) != 2 || list.Users[1].Email != "other@x.io" {
		t.Errorf("EmailsAll: got %+v, want every email and the filter applied by the store", list.Users)
	}
}

// A non-admin's search reaches the store limited to its own email
// (uuid.Nil for a subject that is no user); admins and a shared directory
// search every email, and a filter never brings its own limit in.
func TestServiceSearchScope(t *testing.T) {
	userActor := Actor{Subject: self.String(), Roles: []string{"user"}}
	admin := Actor{Subject: "a", Roles: []string{RoleAdmin}}
	nilID := uuid.Nil
	tests := []struct {
		name   string
		actor  Actor
		policy EmailVisibility
		filter UserFilter
		want   *uuid.UUID
	}{
		{"user", userActor, EmailsSelf, UserFilter{Search: "a"}, &self},
		{"user brings another limit", userActor, EmailsSelf, UserFilter{Search: "a", SearchEmailOf: &other}, &self},
		{"subject that is no user", Actor{Subject: "svc"}, EmailsSelf, UserFilter{Search: "a"}, &nilID},
		{"no search", userActor, EmailsSelf, UserFilter{}, nil},
		{"admin", admin, EmailsSelf, UserFilter{Search: "a"}, nil},
		{"admin brings a limit", admin, EmailsSelf, UserFilter{Search: "a", SearchEmailOf: &other}, nil},
		{"shared directory", userActor, EmailsAll, UserFilter{Search: "a"}, nil},
	}
	for _, tt := range tests {
		store := &memStore{}
		svc := NewService(store, nil, WithEmailVisibility(tt.policy))
		if _, err := svc.ListUsers(WithActor(context.Background(), tt.actor), ListQuery{Filter: tt.filter}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := store.queries[0].Filter.SearchEmailOf
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: got SearchEmailOf %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Searches match anywhere from MinContainsLength characters on, and at
// the start below it or when asked to.
func TestPrefixSearch(t *testing.T) {
	tests := []struct {
		filter UserFilter
		want   bool
	}{
		{UserFilter{Search: "ada"}, false},
		{UserFilter{Search: "ada", Match: MatchContains}, false},
		{UserFilter{Search: "ada", Match: MatchPrefix}, true},
		{UserFilter{Search: "ad"}, true},
		{UserFilter{Search: "é"}, true},
		{UserFilter{Search: "émi"}, false}, // characters, not bytes
		{UserFilter{}, true},
	}
	for _, tt := range tests {
		if got := tt.filter.PrefixSearch(); got != tt.want {
			t.Errorf("%+v: got PrefixSearch %v, want %v", tt.filter, got, tt.want)
		}
	}
}
