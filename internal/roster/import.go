package roster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ConflictPolicy says what an import does with a row whose email exists.
type ConflictPolicy string

const (
	ConflictFail   ConflictPolicy = "fail"   // the row fails (and an atomic import with it)
	ConflictSkip   ConflictPolicy = "skip"   // the row is skipped; the stored user stays
	ConflictUpdate ConflictPolicy = "update" // the stored user takes the row's name
)

// ImportOptions configures a store import.
type ImportOptions struct {
	Atomic     bool // one transaction for the whole import, else one per batch
	OnConflict ConflictPolicy
	At         time.Time // created_at of new users, updated_at of changed ones, the event's time
}

// ImportRow is one valid input row, ready to store.
type ImportRow struct {
	Line int64 // where it came from, for error reports
	User User
}

// ImportOutcome is what a store did with one row.
type ImportOutcome uint8

const (
	ImportInserted ImportOutcome = iota + 1
	ImportUpdated
	ImportSkipped
	ImportConflict // ConflictFail and the email exists: nothing written
)

// ImportSummary counts the users an import changed: the payload of the
// users.imported event.
type ImportSummary struct {
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
}

// ImportBatchSize is how many rows a store writes at once: in partial
// mode, in one transaction. On PostgreSQL 10,000 imported 9% faster than
// 2,000 (fewer round trips, statements and commits per row); SQLite
// measured the same; a batch holds ~2 MB.
const ImportBatchSize = 10000

// MaxImportErrors is how many row errors an import result lists.
const MaxImportErrors = 1000

// ImportRecord is one record read from an import file: the user it
// describes or, when it could not be read, Err.
type ImportRecord struct {
	Line int64
	User NewUser
	Err  *ImportError
}

