package roster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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

		// Names: no invisible format characters (Unicode Cf), valid UTF-8.
		{"accents and CJK", "Zoë 李", "Zoë 李", "", normalizeName},
		{"emoji", "Ada 😀", "Ada 😀", "", normalizeName},
		{"bidi override", "Ada\u202Egnp.exe", "Ada\u202Egnp.exe", msgFormatChars, normalizeName},
		{"bidi isolate", "\u2066Ada\u2069", "\u2066Ada\u2069", msgFormatChars, normalizeName},
		{"left-to-right mark", "Ada\u200E", "Ada\u200E", msgFormatChars, normalizeName},
		{"zero-width space", "Ad\u200Ba", "Ad\u200Ba", msgFormatChars, normalizeName},
		{"zero-width joiner", "A\u200Dda", "A\u200Dda", msgFormatChars, normalizeName},
		{"byte order mark", "\uFEFFAda", "\uFEFFAda", msgFormatChars, normalizeName},
		{"soft hyphen", "Ada\u00ADm", "Ada\u00ADm", msgFormatChars, normalizeName},
		{"invalid UTF-8", "Ada \xff", "Ada \xff", msgInvalidUTF8, normalizeName},
		{"cut sequence", "Ada \xe2\x80", "Ada \xe2\x80", msgInvalidUTF8, normalizeName},
		{"replacement character, sent as such", "Ada \uFFFD", "Ada \uFFFD", "", normalizeName},

		// Emails: an ASCII local part; no domain label mixes scripts.
		{"Cyrillic a in the local part", "\u0430dmin@example.com", "\u0430dmin@example.com", msgLocalASCII, normalizeEmail},
		{"accented local part", "josé@example.com", "josé@example.com", msgLocalASCII, normalizeEmail},
		{"Latin with a Cyrillic e", "ada@\u0435xample.com", "ada@\u0435xample.com", msgMixedScripts, normalizeEmail},
		{"Latin with a Greek o", "ada@g\u03BFogle.com", "ada@g\u03BFogle.com", msgMixedScripts, normalizeEmail},
		{"a pure IDN label", "ada@münchen.de", "ada@münchen.de", "", normalizeEmail},
		{"a Cyrillic domain", "ada@пример.рф", "ada@пример.рф", "", normalizeEmail},
		{"Japanese: Han with kana", "ada@日本語ドメイン.jp", "ada@日本語ドメイン.jp", "", normalizeEmail},
		{"scripts in different labels", "ada@пример.example.com", "ada@пример.example.com", "", normalizeEmail},
		{"punycode", "ada@xn--mnchen-3ya.de", "ada@xn--mnchen-3ya.de", "", normalizeEmail},
		{"zero-width space in the domain", "ada@exa\u200Bmple.com", "ada@exa\u200Bmple.com", msgFormatChars, normalizeEmail},
		{"invalid UTF-8 in the domain", "ada@ex\xffample.com", "ada@ex\xffample.com", msgInvalidUTF8, normalizeEmail},
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
	idem    []*Idempotency
	queries []ListQuery
	commits []importCommit // the import transactions committed
	deleted []time.Time    // the times DeleteUser was given
}

// importCommit is one import transaction a store committed: how many rows
// it wrote and the event it carried.
type importCommit struct {
	rows  int
	event bool
}

func (m *memStore) CreateUser(_ context.Context, u User, idem *Idempotency) (User, bool, error) {
	m.created = append(m.created, u)
	m.idem = append(m.idem, idem)
	return u, false, nil
}
func (m *memStore) User(_ context.Context, id uuid.UUID) (User, error) {
	if u, ok := m.users[id]; ok {
		return u, nil
	}
	return User{}, ErrNotFound
}
func (m *memStore) ListUsers(_ context.Context, q ListQuery) ([]User, error) {
	m.queries = append(m.queries, q)
	return make([]User, max(0, min(q.Limit, 3-q.Offset))), nil // three users in all
}
func (m *memStore) CountUsers(context.Context, UserFilter) (int64, error) { return 3, nil }
func (m *memStore) UpdateUser(_ context.Context, id uuid.UUID, upd UserUpdate, at time.Time) (User, error) {
	return User{ID: id, Name: *upd.Name, UpdatedAt: at}, nil
}
func (m *memStore) DeleteUser(_ context.Context, _ uuid.UUID, _ *time.Time, at time.Time) error {
	m.deleted = append(m.deleted, at)
	return ErrEmailTaken
}
func (m *memStore) Ping(context.Context) error { return nil }

