package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/roster"
)

// importRun is one store import: its summary, outcomes by line and error,
// and, for each batch written, how many users.imported events were
// committed when written was called.
type importRun struct {
	sum      roster.ImportSummary
	outcomes map[int64]roster.ImportOutcome
	err      error
	events   []int
}

// runImport imports batches through the domain's driver of the stores'
// import transactions, the last one marked so; failAt > 0 makes
// next fail instead of returning that batch (1-based), as a broken upload
// would.
func runImport(t *testing.T, s roster.UserStore, opts roster.ImportOptions, failAt int, batches ...[]roster.ImportRow) importRun {
	t.Helper()
	run := importRun{outcomes: map[int64]roster.ImportOutcome{}}
	i := 0
	next := func() ([]roster.ImportRow, bool, error) {
		i++
		switch {
		case i == failAt:
			return nil, false, errBrokenUpload
		case i > len(batches):
			return nil, true, nil
		}
		return batches[i-1], i == len(batches), nil
	}
	written := func(rows []roster.ImportRow, out []roster.ImportOutcome) {
		if len(rows) != len(out) {
			t.Errorf("written: got %d outcomes for %d rows", len(out), len(rows))
		}
		for j, r := range rows {
			run.outcomes[r.Line] = out[j]
		}
		n := 0
		for _, ev := range allEvents(t, eventStore(t, s)) {
			if ev.Type == roster.EventUsersImported {
				n++
			}
		}
		run.events = append(run.events, n)
	}
	run.sum, run.err = roster.WriteImport(t.Context(), s, opts, next, written)
	return run
}

var errBrokenUpload = errors.New("upload broken")

func importRows(t *testing.T, firstLine int64, at time.Time, users ...[2]string) []roster.ImportRow {
	t.Helper()
	rows := make([]roster.ImportRow, len(users))
	for i, nu := range users {
		rows[i] = roster.ImportRow{Line: firstLine + int64(i), User: newUser(t, nu[0], nu[1], at)}
	}
	return rows
}

// emails returns name by email of every user, through the export.
func exported(t *testing.T, s roster.UserStore, f roster.UserFilter) []roster.User {
	t.Helper()
	var all []roster.User
	if err := s.ExportUsers(t.Context(), f, func(u roster.User) error { all = append(all, u); return nil }); err != nil {
		t.Fatalf("ExportUsers: got error %v, want nil", err)
	}
	return all
}

func byEmail(users []roster.User) map[string]roster.User {
	m := make(map[string]roster.User, len(users))
	for _, u := range users {
		m[u.Email] = u
	}
	return m
}

