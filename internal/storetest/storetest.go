// Package storetest is the contract every roster.UserStore must meet,
// written once and run against each database engine.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

// base is the creation time of the suite's users. It is fixed, at the
// microsecond precision both engines store, so that round trips compare
// exactly and no test depends on the clock.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

// Run runs the contract against stores made by open, which must return a
// fresh, migrated, empty store each time it is called and close it when t
// ends.
func Run(t *testing.T, open func(t *testing.T) roster.UserStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s roster.UserStore)
	}{
		{"CreateGet", testCreateGet},
		{"CreateTruncatesToMicroseconds", testCreateTruncates},
		{"GetUnknown", testGetUnknown},
		{"CreateDuplicateEmail", testCreateDuplicateEmail},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateConcurrentSameEmail", testCreateConcurrentSameEmail},
		{"ListEmpty", testListEmpty},
		{"ListOrderAndPages", testListOrderAndPages},
		{"UpdateFields", testUpdateFields},
		{"UpdateUpdatedAtMonotonic", testUpdateUpdatedAtMonotonic},
		{"UpdateUnknown", testUpdateUnknown},
		{"UpdateEmailTaken", testUpdateEmailTaken},
		{"Delete", testDelete},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, open(t)) })
	}
}

func testCreateGet(t *testing.T, s roster.UserStore) {
	u := newUser(t, "Ada Lovelace", "ada@example.com", base)
	// Stores return UTC whatever zone they were given the instant in.
	in := u
	in.CreatedAt = u.CreatedAt.In(time.FixedZone("UTC+5", 5*3600))
	in.UpdatedAt = u.UpdatedAt.Add(time.Minute).In(time.FixedZone("UTC-3", -3*3600))
	u.UpdatedAt = u.UpdatedAt.Add(time.Minute)
	if err := s.CreateUser(t.Context(), in); err != nil {
		t.Fatalf("CreateUser: got error %v, want nil", err)
	}
	got, err := s.User(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("User: got error %v, want nil", err)
	}
	checkUser(t, "User", got, u)
}

// Both engines keep microseconds; what is finer is cut off, never rounded,
// so that an engine cannot store a later instant than it was given.
func testCreateTruncates(t *testing.T, s roster.UserStore) {
	u := newUser(t, "Ada", "ada@example.com", base.Add(999*time.Nanosecond))
	mustCreate(t, s, u)
	u.CreatedAt, u.UpdatedAt = base, base
	checkStored(t, s, u)
}

func testGetUnknown(t *testing.T, s roster.UserStore) {
	mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	_, err := s.User(t.Context(), mustID(t))
	checkErr(t, "User", err, roster.ErrNotFound)
}

func testCreateDuplicateEmail(t *testing.T, s roster.UserStore) {
	first := mustCreate(t, s, newUser(t, "First", "Ada@Example.io", base))
	tests := []struct{ name, email string }{
		{"same", "Ada@Example.io"},
		{"lower case", "ada@example.io"},
		{"upper case", "ADA@EXAMPLE.IO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateUser(t.Context(), newUser(t, "Second", tt.email, base))
			checkErr(t, "CreateUser", err, roster.ErrEmailTaken)
		})
	}
	got, err := s.ListUsers(t.Context(), 10, 0)
	if err != nil {
		t.Fatalf("ListUsers: got error %v, want nil", err)
	}
	if len(got) != 1 {
		t.Fatalf("ListUsers: got %d users, want 1", len(got))
	}
	checkUser(t, "ListUsers", got[0], first)
}

// A duplicate id is a bug in the caller, not a taken email: it must not be
// reported as a conflict the client could resolve.
func testCreateDuplicateID(t *testing.T, s roster.UserStore) {
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	u.Email = "other@example.com"
	err := s.CreateUser(t.Context(), u)
	if err == nil || errors.Is(err, roster.ErrEmailTaken) || errors.Is(err, roster.ErrNotFound) {
		t.Fatalf("CreateUser: got error %v, want an internal error", err)
	}
}

// The database, not a check before the insert, enforces unique emails: of
// racing creates exactly one wins and every other one learns why it lost.
func testCreateConcurrentSameEmail(t *testing.T, s roster.UserStore) {
	const n = 50
	users := make([]roster.User, n)
	for i := range users {
		users[i] = newUser(t, fmt.Sprintf("Racer %d", i), mixedCase("racer@example.com", i), base)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateUser(t.Context(), u)
		})
	}
	close(start)
	wg.Wait()

	var won, taken int
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, roster.ErrEmailTaken):
			taken++
		default:
			t.Errorf("CreateUser %q: got error %v, want nil or %v", users[i].Email, err, roster.ErrEmailTaken)
		}
	}
	if won != 1 || taken != n-1 {
		t.Errorf("got %d created and %d taken, want 1 and %d", won, taken, n-1)
	}
	got, err := s.ListUsers(t.Context(), n, 0)
	if err != nil {
		t.Fatalf("ListUsers: got error %v, want nil", err)
	}
	if len(got) != 1 {
		t.Fatalf("ListUsers: got %d users, want 1", len(got))
	}
}

