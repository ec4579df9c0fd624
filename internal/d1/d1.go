//go:build js && wasm

// Package d1 stores roster's users in Cloudflare D1, from a Go program
// compiled to WebAssembly and running in a Worker. It runs the SQLite
// store's own SQL (internal/sqlite/sqlitedb) through the Worker's D1
// binding: env.DB.prepare(sql).bind(...).all() and, for writes that must
// be atomic, env.DB.batch([...]), each a JavaScript promise that the
// calling goroutine waits for.
//
// D1 has no interactive transactions: a batch is one transaction, but its
// statements cannot look at each other's results from Go. Every write
// that the SQLite store does as read-then-write in one transaction is
// therefore one batch whose later statements are guarded in SQL by
// changes(), the row count of the statement before (see users.go).
package d1

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"syscall/js"

	"github.com/rosterhq/roster/internal/roster"
)

var _ roster.UserStore = (*DB)(nil)

// emailIndex is the unique index on lower(email) in migrations/sqlite.
const emailIndex = "users_email_lower_key"

// DB is a D1 database holding roster's users, reached through a binding.
type DB struct {
	binding js.Value

	// migrated is set once the migrations have been applied in this
	// isolate; mu makes concurrent first requests wait for one run.
	mu       sync.Mutex
	migrated bool
}

// Open returns the store behind binding, the D1Database object a Worker
// gets as env.DB. It sends nothing: the migrations run at first use.
func Open(binding js.Value) (*DB, error) {
	if binding.Type() != js.TypeObject || binding.Get("prepare").Type() != js.TypeFunction {
		return nil, errors.New("d1: the binding is not a D1 database (is DB bound in the Worker's configuration?)")
	}
	return &DB{binding: binding}, nil
}

// stmt is one statement with its parameters, bound in order (?1, ?2, …).
type stmt struct {
	sql  string
	args []any
}

// params returns the fields of p, a sqlitedb Params struct, in order: the
// order the generated methods bind them in.
func params(p any) []any {
	v := reflect.ValueOf(p)
	args := make([]any, v.NumField())
	for i := range args {
		args[i] = v.Field(i).Interface()
	}
	return args
}

// prepare turns s into a D1PreparedStatement.
func (db *DB) prepare(s stmt) (js.Value, error) {
	p := db.binding.Call("prepare", s.sql)
	if len(s.args) == 0 {
		return p, nil
	}
	args := make([]any, len(s.args))
	for i, a := range s.args {
		v, err := jsValue(a)
		if err != nil {
			return js.Value{}, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		args[i] = v
	}
	return p.Call("bind", args...), nil
}

// jsValue converts a parameter to what D1 binds: null, a string or a
// number. Times are Unix microseconds, well within a float64's 2^53.
func jsValue(a any) (any, error) {
	if v, ok := a.(driver.Valuer); ok { // sql.NullString, sql.NullInt64
		var err error
		if a, err = v.Value(); err != nil {
			return nil, err
		}
	}
	switch a := a.(type) {
	case nil:
		return js.Null(), nil
	case string:
		return a, nil
	case int64:
		return float64(a), nil
	case int:
		return float64(a), nil
	case bool:
		return a, nil
	}
	return nil, fmt.Errorf("unsupported type %T", a)
}

// all runs a statement and returns its rows.
func (db *DB) all(ctx context.Context, s stmt) ([]js.Value, error) {
	if err := db.ready(ctx); err != nil {
		return nil, err
	}
	p, err := db.prepare(s)
	if err != nil {
		return nil, err
	}
	res, err := await(ctx, p.Call("all"))
	if err != nil {
		return nil, err
	}
	return rows(res), nil
}

// batch runs statements as one transaction: all or none take effect. It
// returns each statement's result (D1Result: results, meta).
func (db *DB) batch(ctx context.Context, stmts ...stmt) ([]js.Value, error) {
	if err := db.ready(ctx); err != nil {
		return nil, err
	}
	return db.rawBatch(ctx, stmts...)
}

func (db *DB) rawBatch(ctx context.Context, stmts ...stmt) ([]js.Value, error) {
	list := make([]any, len(stmts))
	for i, s := range stmts {
		p, err := db.prepare(s)
		if err != nil {
			return nil, err
		}
		list[i] = p
	}
	res, err := await(ctx, db.binding.Call("batch", list))
	if err != nil {
		return nil, err
	}
	out := make([]js.Value, res.Length())
	for i := range out {
		out[i] = res.Index(i)
	}
	return out, nil
}

// rows returns the result rows of a D1Result, each an object keyed by
// column name.
func rows(res js.Value) []js.Value {
	r := res.Get("results")
	if r.Type() != js.TypeObject {
		return nil
	}
	out := make([]js.Value, r.Length())
	for i := range out {
		out[i] = r.Index(i)
	}
	return out
}

// await waits for promise p without blocking the JavaScript event loop:
// the calling goroutine parks on a channel that p's callbacks feed, and
// the Go scheduler hands control back to JavaScript until they run.
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	var onOK, onErr js.Func
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args)}
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: jsError(arg(args))}
		return nil
	})
	release := func() { onOK.Release(); onErr.Release() }
	p.Call("then", onOK, onErr)
	select {
	case r := <-done:
		release()
		return r.v, r.err
	case <-ctx.Done():
		// The callbacks must outlive the promise, which cannot be
		// cancelled; a goroutine releases them once it settles.
		go func() { <-done; release() }()
		return js.Value{}, ctx.Err()
	}
}

