package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/rosterhq/roster/internal/roster"
)

// ttl is how long the suite's idempotency keys live, as in the service.
const ttl = 24 * time.Hour

// keyed returns the Idempotency of a request made at at by subject "admin".
func keyed(key, fingerprint string, at time.Time) *roster.Idempotency {
	return &roster.Idempotency{Subject: "admin", Key: key, Fingerprint: fingerprint, ExpiresAt: at.Add(ttl)}
}

// create calls CreateUser and checks the error and whether it replayed.
func create(t *testing.T, s roster.UserStore, u roster.User, idem *roster.Idempotency, wantReplayed bool) roster.User {
	t.Helper()
	got, replayed, err := s.CreateUser(t.Context(), u, idem)
	if err != nil {
		t.Fatalf("CreateUser %q with key %q: got error %v, want nil", u.Email, idem.Key, err)
	}
	if replayed != wantReplayed {
		t.Errorf("CreateUser %q with key %q: got replayed %t, want %t", u.Email, idem.Key, replayed, wantReplayed)
	}
	return got
}

// A retry is a new request: the service gives it a new id and time. The
// store returns the first request's user and inserts nothing.
func testIdempotentReplay(t *testing.T, s roster.UserStore) {
	first := newUser(t, "Ada", "ada@example.com", base)
	got := create(t, s, first, keyed("k1", "fp1", base), false)
	checkUser(t, "first CreateUser", got, first)

	retry := newUser(t, "Ada", "ada@example.com", base.Add(time.Minute))
	got = create(t, s, retry, keyed("k1", "fp1", retry.CreatedAt), true)
	checkUser(t, "retried CreateUser", got, first)
	checkCount(t, s, 1)
	_, err := s.User(t.Context(), retry.ID)
	checkErr(t, "User of the retry's id", err, roster.ErrNotFound)
}

// The replay is the original response, not the user as it is now.
func testIdempotentReplayAfterUpdateAndDelete(t *testing.T, s roster.UserStore) {
	first := newUser(t, "Ada", "ada@example.com", base)
	create(t, s, first, keyed("k1", "fp1", base), false)
	if _, err := s.UpdateUser(t.Context(), first.ID, roster.UserUpdate{Name: ptr("Grace"), Email: ptr("grace@example.com")}, base.Add(time.Hour)); err != nil {
		t.Fatalf("UpdateUser: got error %v, want nil", err)
	}
	at := base.Add(2 * time.Hour)
	got := create(t, s, newUser(t, "Ada", "ada@example.com", at), keyed("k1", "fp1", at), true)
	checkUser(t, "CreateUser after update", got, first)

	if err := s.DeleteUser(t.Context(), first.ID, nil, at); err != nil {
		t.Fatalf("DeleteUser: got error %v, want nil", err)
	}
	got = create(t, s, newUser(t, "Ada", "ada@example.com", at), keyed("k1", "fp1", at), true)
	checkUser(t, "CreateUser after delete", got, first)
	checkCount(t, s, 0)
}

func testIdempotentMismatch(t *testing.T, s roster.UserStore) {
	first := newUser(t, "Ada", "ada@example.com", base)
	create(t, s, first, keyed("k1", "fp1", base), false)

	at := base.Add(time.Minute)
	other := newUser(t, "Grace", "grace@example.com", at)
	_, _, err := s.CreateUser(t.Context(), other, keyed("k1", "fp2", at))
	checkErr(t, "CreateUser with the key of another request", err, roster.ErrIdempotencyMismatch)
	checkCount(t, s, 1)
	// The record is intact.
	got := create(t, s, newUser(t, "Ada", "ada@example.com", at), keyed("k1", "fp1", at), true)
	checkUser(t, "retried CreateUser", got, first)
}

// A key is remembered until its ExpiresAt, judged at the request's time
// (its CreatedAt); after that it may be used for a new request.
func testIdempotentExpiry(t *testing.T, s roster.UserStore) {
	first := newUser(t, "Ada", "ada@example.com", base)
	idem := keyed("k1", "fp1", base)
	create(t, s, first, idem, false)

	at := idem.ExpiresAt
	got := create(t, s, newUser(t, "Ada", "ada@example.com", at), keyed("k1", "fp1", at), true)
	checkUser(t, "CreateUser at ExpiresAt", got, first)

	at = idem.ExpiresAt.Add(time.Microsecond)
	second := newUser(t, "Grace", "grace@example.com", at)
	got = create(t, s, second, keyed("k1", "fp2", at), false)
	checkUser(t, "CreateUser after ExpiresAt with another request", got, second)
	checkCount(t, s, 2)

	// The key now belongs to the second request.
	at = at.Add(time.Minute)
	got = create(t, s, newUser(t, "Grace", "grace@example.com", at), keyed("k1", "fp2", at), true)
	checkUser(t, "retry of the second request", got, second)
	_, _, err := s.CreateUser(t.Context(), newUser(t, "Ada", "ada@example.com", at), keyed("k1", "fp1", at))
	checkErr(t, "retry of the first request", err, roster.ErrIdempotencyMismatch)
}