func testListEmpty(t *testing.T, s roster.UserStore) {
	got, err := s.ListUsers(t.Context(), 10, 0)
	if err != nil {
		t.Fatalf("ListUsers: got error %v, want nil", err)
	}
	if len(got) != 0 {
		t.Fatalf("ListUsers: got %d users, want 0", len(got))
	}
}

func testListOrderAndPages(t *testing.T, s roster.UserStore) {
	// Two users share a creation time, so only the id can order them.
	times := []time.Time{base, base.Add(time.Second), base.Add(time.Second), base.Add(2 * time.Second), base.Add(-time.Hour)}
	var want []roster.User
	for i, at := range times {
		want = append(want, mustCreate(t, s, newUser(t, fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@example.com", i), at)))
	}
	slices.SortFunc(want, func(a, b roster.User) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})

	tests := []struct {
		limit, offset int
		want          []roster.User
	}{
		{limit: 10, offset: 0, want: want},
		{limit: 5, offset: 0, want: want},
		{limit: 2, offset: 0, want: want[:2]},
		{limit: 2, offset: 1, want: want[1:3]},
		{limit: 2, offset: 4, want: want[4:]},
		{limit: 2, offset: 5, want: nil},
		{limit: 1, offset: 100, want: nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit=%d,offset=%d", tt.limit, tt.offset), func(t *testing.T) {
			got, err := s.ListUsers(t.Context(), tt.limit, tt.offset)
			if err != nil {
				t.Fatalf("ListUsers: got error %v, want nil", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListUsers: got %d users %v, want %d %v", len(got), names(got), len(tt.want), names(tt.want))
			}
			for i := range got {
				checkUser(t, fmt.Sprintf("ListUsers[%d]", i), got[i], tt.want[i])
			}
		})
	}
}

func testUpdateFields(t *testing.T, s roster.UserStore) {
	later := base.Add(time.Hour)
	tests := []struct {
		name      string
		email     string // of the user before the update
		upd       roster.UserUpdate
		wantName  string
		wantEmail string
	}{
		{"name only", "ada1@example.com", roster.UserUpdate{Name: ptr("Grace")}, "Grace", "ada1@example.com"},
		{"email only", "ada2@example.com", roster.UserUpdate{Email: ptr("grace2@example.com")}, "Ada", "grace2@example.com"},
		{"both", "ada3@example.com", roster.UserUpdate{Name: ptr("Grace"), Email: ptr("grace3@example.com")}, "Grace", "grace3@example.com"},
		{"case of own email", "ada4@example.com", roster.UserUpdate{Email: ptr("ADA4@example.com")}, "Ada", "ADA4@example.com"},
	}
	// A bystander shows that an update touches one row only.
	other := mustCreate(t, s, newUser(t, "Other", "other@example.com", base))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := mustCreate(t, s, newUser(t, "Ada", tt.email, base))
			want := u
			want.Name, want.Email, want.UpdatedAt = tt.wantName, tt.wantEmail, later

			got, err := s.UpdateUser(t.Context(), u.ID, tt.upd, later)
			if err != nil {
				t.Fatalf("UpdateUser: got error %v, want nil", err)
			}
			checkUser(t, "UpdateUser", got, want)
			checkStored(t, s, want)
			checkStored(t, s, other)
		})
	}
}

// updated_at orders a user's versions, so it must move forward even when
// the clock given to the store has gone back or stood still.
func testUpdateUpdatedAtMonotonic(t *testing.T, s roster.UserStore) {
	stored := base.Add(time.Hour)
	tests := []struct {
		name  string
		given time.Time
		want  time.Time
	}{
		{"later", stored.Add(time.Second), stored.Add(time.Second)},
		{"equal", stored, stored.Add(time.Microsecond)},
		{"earlier", stored.Add(-time.Minute), stored.Add(time.Microsecond)},
		{"before creation", base.Add(-time.Hour), stored.Add(time.Microsecond)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser(t, "Ada", fmt.Sprintf("ada%d@example.com", i), base)
			u.UpdatedAt = stored
			mustCreate(t, s, u)
			got, err := s.UpdateUser(t.Context(), u.ID, roster.UserUpdate{Name: ptr("Grace")}, tt.given)
			if err != nil {
				t.Fatalf("UpdateUser: got error %v, want nil", err)
			}
			if !got.UpdatedAt.Equal(tt.want) {
				t.Errorf("UpdateUser: got updated_at %v, want %v", got.UpdatedAt, tt.want)
			}
			if !got.CreatedAt.Equal(base) {
				t.Errorf("UpdateUser: got created_at %v, want %v", got.CreatedAt, base)
			}
		})
	}
}

