package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

func testCreateGet(t *testing.T, s roster.UserStore) {
	u := newUser(t, "Ada Lovelace", "ada@example.com", base)
	// Stores return UTC whatever zone they were given the instant in.
	in := u
	in.CreatedAt = u.CreatedAt.In(time.FixedZone("UTC+5", 5*3600))
	in.UpdatedAt = u.UpdatedAt.Add(time.Minute).In(time.FixedZone("UTC-3", -3*3600))
	u.UpdatedAt = u.UpdatedAt.Add(time.Minute)
	got, replayed, err := s.CreateUser(t.Context(), in, nil)
	if err != nil {
		t.Fatalf("CreateUser: got error %v, want nil", err)
	}
	if replayed {
		t.Error("CreateUser: got replayed true, want false")
	}
	checkUser(t, "CreateUser", got, u)
	checkStored(t, s, u)
}

// Both engines keep microseconds; what is finer is cut off, never rounded,
// so that an engine cannot store a later instant than it was given. The
// user CreateUser returns is the one stored.
func testCreateTruncates(t *testing.T, s roster.UserStore) {
	in := newUser(t, "Ada", "ada@example.com", base.Add(999*time.Nanosecond))
	got, _, err := s.CreateUser(t.Context(), in, nil)
	if err != nil {
		t.Fatalf("CreateUser: got error %v, want nil", err)
	}
	want := in
	want.CreatedAt, want.UpdatedAt = base, base
	checkUser(t, "CreateUser", got, want)
	checkStored(t, s, want)
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
			_, _, err := s.CreateUser(t.Context(), newUser(t, "Second", tt.email, base), nil)
			checkErr(t, "CreateUser", err, roster.ErrEmailTaken)
		})
	}
	got, err := s.ListUsers(t.Context(), roster.ListQuery{Limit: 10})
	if err != nil {
		t.Fatalf("ListUsers: got error %v, want nil", err)
	}
	checkUsers(t, "ListUsers", got, []roster.User{first})
}

// A duplicate id is a bug in the caller, not a taken email: it must not be
// reported as a conflict the client could resolve.
func testCreateDuplicateID(t *testing.T, s roster.UserStore) {
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	u.Email = "other@example.com"
	_, _, err := s.CreateUser(t.Context(), u, nil)
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
			_, _, errs[i] = s.CreateUser(t.Context(), u, nil)
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
	checkCount(t, s, 1)
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

// With IfUpdatedAt the update happens only on the version the caller read.
func testUpdateConditional(t *testing.T, s roster.UserStore) {
	read := base.Add(time.Minute) // the version the caller read
	later := base.Add(time.Hour)
	tests := []struct {
		name    string
		missing bool
		ifAt    *time.Time
		wantErr error
	}{
		{name: "current version", ifAt: &read},
		{name: "unconditional", ifAt: nil},
		{name: "stale version", ifAt: ptr(read.Add(-time.Microsecond)), wantErr: roster.ErrPreconditionFailed},
		{name: "newer version", ifAt: ptr(read.Add(time.Microsecond)), wantErr: roster.ErrPreconditionFailed},
		{name: "missing user", missing: true, ifAt: &read, wantErr: roster.ErrNotFound},
		{name: "missing user, unconditional", missing: true, wantErr: roster.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser(t, "Ada", fmt.Sprintf("ada%d@example.com", i), base)
			u.UpdatedAt = read
			mustCreate(t, s, u)
			id := u.ID
			if tt.missing {
				id = mustID(t)
			}
			got, err := s.UpdateUser(t.Context(), id, roster.UserUpdate{Name: ptr("Grace"), IfUpdatedAt: tt.ifAt}, later)
			if tt.wantErr != nil {
				checkErr(t, "UpdateUser", err, tt.wantErr)
				checkStored(t, s, u)
				return
			}
			if err != nil {
				t.Fatalf("UpdateUser: got error %v, want nil", err)
			}
			want := u
			want.Name, want.UpdatedAt = "Grace", later
			checkUser(t, "UpdateUser", got, want)
			checkStored(t, s, want)
			if tt.ifAt == nil {
				return
			}
			// The version read before is now stale.
			_, err = s.UpdateUser(t.Context(), id, roster.UserUpdate{Name: ptr("Hopper"), IfUpdatedAt: tt.ifAt}, later)
			checkErr(t, "second UpdateUser", err, roster.ErrPreconditionFailed)
			checkStored(t, s, want)
		})
	}
}

// The check and the write are one atomic step: of writers racing from the
// same version exactly one succeeds.
func testUpdateConditionalConcurrent(t *testing.T, s roster.UserStore) {
	const n = 20
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			upd := roster.UserUpdate{Name: ptr(fmt.Sprintf("Writer %d", i)), IfUpdatedAt: &u.UpdatedAt}
			_, errs[i] = s.UpdateUser(t.Context(), u.ID, upd, base.Add(time.Hour))
		})
	}
	close(start)
	wg.Wait()
	var won, failed int
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, roster.ErrPreconditionFailed):
			failed++
		default:
			t.Errorf("UpdateUser %d: got error %v, want nil or %v", i, err, roster.ErrPreconditionFailed)
		}
	}
	if won != 1 || failed != n-1 {
		t.Errorf("got %d updated and %d failed, want 1 and %d", won, failed, n-1)
	}
}

func testDelete(t *testing.T, s roster.UserStore) {
	u := mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	other := mustCreate(t, s, newUser(t, "Grace", "grace@example.com", base))
	if err := s.DeleteUser(t.Context(), u.ID, nil, base.Add(time.Hour)); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	_, err := s.User(t.Context(), u.ID)
	checkErr(t, "User after DeleteUser", err, roster.ErrNotFound)
	err = s.DeleteUser(t.Context(), u.ID, nil, base.Add(time.Hour))
	checkErr(t, "second DeleteUser", err, roster.ErrNotFound)
	checkStored(t, s, other)
	// The email is free again.
	mustCreate(t, s, newUser(t, "Ada again", "ada@example.com", base))
}

func testDeleteConditional(t *testing.T, s roster.UserStore) {
	read := base.Add(time.Minute)
	tests := []struct {
		name    string
		missing bool
		ifAt    *time.Time
		wantErr error
	}{
		{name: "current version", ifAt: &read},
		{name: "stale version", ifAt: ptr(read.Add(-time.Microsecond)), wantErr: roster.ErrPreconditionFailed},
		{name: "missing user", missing: true, ifAt: &read, wantErr: roster.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser(t, "Ada", fmt.Sprintf("ada%d@example.com", i), base)
			u.UpdatedAt = read
			mustCreate(t, s, u)
			id := u.ID
			if tt.missing {
				id = mustID(t)
			}
			err := s.DeleteUser(t.Context(), id, tt.ifAt, read.Add(time.Hour))
			if tt.wantErr != nil {
				checkErr(t, "DeleteUser", err, tt.wantErr)
				checkStored(t, s, u)
				return
			}
			if err != nil {
				t.Fatalf("DeleteUser: got error %v, want nil", err)
			}
			_, err = s.User(t.Context(), u.ID)
			checkErr(t, "User after DeleteUser", err, roster.ErrNotFound)
			// Gone is gone, whatever version the caller read.
			err = s.DeleteUser(t.Context(), id, tt.ifAt, read.Add(time.Hour))
			checkErr(t, "second DeleteUser", err, roster.ErrNotFound)
		})
	}
}

func testPing(t *testing.T, s roster.UserStore) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: got error %v, want nil", err)
	}
}