func arg(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// d1Error is an error thrown by the binding, such as a failed constraint.
type d1Error struct{ msg string }

func (e *d1Error) Error() string { return "d1: " + e.msg }

func jsError(v js.Value) error {
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		msg := v.Get("message").String()
		if c := v.Get("cause"); c.Type() == js.TypeObject && c.Get("message").Type() == js.TypeString {
			msg += ": " + c.Get("message").String()
		}
		return &d1Error{msg: msg}
	}
	return &d1Error{msg: v.String()}
}

// storeError turns D1's errors into the domain's: a duplicate on the email
// index is ErrEmailTaken (D1 reports constraint failures by message only);
// other unique violations, such as a duplicate id, stay internal. A
// database that is overloaded, reset or unreachable is unavailable (503).
// The domain's own errors pass unchanged.
func storeError(op string, err error) error {
	var de *d1Error
	switch {
	case errors.Is(err, roster.ErrNotFound), errors.Is(err, roster.ErrPreconditionFailed),
		errors.Is(err, roster.ErrIdempotencyMismatch), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &de) && strings.Contains(de.msg, "UNIQUE constraint failed") && strings.Contains(de.msg, emailIndex):
		return roster.ErrEmailTaken
	case errors.As(err, &de) && unavailable(de.msg):
		return roster.Unavailable(fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether a D1 error message means the database
// cannot take the work now (Cloudflare's documented retryable errors and
// SQLite's busy and I/O errors) rather than that the request was wrong.
func unavailable(msg string) bool {
	for _, s := range []string{"Network connection lost", "storage caused object to be reset",
		"Cannot resolve D1 DB due to transient issue", "D1 DB is overloaded", "SQLITE_BUSY", "SQLITE_IOERR", "SQLITE_FULL"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Ping checks that the database answers (and is migrated).
func (db *DB) Ping(ctx context.Context) error {
	if _, err := db.all(ctx, stmt{sql: "SELECT 1"}); err != nil {
		return storeError("ping d1", err)
	}
	return nil
}

// errNotSupported answers the store operations the edge build does not
// serve (bulk import and export); its HTTP layer answers those routes
// with 501 before they reach the store.
var errNotSupported = errors.New("d1: not supported by the edge build")

// BeginImport is not supported on D1.
func (db *DB) BeginImport(context.Context, roster.ImportOptions) (roster.ImportTx, error) {
	return nil, fmt.Errorf("begin import: %w", errNotSupported)
}

// ExportUsers is not supported on D1.
func (db *DB) ExportUsers(context.Context, roster.UserFilter, func(roster.User) error) error {
	return fmt.Errorf("export users: %w", errNotSupported)
}