func testUpdateUnknown(t *testing.T, s roster.UserStore) {
	mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	_, err := s.UpdateUser(t.Context(), mustID(t), roster.UserUpdate{Name: ptr("Grace")}, base)
	checkErr(t, "UpdateUser", err, roster.ErrNotFound)
}

func testUpdateEmailTaken(t *testing.T, s roster.UserStore) {
	ada := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	grace := mustCreate(t, s, newUser(t, "Grace", "grace@example.com", base))
	for _, email := range []string{"grace@example.com", "Grace@Example.COM"} {
		t.Run(email, func(t *testing.T) {
			_, err := s.UpdateUser(t.Context(), ada.ID, roster.UserUpdate{Name: ptr("Ada B"), Email: ptr(email)}, base.Add(time.Hour))
			checkErr(t, "UpdateUser", err, roster.ErrEmailTaken)
			// The failed update changed nothing, not even the name.
			checkStored(t, s, ada)
			checkStored(t, s, grace)
		})
	}
}

func testDelete(t *testing.T, s roster.UserStore) {
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	other := mustCreate(t, s, newUser(t, "Grace", "grace@example.com", base))
	if err := s.DeleteUser(t.Context(), u.ID); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	_, err := s.User(t.Context(), u.ID)
	checkErr(t, "User after DeleteUser", err, roster.ErrNotFound)
	err = s.DeleteUser(t.Context(), u.ID)
	checkErr(t, "second DeleteUser", err, roster.ErrNotFound)
	checkStored(t, s, other)
	// The email is free again.
	mustCreate(t, s, newUser(t, "Ada again", "ada@example.com", base))
}

func testPing(t *testing.T, s roster.UserStore) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: got error %v, want nil", err)
	}
}

// newUser returns a user with a fresh UUIDv7, created and updated at at.
func newUser(t *testing.T, name, email string, at time.Time) roster.User {
	t.Helper()
	return roster.User{ID: mustID(t), Name: name, Email: email, CreatedAt: at, UpdatedAt: at}
}

func mustID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id
}

func mustCreate(t *testing.T, s roster.UserStore, u roster.User) roster.User {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser %q: got error %v, want nil", u.Email, err)
	}
	return u
}

// checkStored checks that the store holds want.
func checkStored(t *testing.T, s roster.UserStore, want roster.User) {
	t.Helper()
	got, err := s.User(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("User %s: got error %v, want nil", want.ID, err)
	}
	checkUser(t, "User", got, want)
}

// checkUser compares field by field: times must be the same instant and in
// UTC, which == on time.Time would conflate with its location pointer.
func checkUser(t *testing.T, op string, got, want roster.User) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("%s: got id %s, want %s", op, got.ID, want.ID)
	}
	if got.Name != want.Name {
		t.Errorf("%s: got name %q, want %q", op, got.Name, want.Name)
	}
	if got.Email != want.Email {
		t.Errorf("%s: got email %q, want %q", op, got.Email, want.Email)
	}
	for _, f := range []struct {
		field     string
		got, want time.Time
	}{{"created_at", got.CreatedAt, want.CreatedAt}, {"updated_at", got.UpdatedAt, want.UpdatedAt}} {
		if !f.got.Equal(f.want) {
			t.Errorf("%s: got %s %v, want %v", op, f.field, f.got, f.want)
		}
		if f.got.Location() != time.UTC {
			t.Errorf("%s: got %s in %v, want UTC", op, f.field, f.got.Location())
		}
	}
}

func checkErr(t *testing.T, op string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", op, got, want)
	}
}

// mixedCase returns s with the letters whose index is a set bit of i in
// upper case, so that each i up to 2^letters gives a distinct spelling.
func mixedCase(s string, i int) string {
	b := []byte(s)
	for j := range b {
		if i == 0 {
			break
		}
		if 'a' <= b[j] && b[j] <= 'z' {
			if i&1 == 1 {
				b[j] -= 'a' - 'A'
			}
			i >>= 1
		}
	}
	return string(b)
}

func names(us []roster.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	return out
}

func ptr(s string) *string { return &s }