// Every mode and conflict policy, in two batches with an existing email
// (different name) and an existing identical user in the first.
func testImportPolicies(t *testing.T, open func(t *testing.T) roster.UserStore) {
	at := base.Add(time.Hour)
	const (
		ins = roster.ImportInserted
		upd = roster.ImportUpdated
		skp = roster.ImportSkipped
		cfl = roster.ImportConflict
	)
	tests := []struct {
		atomic   bool
		policy   roster.ConflictPolicy
		want     map[int64]roster.ImportOutcome
		wantSum  roster.ImportSummary
		wantName string // of old@example.com afterwards
	}{
		{false, roster.ConflictFail, map[int64]roster.ImportOutcome{1: ins, 2: cfl, 3: cfl, 4: ins}, roster.ImportSummary{Inserted: 2}, "Old"},
		{false, roster.ConflictSkip, map[int64]roster.ImportOutcome{1: ins, 2: skp, 3: skp, 4: ins}, roster.ImportSummary{Inserted: 2}, "Old"},
		{false, roster.ConflictUpdate, map[int64]roster.ImportOutcome{1: ins, 2: upd, 3: skp, 4: ins}, roster.ImportSummary{Inserted: 2, Updated: 1}, "New"},
		{true, roster.ConflictFail, map[int64]roster.ImportOutcome{1: ins, 2: cfl, 3: cfl, 4: ins}, roster.ImportSummary{Inserted: 2}, "Old"},
		{true, roster.ConflictSkip, map[int64]roster.ImportOutcome{1: ins, 2: skp, 3: skp, 4: ins}, roster.ImportSummary{Inserted: 2}, "Old"},
		{true, roster.ConflictUpdate, map[int64]roster.ImportOutcome{1: ins, 2: upd, 3: skp, 4: ins}, roster.ImportSummary{Inserted: 2, Updated: 1}, "New"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("atomic=%v/%s", tt.atomic, tt.policy), func(t *testing.T) {
			s := open(t)
			old := create(t, s, newUser(t, "Old", "old@example.com", base), nil, false)
			same := create(t, s, newUser(t, "Same", "same@example.com", base), nil, false)
			run := runImport(t, s, roster.ImportOptions{Atomic: tt.atomic, OnConflict: tt.policy, At: at}, 0,
				importRows(t, 1, at, [2]string{"A", "a@example.com"}, [2]string{"New", "old@example.com"}, [2]string{"Same", "same@example.com"}),
				importRows(t, 4, at, [2]string{"B", "b@example.com"}))
			if run.err != nil {
				t.Fatalf("ImportUsers: got error %v, want nil", run.err)
			}
			if run.sum != tt.wantSum {
				t.Errorf("got summary %+v, want %+v", run.sum, tt.wantSum)
			}
			for line, want := range tt.want {
				if got := run.outcomes[line]; got != want {
					t.Errorf("line %d: got outcome %d, want %d", line, got, want)
				}
			}
			users := byEmail(exported(t, s, roster.UserFilter{}))
			if len(users) != 4 {
				t.Fatalf("got %d users, want 4", len(users))
			}
			got := users["old@example.com"]
			if got.Name != tt.wantName || got.ID != old.ID || !got.CreatedAt.Equal(old.CreatedAt) {
				t.Errorf("old user: got %+v, want name %q, id %s, created %v", got, tt.wantName, old.ID, old.CreatedAt)
			}
			if tt.wantName == "New" && !got.UpdatedAt.Equal(at) {
				t.Errorf("updated user: got updated_at %v, want %v", got.UpdatedAt, at)
			}
			if got := users["same@example.com"]; got != same {
				t.Errorf("identical user: got %+v, want unchanged %+v", got, same)
			}
			if a := users["a@example.com"]; !a.CreatedAt.Equal(at) || !a.UpdatedAt.Equal(at) || a.Name != "A" {
				t.Errorf("inserted user: got %+v, want name A created and updated at %v", a, at)
			}
			evs := allEvents(t, eventStore(t, s))
			last := evs[len(evs)-1]
			if len(evs) != 3 || last.Type != roster.EventUsersImported || last.Import == nil || *last.Import != tt.wantSum || !last.At.Equal(at) {
				t.Errorf("got events %v (last %+v), want two creates and one users.imported with %+v at %v", eventTypes(evs), last, tt.wantSum, at)
			}
		})
	}
}

// An aborted atomic import writes nothing; an aborted partial import keeps
// its committed batches and still writes their event.
func testImportAbort(t *testing.T, open func(t *testing.T) roster.UserStore) {
	at := base.Add(time.Hour)
	for _, atomic := range []bool{true, false} {
		t.Run(fmt.Sprintf("atomic=%v", atomic), func(t *testing.T) {
			s := open(t)
			run := runImport(t, s, roster.ImportOptions{Atomic: atomic, OnConflict: roster.ConflictFail, At: at}, 3,
				importRows(t, 1, at, [2]string{"A", "a@example.com"}, [2]string{"B", "b@example.com"}),
				importRows(t, 3, at, [2]string{"C", "c@example.com"}),
				importRows(t, 4, at, [2]string{"D", "d@example.com"}))
			if !errors.Is(run.err, errBrokenUpload) {
				t.Fatalf("ImportUsers: got error %v, want %v", run.err, errBrokenUpload)
			}
			n, err := s.CountUsers(t.Context(), roster.UserFilter{})
			if err != nil {
				t.Fatal(err)
			}
			evs := allEvents(t, eventStore(t, s))
			if atomic {
				if n != 0 || len(evs) != 0 {
					t.Errorf("got %d users and events %v, want none", n, eventTypes(evs))
				}
				return
			}
			want := roster.ImportSummary{Inserted: 3}
			if n != 3 || run.sum != want {
				t.Errorf("got %d users, summary %+v; want 3 and %+v", n, run.sum, want)
			}
			if len(evs) != 1 || evs[0].Import == nil || *evs[0].Import != want {
				t.Errorf("got events %v, want one users.imported with %+v", eventTypes(evs), want)
			}
			if !slices.Equal(run.events, []int{0, 0}) {
				t.Errorf("got %v users.imported events as each batch was written, want none: no batch was the last", run.events)
			}
		})
	}
}