// BeginImport begins a transaction that inserts every row; an email seen
// before is a conflict.
func (m *memStore) BeginImport(context.Context, ImportOptions) (ImportTx, error) {
	return &memImportTx{m: m}, nil
}

type memImportTx struct {
	m     *memStore
	rows  []User
	event *ImportSummary
}

func (tx *memImportTx) Write(_ context.Context, rows []ImportRow) ([]ImportOutcome, error) {
	out := make([]ImportOutcome, len(rows))
	for i, r := range rows {
		out[i] = ImportConflict
		taken := func(u User) bool { return u.Email == r.User.Email }
		if !slices.ContainsFunc(tx.m.created, taken) && !slices.ContainsFunc(tx.rows, taken) {
			tx.rows = append(tx.rows, r.User)
			out[i] = ImportInserted
		}
	}
	return out, nil
}

func (tx *memImportTx) Commit(_ context.Context, event *ImportSummary) error {
	tx.m.created = append(tx.m.created, tx.rows...)
	tx.m.commits = append(tx.m.commits, importCommit{len(tx.rows), event != nil})
	tx.event = event
	return nil
}

func (tx *memImportTx) Rollback() {}

func (m *memStore) ExportUsers(context.Context, UserFilter, func(User) error) error { return nil }

func TestServiceRules(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	store := &memStore{}
	svc := NewService(store, func() time.Time { return now })
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})
	self := uuid.Must(uuid.NewV7())
	user := WithActor(context.Background(), Actor{Subject: self.String(), Roles: []string{"user"}})

	u, _, err := svc.CreateUser(admin, NewUser{Name: " Ada ", Email: "ADA@x.io"}, "")
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
		{"user creates", func() error { _, _, err := svc.CreateUser(user, NewUser{}, ""); return err }(), CodeForbidden},
		{"user deletes", svc.DeleteUser(user, self, nil), CodeForbidden},
		{"user updates other", func() error { _, err := svc.UpdateUser(user, uuid.New(), UserUpdate{}); return err }(), CodeForbidden},
		{"user updates self, empty", func() error { _, err := svc.UpdateUser(user, self, UserUpdate{}); return err }(), CodeInvalid},
		{"missing user", func() error { _, err := svc.User(user, self); return err }(), CodeNotFound},
		{"store conflict", svc.DeleteUser(admin, self, nil), CodeConflict},
		{"negative limit", func() error { _, err := svc.ListUsers(user, ListQuery{Limit: -1}); return err }(), CodeBadRequest},
		{"bad sort", func() error { _, err := svc.ListUsers(user, ListQuery{Sort: "email"}); return err }(), CodeBadRequest},
		{"cursor of another sort", func() error {
			_, err := svc.ListUsers(user, ListQuery{Sort: SortName, After: &Cursor{Sort: SortNewest}})
			return err
		}(), CodeBadRequest},
		{"empty date range", func() error {
			_, err := svc.ListUsers(user, ListQuery{Filter: UserFilter{CreatedAfter: now, CreatedBefore: now}})
			return err
		}(), CodeBadRequest},
		{"search too long", func() error {
			_, err := svc.ListUsers(user, ListQuery{Filter: UserFilter{Search: strings.Repeat("é", MaxSearchLength+1)}})
			return err
		}(), CodeBadRequest},
		{"search with a control character", func() error {
			_, err := svc.ListUsers(user, ListQuery{Filter: UserFilter{Search: "a\x00b"}})
			return err
		}(), CodeBadRequest},
		{"search not UTF-8", func() error { _, err := svc.CountUsers(user, UserFilter{Search: "ad\xff"}); return err }(), CodeBadRequest},
		{"unknown match", func() error {
			_, err := svc.ListUsers(user, ListQuery{Filter: UserFilter{Search: "ada", Match: "exact"}})
			return err
		}(), CodeBadRequest},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: got code %s (%v), want %s", tt.name, got, tt.err, tt.code)
		}
	}

	list, err := svc.ListUsers(admin, ListQuery{Limit: 2, Filter: UserFilter{Email: " ADA@X.io", Search: "AdA"}})
	if err != nil || len(list.Users) != 2 || list.Next == nil || list.Next.Sort != SortNewest {
		t.Errorf("page 1 of 3 by 2: got %d users, next %+v, err %v; want 2 and a cursor", len(list.Users), list.Next, err)
	}
	if q := store.queries[len(store.queries)-1]; q.Limit != 3 || q.Sort != SortNewest || q.Filter.Email != "ada@x.io" || q.Filter.Search != "ada" || q.Filter.Match != MatchContains {
		t.Errorf("store asked for %+v; want limit+1, the default sort and normalized filters", q)
	}
	list, _ = svc.ListUsers(user, ListQuery{Limit: 2, Offset: 2})
	if len(list.Users) != 1 || list.Next != nil {
		t.Errorf("page 2 of 3 by 2: got %d users, next %+v; want 1, none", len(list.Users), list.Next)
	}
	svc.ListUsers(user, ListQuery{Limit: 1000})
	if q := store.queries[len(store.queries)-1]; q.Limit != MaxPerPage+1 {
		t.Errorf("limit 1000 reached the store as %d, want %d", q.Limit, MaxPerPage+1)
	}

	// Idempotency keys are per caller and fingerprint the normalized input.
	svc.CreateUser(admin, NewUser{Name: "Bo", Email: "bo@x.io"}, "k1")
	svc.CreateUser(admin, NewUser{Name: " Bo", Email: "BO@x.io "}, "k1")
	a, b := store.idem[len(store.idem)-2], store.idem[len(store.idem)-1]
	if a == nil || a.Subject != "a" || a.Key != "k1" || a.Fingerprint != b.Fingerprint || !a.ExpiresAt.Equal(want.Add(IdempotencyTTL)) {
		t.Errorf("idempotency records %+v and %+v: want the same fingerprint for the same normalized input", a, b)
	}
	svc.CreateUser(admin, NewUser{Name: "Bob", Email: "bo@x.io"}, "k1")
	if c := store.idem[len(store.idem)-1]; c.Fingerprint == a.Fingerprint {
		t.Errorf("a different name gave the same fingerprint")
	}

	name := "  Me "
	got, err := svc.UpdateUser(user, self, UserUpdate{Name: &name})
	if err != nil || got.Name != "Me" {
		t.Errorf("self update: got %+v, %v; want trimmed name Me", got, err)
	}
	if err := svc.DeleteUser(admin, self, nil); !errors.As(err, new(*Error)) {
		t.Errorf("store sentinel not translated: %v", err)
	}
	// The delete, and so its event, is dated by the service's clock.
	for _, at := range store.deleted {
		if !at.Equal(want) || at.Location() != time.UTC {
			t.Errorf("DeleteUser was given %v, want %v in UTC", at, want)
		}
	}
	if len(store.deleted) == 0 {
		t.Error("DeleteUser never reached the store")
	}
}

