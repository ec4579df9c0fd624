// Package storetest is the contract every roster.UserStore must meet,
// written once and run against each database engine, and the list
// benchmarks that engines run on their own seeded data.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
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
	RunLacking(t, open, nil)
}

// Feature is a part of the contract that a store may lack on purpose.
type Feature string

const (
	// Events is reading the outbox back: EventsAfter, EventBounds and
	// PurgeEvents of roster.EventStore.
	Events Feature = "events"
	// Listen is roster.EventStore's Listen: the store announces commits.
	Listen Feature = "listen"
	// Import is BeginImport.
	Import Feature = "import"
	// Export is ExportUsers.
	Export Feature = "export"
	// Trace is keeping, with each event, the trace context of the write
	// that made it (roster.Event.Trace).
	Trace Feature = "trace"
)

// RunLacking is Run for a store that lacks some features, each given with
// the reason: every case that needs one is skipped with that reason, so
// that the test output lists what was not checked instead of passing it.
func RunLacking(t *testing.T, open func(t *testing.T) roster.UserStore, lacks map[Feature]string) {
	tests := []struct {
		name  string
		test  func(t *testing.T, s roster.UserStore)
		needs []Feature
	}{
		{"CreateGet", testCreateGet, nil},
		{"CreateTruncatesToMicroseconds", testCreateTruncates, nil},
		{"GetUnknown", testGetUnknown, nil},
		{"CreateDuplicateEmail", testCreateDuplicateEmail, nil},
		{"CreateDuplicateID", testCreateDuplicateID, nil},
		{"CreateConcurrentSameEmail", testCreateConcurrentSameEmail, nil},
		{"IdempotentReplay", testIdempotentReplay, nil},
		{"IdempotentReplayAfterUpdateAndDelete", testIdempotentReplayAfterUpdateAndDelete, nil},
		{"IdempotentMismatch", testIdempotentMismatch, nil},
		{"IdempotentExpiry", testIdempotentExpiry, nil},
		{"IdempotentKeysPerSubject", testIdempotentKeysPerSubject, nil},
		{"IdempotentEmailTakenRecordsNothing", testIdempotentEmailTakenRecordsNothing, nil},
		{"IdempotentConcurrentRetries", testIdempotentConcurrentRetries, nil},
		{"ListEmpty", testListEmpty, nil},
		{"ListFilters", testListFilters, nil},
		{"ListSorts", testListSorts, nil},
		{"ListKeysetWalk", testListKeysetWalk, nil},
		{"ListOneUserAfterCursors", testListOneUserAfterCursors, nil},
		{"ListOffsetPages", testListOffsetPages, nil},
		{"ListRejectsInconsistentQuery", testListRejectsInconsistentQuery, nil},
		{"ListSearchEmailOf", testListSearchEmailOf, nil},
		{"SearchFollowsWrites", testSearchFollowsWrites, nil},
		{"SearchFollowsImports", testSearchFollowsImports, []Feature{Import, Events}},
		{"UpdateFields", testUpdateFields, nil},
		{"UpdateUpdatedAtMonotonic", testUpdateUpdatedAtMonotonic, nil},
		{"UpdateUnknown", testUpdateUnknown, nil},
		{"UpdateEmailTaken", testUpdateEmailTaken, nil},
		{"UpdateConditional", testUpdateConditional, nil},
		{"UpdateConditionalConcurrent", testUpdateConditionalConcurrent, nil},
		{"Delete", testDelete, nil},
		{"DeleteConditional", testDeleteConditional, nil},
		{"Ping", testPing, nil},
		{"EventsOfChanges", testEventsOfChanges, []Feature{Events}},
		{"EventsNoneWithoutChange", testEventsNoneWithoutChange, []Feature{Events}},
		{"EventsAfterPages", testEventsAfterPages, []Feature{Events}},
		{"EventBoundsAndPurge", testEventBoundsAndPurge, []Feature{Events}},
		{"EventsListen", testEventsListen, []Feature{Events, Listen}},
		{"EventsConcurrentOrder", testEventsConcurrentOrder, []Feature{Events}},
		{"EventsKeepTrace", testEventsKeepTrace, []Feature{Events, Import, Trace}},
		{"ImportNoChangeNoEvent", testImportNoChangeNoEvent, []Feature{Import, Events}},
		{"ImportEventWithLastBatch", testImportEventWithLastBatch, []Feature{Import, Events}},
		{"ExportSnapshot", testExportSnapshot, []Feature{Import, Export, Events}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skipLacking(t, lacks, tt.needs...)
			tt.test(t, open(t))
		})
	}
	// The import cases open a store per subtest. runImport reads the
	// events after each batch, and two check the result by export.
	for _, tt := range []struct {
		name  string
		test  func(t *testing.T, open func(t *testing.T) roster.UserStore)
		needs []Feature
	}{
		{"ImportPolicies", testImportPolicies, []Feature{Import, Events, Export}},
		{"ImportAbort", testImportAbort, []Feature{Import, Events}},
		{"ImportTx", testImportTx, []Feature{Import, Events}},
		{"ImportExistingLater", testImportExistingLater, []Feature{Import, Events, Export}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			skipLacking(t, lacks, tt.needs...)
			tt.test(t, open)
		})
	}
}