// A partial import commits its users.imported event with its last batch,
// with the totals of all batches, also when that batch itself changes
// nothing; the batches before it commit without.
func testImportEventWithLastBatch(t *testing.T, s roster.UserStore) {
	at := base.Add(time.Hour)
	create(t, s, newUser(t, "Old", "old@example.com", base), nil, false)
	run := runImport(t, s, roster.ImportOptions{OnConflict: roster.ConflictSkip, At: at}, 0,
		importRows(t, 1, at, [2]string{"A", "a@example.com"}, [2]string{"B", "b@example.com"}),
		importRows(t, 3, at, [2]string{"C", "c@example.com"}),
		importRows(t, 4, at, [2]string{"Old", "old@example.com"}))
	want := roster.ImportSummary{Inserted: 3}
	if run.err != nil || run.sum != want {
		t.Fatalf("ImportUsers: got %+v, %v; want %+v, nil", run.sum, run.err, want)
	}
	if !slices.Equal(run.events, []int{0, 0, 1}) {
		t.Errorf("got %v users.imported events as each batch was written, want [0 0 1]: the event commits with the last batch", run.events)
	}
	evs := allEvents(t, eventStore(t, s))
	if last := evs[len(evs)-1]; len(evs) != 2 || last.Type != roster.EventUsersImported || last.Import == nil || *last.Import != want {
		t.Errorf("got events %v (last %+v), want the create and one users.imported with %+v", eventTypes(evs), last, want)
	}
}

// A batch of new users after batches of new users, then one that holds
// an existing email after a new one: each row gets its outcome, once, in
// either mode and under each policy. (PostgreSQL copies batches of new
// users straight into users until one meets an existing email.)
func testImportExistingLater(t *testing.T, open func(t *testing.T) roster.UserStore) {
	at := base.Add(time.Hour)
	for _, atomic := range []bool{false, true} {
		for _, policy := range []roster.ConflictPolicy{roster.ConflictFail, roster.ConflictSkip, roster.ConflictUpdate} {
			t.Run(fmt.Sprintf("atomic=%v/%s", atomic, policy), func(t *testing.T) {
				s := open(t)
				old := create(t, s, newUser(t, "Old", "old@example.com", base), nil, false)
				run := runImport(t, s, roster.ImportOptions{Atomic: atomic, OnConflict: policy, At: at}, 0,
					importRows(t, 1, at, [2]string{"A", "a@example.com"}, [2]string{"B", "b@example.com"}),
					importRows(t, 3, at, [2]string{"C", "c@example.com"}, [2]string{"New", "old@example.com"}),
					importRows(t, 5, at, [2]string{"D", "d@example.com"}))
				if run.err != nil {
					t.Fatalf("ImportUsers: got error %v, want nil", run.err)
				}
				want := map[int64]roster.ImportOutcome{1: roster.ImportInserted, 2: roster.ImportInserted, 3: roster.ImportInserted,
					4: map[roster.ConflictPolicy]roster.ImportOutcome{
						roster.ConflictFail: roster.ImportConflict, roster.ConflictSkip: roster.ImportSkipped, roster.ConflictUpdate: roster.ImportUpdated,
					}[policy], 5: roster.ImportInserted}
				if !maps.Equal(run.outcomes, want) {
					t.Errorf("got outcomes %v, want %v", run.outcomes, want)
				}
				users := exported(t, s, roster.UserFilter{})
				byMail := byEmail(users)
				wantName := map[bool]string{false: "Old", true: "New"}[policy == roster.ConflictUpdate]
				if len(users) != 5 || len(byMail) != 5 || byMail["old@example.com"].ID != old.ID || byMail["old@example.com"].Name != wantName {
					t.Errorf("got users %+v, want A, B, C, D once each and the old user named %s", users, wantName)
				}
			})
		}
	}
}