func testIdempotentKeysPerSubject(t *testing.T, s roster.UserStore) {
	for i, subject := range []string{"alice", "bob"} {
		u := newUser(t, "Ada", fmt.Sprintf("ada%d@example.com", i), base)
		idem := &roster.Idempotency{Subject: subject, Key: "k1", Fingerprint: fmt.Sprintf("fp%d", i), ExpiresAt: base.Add(ttl)}
		got := create(t, s, u, idem, false)
		checkUser(t, "CreateUser as "+subject, got, u)
	}
	checkCount(t, s, 2)
}

// A create that fails leaves no record: the key stays free.
func testIdempotentEmailTakenRecordsNothing(t *testing.T, s roster.UserStore) {
	mustCreate(t, s, newUser(t, "Ada", "ada@example.com", base))
	_, _, err := s.CreateUser(t.Context(), newUser(t, "Ada", "ADA@example.com", base), keyed("k1", "fp1", base))
	checkErr(t, "CreateUser with a taken email", err, roster.ErrEmailTaken)

	u := newUser(t, "Grace", "grace@example.com", base)
	got := create(t, s, u, keyed("k1", "fp2", base), false)
	checkUser(t, "CreateUser with the key of the failed request", got, u)
	checkCount(t, s, 2)
}

// Retries racing each other create exactly one user, and every one of
// them returns it.
func testIdempotentConcurrentRetries(t *testing.T, s roster.UserStore) {
	const n = 20
	type result struct {
		user     roster.User
		replayed bool
		err      error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		u := newUser(t, "Ada", "ada@example.com", base.Add(time.Duration(i)*time.Millisecond))
		wg.Go(func() {
			<-start
			var r result
			r.user, r.replayed, r.err = s.CreateUser(t.Context(), u, keyed("k1", "fp1", u.CreatedAt))
			results[i] = r
		})
	}
	close(start)
	wg.Wait()

	var created []roster.User
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("CreateUser %d: got error %v, want nil", i, r.err)
		}
		if !r.replayed {
			created = append(created, r.user)
		}
	}
	if len(created) != 1 {
		t.Fatalf("got %d requests not replayed, want 1", len(created))
	}
	for i, r := range results {
		checkUser(t, fmt.Sprintf("CreateUser %d", i), r.user, created[0])
	}
	checkCount(t, s, 1)
	checkStored(t, s, created[0])
}

// CheckKeysPurged checks that each keyed create deletes up to batch
// expired keys and never an unexpired one. count returns how many keys
// the store of s holds; engines call this from their own tests, as the
// contract cannot see the keys.
func CheckKeysPurged(t *testing.T, s roster.UserStore, count func() int, batch int) {
	const expired = 25
	keep := newUser(t, "Keep", "keep@example.com", base)
	create(t, s, keep, keyed("keep", "fp", base), false)
	for i := range expired {
		u := newUser(t, "Ada", fmt.Sprintf("ada%d@example.com", i), base)
		idem := keyed(fmt.Sprintf("old%d", i), "fp", base)
		idem.ExpiresAt = base.Add(time.Hour)
		create(t, s, u, idem, false)
	}
	if got, want := count(), expired+1; got != want {
		t.Fatalf("got %d keys, want %d", got, want)
	}
	at := base.Add(2 * time.Hour)
	for i := 1; i <= expired/batch+2; i++ {
		u := newUser(t, "Grace", fmt.Sprintf("grace%d@example.com", i), at)
		create(t, s, u, keyed(fmt.Sprintf("new%d", i), "fp", at), false)
		if got, want := count(), 1+max(0, expired-i*batch)+i; got != want {
			t.Fatalf("after %d keyed creates: got %d keys, want %d", i, got, want)
		}
	}
	got := create(t, s, newUser(t, "Keep", "keep@example.com", at), keyed("keep", "fp", at), true)
	checkUser(t, "CreateUser with the unexpired key", got, keep)
}

// KeyMigration is how an engine's test writes and reads an idempotency
// record the way it was kept before migration 00006 (a column per user
// field), which moved the user into one JSON column.
type KeyMigration struct {
	InsertOld func(u roster.User, idem roster.Idempotency)
	ReadOld   func() roster.User
}

// CheckKeyMigration migrates s's database (p, at version before) up: a
// record written before still replays its user; then back down to
// before: the record has its columns back.
func CheckKeyMigration(t *testing.T, s roster.UserStore, p *goose.Provider, before int64, at time.Time, m KeyMigration) {
	t.Helper()
	old := roster.User{ID: mustID(t), Name: "Ada", Email: "ada@example.com", CreatedAt: at, UpdatedAt: at.Add(time.Microsecond)}
	idem := keyed("k1", "fp1", at)
	m.InsertOld(old, *idem)
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	retry := newUser(t, "Ada", "ada@example.com", at.Add(time.Minute))
	checkUser(t, "keyed create after migrating up", create(t, s, retry, idem, true), old)
	if _, err := p.DownTo(t.Context(), before); err != nil {
		t.Fatalf("migrate down to %d: %v", before, err)
	}
	checkUser(t, "record after migrating down", m.ReadOld(), old)
}