// skipLacking skips t if the store lacks one of the features it needs.
func skipLacking(t *testing.T, lacks map[Feature]string, needs ...Feature) {
	t.Helper()
	for _, f := range needs {
		if why, ok := lacks[f]; ok {
			t.Skipf("the store lacks %s: %s", f, why)
		}
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

// mustCreate creates u without an idempotency key and checks that the
// store returns it as given.
func mustCreate(t *testing.T, s roster.UserStore, u roster.User) roster.User {
	t.Helper()
	got, replayed, err := s.CreateUser(t.Context(), u, nil)
	if err != nil {
		t.Fatalf("CreateUser %q: got error %v, want nil", u.Email, err)
	}
	if replayed {
		t.Errorf("CreateUser %q: got replayed true, want false", u.Email)
	}
	checkUser(t, "CreateUser", got, u)
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

// checkCount checks how many users the store holds.
func checkCount(t *testing.T, s roster.UserStore, want int64) {
	t.Helper()
	got, err := s.CountUsers(t.Context(), roster.UserFilter{})
	if err != nil {
		t.Fatalf("CountUsers: got error %v, want nil", err)
	}
	if got != want {
		t.Errorf("CountUsers: got %d, want %d", got, want)
	}
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

// checkUsers compares two lists in order, user by user.
func checkUsers(t *testing.T, op string, got, want []roster.User) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d users %q, want %d %q", op, len(got), names(got), len(want), names(want))
	}
	for i := range got {
		checkUser(t, fmt.Sprintf("%s[%d]", op, i), got[i], want[i]) // #nosec G602 -- the lengths are equal: checked above
	}
}

func checkErr(t *testing.T, op string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", op, got, want)
	}
}

// compareUsers returns the order of sort as a comparison function, the
// reference the stores' SQL is checked against. Names compare by
// strings.ToLower, bytewise, which is how callers build cursors.
func compareUsers(sort roster.Sort) func(a, b roster.User) int {
	byTime := func(a, b roster.User) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	}
	byName := func(a, b roster.User) int {
		if c := strings.Compare(roster.NameKey(a.Name), roster.NameKey(b.Name)); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	}
	switch sort {
	case roster.SortOldest:
		return byTime
	case roster.SortName:
		return byName
	case roster.SortNameDesc:
		return func(a, b roster.User) int { return byName(b, a) }
	}
	return func(a, b roster.User) int { return byTime(b, a) }
}

// cursorAt is the cursor a caller builds from the last row of a page.
func cursorAt(sort roster.Sort, u roster.User) *roster.Cursor {
	return &roster.Cursor{Sort: sort, CreatedAt: u.CreatedAt, Name: roster.NameKey(u.Name), ID: u.ID}
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

func ptr[T any](v T) *T { return &v }
