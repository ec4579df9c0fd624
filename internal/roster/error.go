package roster

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The HTTP layer maps each code to one status in
// one table; everything else in roster only deals in codes.
type Code string

// Error codes. They are part of the public API: clients switch on them.
const (
	CodeBadRequest   Code = "BAD_REQUEST"
	CodeInvalid      Code = "VALIDATION_ERROR"
	CodeNotFound     Code = "NOT_FOUND"
	CodeConflict     Code = "CONFLICT"
	CodeUnauthorized Code = "UNAUTHORIZED"
	CodeForbidden    Code = "FORBIDDEN"
	CodeUnavailable  Code = "UNAVAILABLE"
	CodeInternal     Code = "INTERNAL_ERROR"
	// CodePrecondition: the resource changed since the client read it.
	CodePrecondition Code = "PRECONDITION_FAILED"
	// CodeIdempotencyReused: an Idempotency-Key came back with another request.
	CodeIdempotencyReused Code = "IDEMPOTENCY_KEY_REUSED"
)

// FieldError is one problem with one input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error meant for the caller: its Code and Message are safe to
// show to a client. Errors of any other type are internal and never shown.
type Error struct {
	Code    Code
	Message string
	Details []FieldError
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Details)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Sentinel errors returned by UserStore implementations. The service turns
// them into an *Error with a message for the client.
var (
	ErrNotFound   = errors.New("not found")
	ErrEmailTaken = errors.New("email already taken")
	// ErrPreconditionFailed: a conditional write found the row changed.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrIdempotencyMismatch: an idempotency key reused for another request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
)

// ErrUnavailable is the client's error when the database cannot be
// reached or cannot take the work now: a connection refused or broken, a
// server shutting down or starting, no free connection in time, a lock
// or disk it cannot get. The request may succeed if retried shortly.
var ErrUnavailable = Errorf(CodeUnavailable, "The database is unavailable; try again shortly")

// Unavailable wraps cause, a store's error, so that callers see
// ErrUnavailable (errors.As finds the *Error) while logs and errors.Is
// still see the cause.
func Unavailable(cause error) error { return &unavailable{cause: cause} }

type unavailable struct{ cause error }

func (e *unavailable) Error() string   { return "database unavailable: " + e.cause.Error() }
func (e *unavailable) Unwrap() []error { return []error{ErrUnavailable, e.cause} }