// ImportUsers hands the store full batches, each in a transaction of its
// own, and commits the event with the last one, which it knows only after
// reading on to the next valid row or the end. A broken body has no last
// batch: the event of the batches written is committed on its own.
func TestImportBatches(t *testing.T) {
	const n = ImportBatchSize
	broken := errors.New("broken body")
	type run struct{ valid, invalid int } // consecutive records of one kind
	tests := []struct {
		name    string
		input   []run
		readErr error // after the input, instead of io.EOF
		want    []importCommit
		failed  int64
	}{
		{"empty", nil, nil, nil, 0},
		{"only invalid rows", []run{{0, 3}}, nil, nil, 3},
		{"one row", []run{{1, 0}}, nil, []importCommit{{1, true}}, 0},
		{"one full batch", []run{{n, 0}}, nil, []importCommit{{n, true}}, 0},
		{"one row more", []run{{n + 1, 0}}, nil, []importCommit{{n, false}, {1, true}}, 0},
		{"invalid rows after the last", []run{{2 * n, 5}}, nil, []importCommit{{n, false}, {n, true}}, 5},
		{"invalid rows before the next", []run{{n, 3}, {1, 0}}, nil, []importCommit{{n, false}, {1, true}}, 3},
		{"a broken body", []run{{n + 10, 0}}, broken, []importCommit{{n, false}, {0, true}}, 0},
	}
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []ImportRecord
			for _, r := range tt.input {
				for range r.valid {
					line := int64(len(recs) + 1)
					recs = append(recs, ImportRecord{Line: line, User: NewUser{Name: "U", Email: fmt.Sprintf("u%d@x.io", line)}})
				}
				for range r.invalid {
					recs = append(recs, ImportRecord{Line: int64(len(recs) + 1), User: NewUser{Name: "", Email: "x@x.io"}})
				}
			}
			next := func(context.Context) (ImportRecord, error) {
				if len(recs) == 0 {
					return ImportRecord{}, cmp.Or(tt.readErr, io.EOF)
				}
				rec := recs[0]
				recs = recs[1:]
				return rec, nil
			}
			store := &memStore{}
			res, err := NewService(store, nil).ImportUsers(admin, ImportOptions{}, next)
			if !errors.Is(err, tt.readErr) {
				t.Errorf("got error %v, want %v", err, tt.readErr)
			}
			if !slices.Equal(store.commits, tt.want) || res.Failed != tt.failed {
				t.Errorf("got commits %v and %d failed, want %v and %d", store.commits, res.Failed, tt.want, tt.failed)
			}
		})
	}
}