// An import transaction's rows and event are seen together, once it
// commits, and not at all when it rolls back (a process that stops before
// the commit): so the event committed with an import's last batch cannot
// be lost while its rows stay.
func testImportTx(t *testing.T, open func(t *testing.T) roster.UserStore) {
	at := base.Add(time.Hour)
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			s := open(t)
			tx, err := s.BeginImport(t.Context(), roster.ImportOptions{OnConflict: roster.ConflictFail, At: at})
			if err != nil {
				t.Fatalf("BeginImport: got error %v, want nil", err)
			}
			defer tx.Rollback()
			out, err := tx.Write(t.Context(), importRows(t, 1, at, [2]string{"A", "a@example.com"}, [2]string{"B", "b@example.com"}))
			if err != nil || !slices.Equal(out, []roster.ImportOutcome{roster.ImportInserted, roster.ImportInserted}) {
				t.Fatalf("Write: got %v, %v; want two inserted, nil", out, err)
			}
			if n, evs := countUsers(t, s), allEvents(t, eventStore(t, s)); n != 0 || len(evs) != 0 {
				t.Errorf("before the commit: got %d users and events %v, want none", n, eventTypes(evs))
			}
			want := roster.ImportSummary{Inserted: 2}
			if commit {
				if err := tx.Commit(t.Context(), &want); err != nil {
					t.Fatalf("Commit: got error %v, want nil", err)
				}
			}
			tx.Rollback() // after Commit, nothing
			n, evs := countUsers(t, s), allEvents(t, eventStore(t, s))
			switch {
			case !commit && (n != 0 || len(evs) != 0):
				t.Errorf("rolled back: got %d users and events %v, want none", n, eventTypes(evs))
			case commit && (n != 2 || len(evs) != 1 || evs[0].Import == nil || *evs[0].Import != want || !evs[0].At.Equal(at)):
				t.Errorf("committed: got %d users and events %v, want 2 and one users.imported with %+v at %v", n, evs, want, at)
			}
		})
	}
}

func countUsers(t *testing.T, s roster.UserStore) int64 {
	t.Helper()
	n, err := s.CountUsers(t.Context(), roster.UserFilter{})
	if err != nil {
		t.Fatalf("CountUsers: got error %v, want nil", err)
	}
	return n
}

// An import that changes nothing writes no event.
func testImportNoChangeNoEvent(t *testing.T, s roster.UserStore) {
	u := create(t, s, newUser(t, "A", "a@example.com", base), nil, false)
	run := runImport(t, s, roster.ImportOptions{OnConflict: roster.ConflictUpdate, At: base.Add(time.Hour)}, 0,
		importRows(t, 1, base, [2]string{u.Name, u.Email}))
	if run.err != nil || run.outcomes[1] != roster.ImportSkipped {
		t.Fatalf("got outcome %d, error %v; want skipped, nil", run.outcomes[1], run.err)
	}
	if evs := allEvents(t, eventStore(t, s)); len(evs) != 1 {
		t.Errorf("got events %v, want only the create", eventTypes(evs))
	}
}

// Export reads one snapshot, oldest first, across several pages, with the
// list filters; a user created during the export is not in it.
func testExportSnapshot(t *testing.T, s roster.UserStore) {
	const n = 10500 // three pages or more: the stores page by 1,000 or 5,000
	var rows []roster.ImportRow
	for i := range n {
		rows = append(rows, roster.ImportRow{Line: int64(i + 1),
			User: newUser(t, fmt.Sprintf("User %04d", i), fmt.Sprintf("u%04d@example.com", i), base)})
	}
	run := runImport(t, s, roster.ImportOptions{OnConflict: roster.ConflictFail, At: base}, 0, rows[:roster.ImportBatchSize], rows[roster.ImportBatchSize:])
	if run.err != nil || run.sum.Inserted != n {
		t.Fatalf("import: got %+v, %v; want %d inserted", run.sum, run.err, n)
	}
	var got []roster.User
	err := s.ExportUsers(t.Context(), roster.UserFilter{}, func(u roster.User) error {
		if len(got) == 0 {
			create(t, s, newUser(t, "Late", "late@example.com", base.Add(time.Hour)), nil, false)
		}
		got = append(got, u)
		return nil
	})
	if err != nil {
		t.Fatalf("ExportUsers: got error %v, want nil", err)
	}
	if len(got) != n {
		t.Fatalf("got %d users, want %d (the snapshot at the start)", len(got), n)
	}
	sorted := slices.IsSortedFunc(got, func(a, b roster.User) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	if !sorted {
		t.Errorf("export is not in created_at, id order")
	}
	if len(byEmail(got)) != n {
		t.Errorf("export repeats users")
	}
	if f := exported(t, s, roster.UserFilter{Search: "user 001"}); len(f) != 10 {
		t.Errorf("search filter: got %d users, want 10", len(f))
	}
	if f := exported(t, s, roster.UserFilter{Email: "u0042@example.com"}); len(f) != 1 || f[0].Name != "User 0042" {
		t.Errorf("email filter: got %+v, want User 0042", f)
	}
	stop := errors.New("stop")
	calls := 0
	err = s.ExportUsers(t.Context(), roster.UserFilter{}, func(roster.User) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want %v after 1", err, calls, stop)
	}
}