// ImportError is one row that was not imported.
type ImportError struct {
	Line    int64  `json:"line"`
	Field   string `json:"field,omitempty"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// ImportResult is the outcome of a whole import. In an atomic import that
// failed, nothing was written: Inserted, Updated and Skipped are 0.
type ImportResult struct {
	Inserted int64         `json:"inserted"`
	Updated  int64         `json:"updated"`
	Skipped  int64         `json:"skipped"`
	Failed   int64         `json:"failed"`
	Errors   []ImportError `json:"errors"`
	// pending holds the current batch's errors: conflicts are known only
	// once it is written, after later rows' validation errors.
	pending []ImportError
}

// fail counts one failed row with its problems.
func (r *ImportResult) fail(errs ...ImportError) {
	r.Failed++
	r.pending = append(r.pending, errs...)
	if len(r.pending) >= ImportBatchSize {
		r.flush()
	}
}

// flush moves the pending errors, in line order, to Errors.
func (r *ImportResult) flush() {
	slices.SortStableFunc(r.pending, func(a, b ImportError) int { return cmp.Compare(a.Line, b.Line) })
	for _, e := range r.pending {
		if len(r.Errors) < MaxImportErrors {
			r.Errors = append(r.Errors, e)
		}
	}
	r.pending = r.pending[:0]
}

// errImportFailed aborts an atomic import in which a row failed.
var errImportFailed = errors.New("import: a row failed")

// ImportUsers reads records from next until it returns io.EOF, validates
// each with the rules of CreateUser, and stores the valid ones in batches.
// Admins only. Rows that fail are reported in the result, each with its
// line; a later row with the email of an earlier one in the same batch
// fails as a duplicate (across batches the conflict policy applies). In
// an atomic import any failed row means nothing is written; the rows are
// still all read so that every problem is reported. An error from next
// (a broken body, a disconnected client) aborts the import: it is
// returned with the result so far, which then counts only what stays
// committed.
func (s *Service) ImportUsers(ctx context.Context, opts ImportOptions, next func() (ImportRecord, error)) (ImportResult, error) {
	res := ImportResult{Errors: []ImportError{}}
	if _, err := authorize(ctx, RoleAdmin); err != nil {
		return res, err
	}
	switch opts.OnConflict {
	case "":
		opts.OnConflict = ConflictFail
	case ConflictFail, ConflictSkip, ConflictUpdate:
	default:
		return res, Errorf(CodeBadRequest, "Unknown conflict policy %q", opts.OnConflict)
	}
	opts.At = s.timestamp()
	batch := make([]ImportRow, 0, ImportBatchSize)
	seen := make(map[string]int64, ImportBatchSize) // email → line, within the batch
	var (
		readErr error
		eof     bool
		// ahead is the first valid row after a full batch: reading up to
		// it tells whether that batch is the last one.
		ahead *ImportRow
	)
	// readRow reads records until a valid one, which it returns, or the
	// end (eof or readErr set), counting the invalid ones as failed.
	readRow := func() (ImportRow, bool) {
		for !eof && readErr == nil {
			rec, err := next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					eof = true
				} else {
					readErr = err
				}
				break
			}
			if rec.Err != nil {
				res.fail(*rec.Err)
				continue
			}
			u, bad := s.newUser(rec.User, opts.At)
			if bad != nil {
				errs := make([]ImportError, len(bad))
				for i, fe := range bad {
					errs[i] = ImportError{Line: rec.Line, Field: fe.Field, Code: CodeInvalid, Message: fe.Message}
				}
				res.fail(errs...)
				continue
			}
			return ImportRow{Line: rec.Line, User: u}, true
		}
		return ImportRow{}, false
	}
	nextBatch := func() ([]ImportRow, bool, error) {
		res.flush() // the previous batch is written: its errors are all known
		batch = batch[:0]
		clear(seen)
		for {
			var row ImportRow
			if ahead != nil {
				row, ahead = *ahead, nil
			} else if r, ok := readRow(); ok {
				row = r
			} else {
				break
			}
			if len(batch) == ImportBatchSize {
				ahead = &row
				break
			}
			if first, ok := seen[row.User.Email]; ok {
				res.fail(ImportError{Line: row.Line, Field: "email", Code: CodeConflict,
					Message: fmt.Sprintf("duplicates line %d", first)})
				continue
			}
			seen[row.User.Email] = row.Line
			if opts.Atomic && res.Failed > 0 {
				continue // nothing will be written: only validate
			}
			batch = append(batch, row)
		}
		switch {
		case readErr != nil:
			return nil, false, readErr
		case len(batch) == 0 && opts.Atomic && res.Failed > 0:
			return nil, false, errImportFailed
		case len(batch) == 0:
			return nil, true, nil
		}
		return batch, ahead == nil, nil
	}
	written := func(rows []ImportRow, outcomes []ImportOutcome) {
		for i, o := range outcomes {
			switch o {
			case ImportInserted:
				res.Inserted++
			case ImportUpdated:
				res.Updated++
			case ImportSkipped:
				res.Skipped++
			case ImportConflict:
				res.fail(ImportError{Line: rows[i].Line, Field: "email", Code: CodeConflict, Message: "already taken"})
			}
		}
	}
	_, err := s.store.ImportUsers(ctx, opts, nextBatch, written)
	res.flush()
	if opts.Atomic && err != nil {
		res.Inserted, res.Updated, res.Skipped = 0, 0, 0
	}
	if errors.Is(err, errImportFailed) {
		err = nil
	}
	if err != nil {
		return res, fmt.Errorf("import users: %w", err)
	}
	return res, nil
}

// newUser validates in like CreateUser and makes the user, created at.
func (s *Service) newUser(in NewUser, at time.Time) (User, problems) {
	var bad problems
	name, msg := normalizeName(in.Name)
	bad.add("name", msg)
	email, msg := normalizeEmail(in.Email)
	bad.add("email", msg)
	if len(bad) > 0 {
		return User{}, bad
	}
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does, and
		// then nothing works; it is no client's problem.
		panic(fmt.Sprintf("new user id: %v", err))
	}
	return User{ID: id, Name: name, Email: email, CreatedAt: at, UpdatedAt: at}, nil
}

// ExportUsers calls fn for every user matching f, oldest first, from one
// consistent snapshot of the database. Admins only.
func (s *Service) ExportUsers(ctx context.Context, f UserFilter, fn func(User) error) error {
	if _, err := authorize(ctx, RoleAdmin); err != nil {
		return err
	}
	q, err := normalizeQuery(ListQuery{Filter: f})
	if err != nil {
		return err
	}
	if err := s.store.ExportUsers(ctx, q.Filter, fn); err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	return nil
}
