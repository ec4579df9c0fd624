package roster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// UserStore persists users. Each database engine has one implementation.
// Implementations return ErrNotFound, ErrEmailTaken, ErrPreconditionFailed
// and ErrIdempotencyMismatch for the conditions they name (uniqueness of
// email is enforced by the database itself, case insensitively) and wrap
// any other failure.
type UserStore interface {
	// CreateUser inserts u, whose fields are all set by the caller. With a
	// non-nil idem, the key is recorded in the same transaction; when the
	// key is already recorded (and not expired) with the same fingerprint,
	// nothing is inserted and the user recorded with it is returned with
	// replayed true; with another fingerprint, ErrIdempotencyMismatch.
	CreateUser(ctx context.Context, u User, idem *Idempotency) (stored User, replayed bool, err error)
	// User returns the user with the given id.
	User(ctx context.Context, id uuid.UUID) (User, error)
	// ListUsers returns up to q.Limit users matching q.Filter in q.Sort
	// order, after skipping q.Offset rows or, when q.After is set, only
	// those after that position in the order (keyset pagination: the cost
	// does not grow with depth).
	ListUsers(ctx context.Context, q ListQuery) ([]User, error)
	// CountUsers counts the users matching f.
	CountUsers(ctx context.Context, f UserFilter) (int64, error)
	// UpdateUser applies the non-nil fields of upd and sets updated_at to
	// max(updatedAt, old updated_at + 1µs), so that it always moves, and
	// returns the user as stored. With upd.IfUpdatedAt set, the update
	// happens only if the stored updated_at equals it, atomically;
	// otherwise ErrPreconditionFailed (ErrNotFound when there is no user).
	UpdateUser(ctx context.Context, id uuid.UUID, upd UserUpdate, updatedAt time.Time) (User, error)
	// DeleteUser removes the user with the given id; with ifUpdatedAt
	// non-nil only if its updated_at equals it (else ErrPreconditionFailed).
	// The user.deleted event is dated at, the service's clock.
	DeleteUser(ctx context.Context, id uuid.UUID, ifUpdatedAt *time.Time, at time.Time) error
	// BeginImport starts one transaction of an import; the domain decides
	// how many rows each holds and which carries the event (WriteImport).
	// A store uses opts.OnConflict and opts.At in every Write, and may use
	// opts.MetExisting to choose how it writes.
	BeginImport(ctx context.Context, opts ImportOptions) (ImportTx, error)
	// ExportUsers calls fn for every user matching f, oldest first, from
	// one consistent snapshot, holding at most two pages of users at a
	// time. An error from fn stops the export and is returned.
	ExportUsers(ctx context.Context, f UserFilter, fn func(User) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}

// ImportTx is one transaction of an import: rows written in it are seen
// by others, with the event, only once Commit returns nil.
type ImportTx interface {
	// Write writes rows, each complete and valid, emails distinct, and
	// returns each row's outcome. A row whose email exists is skipped
	// (ConflictSkip), has its name replaced when it differs
	// (ConflictUpdate; an identical row is ImportSkipped) or is
	// ImportConflict (ConflictFail: nothing written for it).
	Write(ctx context.Context, rows []ImportRow) ([]ImportOutcome, error)
	// Commit commits the transaction with, when event is not nil, one
	// users.imported event with those totals at the import's At.
	Commit(ctx context.Context, event *ImportSummary) error
	// Rollback discards what was written; after Commit it does nothing.
	Rollback()
}

// Idempotency identifies a create request that a client may retry.
type Idempotency struct {
	Subject     string    // the caller: keys are per caller
	Key         string    // the client's Idempotency-Key
	Fingerprint string    // hash of the request body: a reused key must come with the same request
	ExpiresAt   time.Time // after this the key may be reused for a new request
}

// Replay is the answer to a create whose key a store found already
// claimed, from the record it read (the fingerprint and the created user
// as stored): that request's user, or ErrIdempotencyMismatch when the key
// came with another request. Every engine calls it, so the rule is here.
func (idem Idempotency) Replay(fingerprint string, createdUser []byte) (User, error) {
	if fingerprint != idem.Fingerprint {
		return User{}, ErrIdempotencyMismatch
	}
	u, err := DecodeUser(createdUser)
	if err != nil {
		return User{}, fmt.Errorf("stored idempotency key %q: %w", idem.Key, err)
	}
	return u, nil
}

// UserFilter selects users; zero fields select everything.
type UserFilter struct {
	Email string // exact match; already normalized (lower-case)
	// Search is found, in any case, inside the name or the email, or only
	// at their start (see PrefixSearch); lower-case.
	Search        string
	Match         Match     // how Search matches; empty means MatchContains
	CreatedAfter  time.Time // created_at > CreatedAfter when not zero
	CreatedBefore time.Time // created_at < CreatedBefore when not zero
	// SearchEmailOf, when not nil, limits the email side of Search to the
	// user with this id (uuid.Nil: to no one); names match for everyone.
	// The service sets it (Service.scopeSearch), never a client.
	SearchEmailOf *uuid.UUID
}

// Match is how UserFilter.Search matches a name or an email.
type Match string

const (
	MatchContains Match = "contains" // anywhere in it (the default)
	MatchPrefix   Match = "prefix"   // at its start only
)

// Matches lists the valid matches.
var Matches = []Match{MatchContains, MatchPrefix}

// Limits on UserFilter.Search, in characters.
const (
	// MaxSearchLength is more than any name holds (MaxNameLength).
	MaxSearchLength = 100
	// MinContainsLength is the shortest search matched anywhere: both
	// engines find substrings through an index of trigrams (three
	// characters), which a shorter search cannot use. Shorter ones match
	// at the start, as MatchPrefix, which an ordinary index serves.
	MinContainsLength = 3
)

// PrefixSearch reports whether f.Search matches at the start of a name or
// an email only: when asked to, or when it is shorter than
// MinContainsLength. Stores call it, so that the rule has one home.
func (f UserFilter) PrefixSearch() bool {
	return f.Match == MatchPrefix || utf8.RuneCountInString(f.Search) < MinContainsLength
}

// Sort is a list order. Every order ends with id, so it is total and
// keyset pagination never skips or repeats a row.
type Sort string

const (
	SortNewest   Sort = "-created_at" // created_at DESC, id DESC (the default)
	SortOldest   Sort = "created_at"  // created_at ASC, id ASC
	SortName     Sort = "name"        // lower(name) ASC, id ASC
	SortNameDesc Sort = "-name"       // lower(name) DESC, id DESC
)

// Sorts lists the valid orders.
var Sorts = []Sort{SortNewest, SortOldest, SortName, SortNameDesc}

// ListQuery is what ListUsers is asked for.
type ListQuery struct {
	Filter UserFilter
	Sort   Sort // empty means SortNewest
	Limit  int
	Offset int     // page mode; 0 in keyset mode
	After  *Cursor // keyset mode: the position of the last row already seen
}

// Cursor is a position in a list order: the sort key of one row.
type Cursor struct {
	Sort      Sort
	CreatedAt time.Time
	Name      string // lower(name), for the name orders
	ID        uuid.UUID
}

// Check rejects a query no store can answer meaningfully: an unknown
// sort, a negative limit or offset, a cursor with an offset or from
// another order. The service turns these into client errors first
// (normalizeQuery); stores call Check as a guard. (A negative LIMIT would
// even mean "no limit" to SQLite.)
func (q ListQuery) Check() error {
	sort := cmp.Or(q.Sort, SortNewest)
	switch {
	case !slices.Contains(Sorts, sort):
		return fmt.Errorf("unknown sort %q", sort)
	case q.Limit < 0 || q.Offset < 0:
		return fmt.Errorf("negative limit %d or offset %d", q.Limit, q.Offset)
	case q.After != nil && q.Offset != 0:
		return errors.New("both a cursor and an offset")
	case q.After != nil && cmp.Or(q.After.Sort, SortNewest) != sort:
		return fmt.Errorf("cursor for sort %q used with sort %q", q.After.Sort, sort)
	}
	return nil
}
