package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rosterhq/roster/internal/bulk"
	"github.com/rosterhq/roster/internal/roster"
)

// With --db, import and export work on the database in this process:
// internal/bulk reads and writes the files and roster.Service applies
// every rule the server would, as the admin "cli". The database is
// migrated first, as serve would.

// openService opens and migrates the database and returns its service
// and a context carrying the admin actor the service asks for. traced
// makes a span of each statement, under the command's (clitrace.go).
func openService(ctx context.Context, target string, traced bool) (context.Context, *roster.Service, func(), error) {
	d := dbFlags{Target: target, tracing: traced}
	d.oneShot()
	if _, _, err := d.engine(); err != nil {
		return nil, nil, nil, err
	}
	db, err := openDatabase(ctx, &d)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := migrateUp(ctx, db); err != nil {
		db.close()
		return nil, nil, nil, err
	}
	ctx = roster.WithActor(ctx, roster.Actor{Subject: "cli", Roles: []string{roster.RoleAdmin}})
	return ctx, roster.NewService(db.users, nil), db.close, nil
}

// importDB imports in (in format form) into the database target. interrupt
// ends a read of in that blocks once the import has ended early.
func importDB(ctx context.Context, target string, traced bool, in io.Reader, interrupt func(), form string,
	opts roster.ImportOptions) (roster.ImportResult, error) {
	ctx, svc, closeDB, err := openService(ctx, target, traced)
	if err != nil {
		return roster.ImportResult{}, err
	}
	defer closeDB()
	records, err := bulk.NewReader(in, bulk.Format(form))
	if err != nil {
		return roster.ImportResult{}, problem(err)
	}
	// The file is parsed a little ahead, in a goroutine of its own, as a
	// server parses a body: while the service validates and the database
	// writes.
	ra := bulk.StartReadAhead(records.Next)
	defer ra.Stop(interrupt)
	res, err := svc.ImportUsers(ctx, opts, ra.Next)
	return res, problem(err)
}

// exportDB writes the users that f selects to w in format form.
func exportDB(ctx context.Context, svc *roster.Service, w io.Writer, form string, f roster.UserFilter) error {
	out, err := bulk.NewWriter(w, bulk.Format(form))
	if err != nil {
		return err
	}
	if err := svc.ExportUsers(ctx, f, out.Write); err != nil {
		return problem(err)
	}
	return out.Flush()
}

// exportFilter is the filter of export's flags, the times checked as the
// server checks created_after and created_before.
func exportFilter(email, q, match, after, before string) (roster.UserFilter, error) {
	f := roster.UserFilter{Email: email, Search: q, Match: roster.Match(match)}
	var bad []roster.FieldError
	for _, t := range []struct {
		name, value string
		dst         *time.Time
	}{{"created_after", after, &f.CreatedAfter}, {"created_before", before, &f.CreatedBefore}} {
		if t.value == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			bad = append(bad, roster.FieldError{Field: t.name, Message: "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z"})
		}
		*t.dst = ts
	}
	if len(bad) > 0 {
		return f, problem(&roster.Error{Code: roster.CodeBadRequest, Message: "Invalid filters", Details: bad})
	}
	return f, nil
}

// problem writes a *roster.Error on one line, as serverError writes the
// server's: code, message and details. Other errors pass.
func problem(err error) error {
	var e *roster.Error
	if !errors.As(err, &e) {
		return err
	}
	return errors.New(describe(e.Code, e.Message, e.Details))
}

func describe(code roster.Code, message string, details []roster.FieldError) string {
	msg := fmt.Sprintf("%s: %s", code, message)
	for _, d := range details {
		msg += fmt.Sprintf("; %s %s", d.Field, d.Message)
	}
	return msg
}

// closeOnInterrupt is the interrupt of an import from a file: closing it
// fails a read in progress. Standard input has none; a read of it ends
// when its writer sends or closes.
func closeOnInterrupt(in io.Reader) func() {
	if f, ok := in.(*os.File); ok && f != os.Stdin {
		return func() { _ = f.Close() }
	}
	return func() {}
}