// failingImportStore fails an import at once, reading nothing.
type failingImportStore struct{ memStore }

func (failingImportStore) BeginImport(context.Context, ImportOptions) (ImportTx, error) {
	return nil, errors.New("database gone")
}

// When the store fails, ImportUsers stops the reading ahead, even a read
// that waits for more input, and returns only once it has stopped. (An
// atomic import begins its transaction before it takes the first batch.)
func TestImportStopsReading(t *testing.T) {
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})
	stopped := make(chan struct{})
	next := func(ctx context.Context) (ImportRecord, error) {
		defer close(stopped)
		<-ctx.Done() // a client that sends nothing more
		return ImportRecord{}, ctx.Err()
	}
	_, err := NewService(&failingImportStore{}, nil).ImportUsers(admin, ImportOptions{Atomic: true}, next)
	if err == nil || !strings.Contains(err.Error(), "database gone") {
		t.Errorf("got error %v, want the store's", err)
	}
	select {
	case <-stopped:
	default:
		t.Error("ImportUsers returned with a read still waiting")
	}
}

// A partial import commits its users.imported event in the transaction of
// its last batch, with the totals of all batches: there is no moment, and
// so no crash, after which the last rows are stored and the event is not.
func TestImportEventCommitsWithLastRows(t *testing.T) {
	admin := WithActor(context.Background(), Actor{Subject: "a", Roles: []string{RoleAdmin}})
	const total = ImportBatchSize + 2
	line := int64(0)
	next := func(context.Context) (ImportRecord, error) {
		if line == total {
			return ImportRecord{}, io.EOF
		}
		line++
		return ImportRecord{Line: line, User: NewUser{Name: "U", Email: fmt.Sprintf("u%d@x.io", line)}}, nil
	}
	store := &memStore{}
	var last *memImportTx
	recording := recordingStore{memStore: store, last: &last}
	if _, err := NewService(recording, nil).ImportUsers(admin, ImportOptions{}, next); err != nil {
		t.Fatal(err)
	}
	want := []importCommit{{ImportBatchSize, false}, {2, true}}
	if !slices.Equal(store.commits, want) {
		t.Fatalf("got commits %v, want %v: the event with the last rows", store.commits, want)
	}
	if last.event == nil || *last.event != (ImportSummary{Inserted: total}) || len(last.rows) != 2 {
		t.Errorf("last transaction: got %d rows and event %+v, want 2 rows and the totals of the import", len(last.rows), last.event)
	}
}

// recordingStore keeps the last import transaction it began.
type recordingStore struct {
	*memStore
	last **memImportTx
}

func (r recordingStore) BeginImport(ctx context.Context, opts ImportOptions) (ImportTx, error) {
	tx, err := r.memStore.BeginImport(ctx, opts)
	*r.last = tx.(*memImportTx)
	return tx, err
}
