package roster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// Service holds the rules for users: validation, authorization and
// translation of store conditions into client errors. It knows no HTTP.
type Service struct {
	store  UserStore
	now    func() time.Time
	emails EmailVisibility
}

// Option configures a Service.
type Option func(*Service)

// WithEmailVisibility sets whose emails non-admins see (default EmailsSelf).
func WithEmailVisibility(v EmailVisibility) Option {
	return func(s *Service) { s.emails = v }
}

// NewService returns a Service over store. now is the clock; nil means
// time.Now.
func NewService(store UserStore, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, now: now, emails: EmailsSelf}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Visible returns u as a sees it under the service's email visibility;
// every path that hands a user to a caller goes through it.
func (s *Service) Visible(a Actor, u User) User { return u.VisibleTo(a, s.emails) }

// timestamp returns the current time in the precision both engines store,
// so that what is returned equals what is read back later.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// Ready checks that the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// ListUsers returns the users q selects, in its order, one page at a time:
// by q.Offset, or after q.After (keyset). A limit above MaxPerPage is
// clamped, 0 means DefaultPerPage. The list tells whether more follow and,
// if so, the cursor of the next page.
func (s *Service) ListUsers(ctx context.Context, q ListQuery) (_ UserList, err error) {
	ctx, span := tracing.Start(ctx, "roster.ListUsers", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	actor, err := authorize(ctx, "")
	if err != nil {
		return UserList{}, err
	}
	q, err = normalizeQuery(q)
	if err != nil {
		return UserList{}, err
	}
	if ok, err := s.mayFilterByEmail(ctx, actor, q.Filter.Email); !ok || err != nil {
		return UserList{Users: []User{}}, err
	}
	q.Filter = s.scopeSearch(actor, q.Filter)
	limit := q.Limit
	// One extra row tells whether a next page exists without a count.
	q.Limit++
	users, err := s.store.ListUsers(ctx, q)
	if err != nil {
		return UserList{}, fmt.Errorf("list users: %w", err)
	}
	list := UserList{Users: users}
	if len(users) > limit {
		list.Users = users[:limit]
		last := list.Users[limit-1]
		list.Next = &Cursor{Sort: q.Sort, CreatedAt: last.CreatedAt, Name: NameKey(last.Name), ID: last.ID}
	}
	for i, u := range list.Users {
		list.Users[i] = s.Visible(actor, u)
	}
	return list, nil
}

// CountUsers counts the users matching f.
func (s *Service) CountUsers(ctx context.Context, f UserFilter) (_ int64, err error) {
	ctx, span := tracing.Start(ctx, "roster.CountUsers", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	actor, err := authorize(ctx, "")
	if err != nil {
		return 0, err
	}
	q, err := normalizeQuery(ListQuery{Filter: f})
	if err != nil {
		return 0, err
	}
	if ok, err := s.mayFilterByEmail(ctx, actor, q.Filter.Email); !ok || err != nil {
		return 0, err
	}
	q.Filter = s.scopeSearch(actor, q.Filter)
	n, err := s.store.CountUsers(ctx, q.Filter)
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// mayFilterByEmail reports whether a filter for email (normalized) may
// match for a: always when a may see every email; otherwise only when it
// is a's own. Someone else's email then matches nothing, exactly like an
// unknown one, and costs the same (one read of a's own record, whatever
// the email), so the filter tells no one whether an address exists.
func (s *Service) mayFilterByEmail(ctx context.Context, a Actor, email string) (bool, error) {
	if email == "" || s.emails == EmailsAll || a.IsAdmin() {
		return true, nil
	}
	id, err := uuid.Parse(a.Subject)
	if err != nil {
		return false, nil // a subject that is no user has no email
	}
	own, err := s.store.User(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("email filter: %w", err)
	}
	return own.Email == email, nil
}

// scopeSearch limits f's search to the emails a may see: when a may not
// see every email, the search matches names, and a's own email, only.
// Matching other emails would answer, a few letters at a time, whether
// an address exists, which the email filter refuses to tell
// (mayFilterByEmail).
func (s *Service) scopeSearch(a Actor, f UserFilter) UserFilter {
	f.SearchEmailOf = nil
	if f.Search == "" || s.emails == EmailsAll || a.IsAdmin() {
		return f
	}
	id, err := uuid.Parse(a.Subject)
	if err != nil {
		id = uuid.Nil // a subject that is no user has no email
	}
	f.SearchEmailOf = &id
	return f
}

// normalizeQuery applies defaults and checks q, reporting every problem.
func normalizeQuery(q ListQuery) (ListQuery, error) {
	var bad problems
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPerPage
	case q.Limit < 0:
		bad.add("limit", "must be at least 1")
	}
	q.Limit = min(q.Limit, MaxPerPage)
	if q.Offset < 0 {
		bad.add("page", "must be at least 1")
	}
	if q.Sort == "" {
		q.Sort = SortNewest
	}
	if !slices.Contains(Sorts, q.Sort) {
		bad.add("sort", "must be one of created_at, -created_at, name, -name")
	}
	if q.After != nil && q.After.Sort != q.Sort {
		bad.add("cursor", "was issued for another sort order")
	}
	if q.After != nil && q.Offset != 0 {
		bad.add("cursor", "cannot be combined with page")
	}
	q.Filter.Email = strings.ToLower(strings.TrimSpace(q.Filter.Email))
	// A search no name or email can hold is refused rather than answered
	// with nothing: a control character (NUL, which PostgreSQL's text
	// cannot hold, included) or bytes that are not UTF-8.
	switch search := q.Filter.Search; {
	case checkChars(search) != "":
		bad.add("q", checkChars(search))
	case strings.ContainsFunc(search, unicode.IsControl):
		bad.add("q", "must not contain control characters")
	case utf8.RuneCountInString(search) > MaxSearchLength:
		bad.add("q", fmt.Sprintf("must be at most %d characters", MaxSearchLength))
	}
	q.Filter.Search = strings.ToLower(q.Filter.Search)
	if q.Filter.Match == "" {
		q.Filter.Match = MatchContains
	}
	if !slices.Contains(Matches, q.Filter.Match) {
		bad.add("match", "must be contains or prefix")
	}
	f := q.Filter
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		bad.add("created_before", "must be later than created_after")
	}
	if len(bad) > 0 {
		return q, &Error{Code: CodeBadRequest, Message: "Invalid query parameters", Details: bad}
	}
	return q, nil
}

// User returns the user with the given id.
func (s *Service) User(ctx context.Context, id uuid.UUID) (_ User, err error) {
	ctx, span := tracing.Start(ctx, "roster.User", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	actor, err := authorize(ctx, "")
	if err != nil {
		return User{}, err
	}
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, storeError("get user", id, err)
	}
	return s.Visible(actor, u), nil
}

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// CreateUser validates in and stores a new user with a fresh UUIDv7. With
// a non-empty idemKey a retry of the same request (same caller, key and
// normalized input) within IdempotencyTTL returns the user the first
// attempt created, with replayed true, instead of creating another.
func (s *Service) CreateUser(ctx context.Context, in NewUser, idemKey string) (u User, replayed bool, err error) {
	ctx, span := tracing.Start(ctx, "roster.CreateUser", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	actor, err := authorize(ctx, RoleAdmin)
	if err != nil {
		return User{}, false, err
	}
	u, bad := checkNewUser(in)
	if err := bad.err(); err != nil {
		return User{}, false, err
	}
	if u.ID, err = uuid.NewV7(); err != nil {
		return User{}, false, fmt.Errorf("create user: new id: %w", err)
	}
	now := s.timestamp()
	u.CreatedAt, u.UpdatedAt = now, now
	var idem *Idempotency
	if idemKey != "" {
		idem = &Idempotency{Subject: actor.Subject, Key: idemKey, Fingerprint: fingerprint(u), ExpiresAt: now.Add(IdempotencyTTL)}
	}
	stored, replayed, err := s.store.CreateUser(ctx, u, idem)
	if err != nil {
		return User{}, false, storeError("create user", u.ID, err)
	}
	return s.Visible(actor, stored), replayed, nil
}

// UpdateUser applies the fields set in upd. Admins may update anyone;
// others only the user whose id is their subject.
func (s *Service) UpdateUser(ctx context.Context, id uuid.UUID, upd UserUpdate) (_ User, err error) {
	ctx, span := tracing.Start(ctx, "roster.UpdateUser", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	actor, err := authorize(ctx, id.String())
	if err != nil {
		return User{}, err
	}
	upd, bad := checkUpdate(upd)
	if err := bad.err(); err != nil {
		return User{}, err
	}
	u, err := s.store.UpdateUser(ctx, id, upd, s.timestamp())
	if err != nil {
		return User{}, storeError("update user", id, err)
	}
	return s.Visible(actor, u), nil
}

// DeleteUser removes a user. Admins only. With ifUpdatedAt set, only if
// the user has not changed since.
func (s *Service) DeleteUser(ctx context.Context, id uuid.UUID, ifUpdatedAt *time.Time) (err error) {
	ctx, span := tracing.Start(ctx, "roster.DeleteUser", trace.SpanKindInternal)
	defer func() { endSpan(span, err) }()
	if _, err := authorize(ctx, RoleAdmin); err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, id, ifUpdatedAt, s.timestamp()); err != nil {
		return storeError("delete user", id, err)
	}
	return nil
}

// authorize checks the actor in ctx. need is "" for any authenticated
// actor, RoleAdmin for admins only, or a user id that the actor may act on
// as itself (admins may act on anyone).
// AuthorizeCreate reports whether the actor in ctx may create users:
// admins only. A transport asks before it reads a byte of the body, so
// that a caller without the right costs nothing (as AuthorizeImport);
// CreateUser asks again.
func (s *Service) AuthorizeCreate(ctx context.Context) error {
	_, err := authorize(ctx, RoleAdmin)
	return err
}

// AuthorizeUpdate reports whether the actor in ctx may update the user
// with the given id (the user itself, or an admin), asked before the body
// is read as AuthorizeCreate is; UpdateUser asks again.
func (s *Service) AuthorizeUpdate(ctx context.Context, id uuid.UUID) error {
	_, err := authorize(ctx, id.String())
	return err
}

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
	case errors.Is(err, ErrPreconditionFailed):
		return Errorf(CodePrecondition, "User %s has changed since it was read", id)
	case errors.Is(err, ErrIdempotencyMismatch):
		return &Error{Code: CodeIdempotencyReused, Message: "This Idempotency-Key was used with a different request",
			Details: []FieldError{{Field: "Idempotency-Key", Message: "already used with another body"}}}
	case errors.Is(err, ErrEmailTaken):
		return &Error{Code: CodeConflict, Message: "A user with this email already exists",
			Details: []FieldError{{Field: "email", Message: "already taken"}}}
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}

// endSpan ends a span of a service call, with the error's code as the
// failure: a refused or conflicting call is a failed operation, though
// the HTTP span of a 4xx is not a failed request.
func endSpan(span trace.Span, err error) {
	if span != nil {
		tracing.End(span, err, string(ErrorCode(err)))
	}
}
