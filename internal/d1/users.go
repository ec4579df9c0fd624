//go:build js && wasm

package d1

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"syscall/js"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
)

// purgeBatch is how many expired idempotency keys each keyed create
// deletes, as in the SQLite store.
const purgeBatch = 10

// The guarded statements run only when the statement before them in the
// same batch changed a row (changes() is the count of the last finished
// statement). They stand in for the Go "if" between two statements of
// the SQLite store's transactions, which a D1 batch cannot have.
var (
	createUserIfClaimed = ifChanged(sqlitedb.SQLCreateUser)
	appendEventIfDone   = ifChanged(sqlitedb.SQLAppendEvent)
)

// deletedRows reads how many users the DELETE before it removed. D1's
// meta.changes cannot tell: it counts the rows that the search index's
// trigger (migration 00007) changes too, where SQL's changes() counts
// the statement's own rows only. A SELECT leaves changes() as it is, so
// the guarded event insert after it still sees the DELETE's count.
const deletedRows = `SELECT changes() AS deleted`

// appendUpdatedEvent writes the user.updated event of the row the UPDATE
// before it changed, with the user as the event's data in the JSON that
// roster.User marshals to (times in roster.TimeLayout): the new row is
// known only inside the batch.
const appendUpdatedEvent = `INSERT INTO events (type, user_id, data, at)
SELECT 'user.updated', id,
       json_object('id', id, 'name', name, 'email', email,
                   'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000000, 'unixepoch') || printf('.%06dZ', created_at % 1000000),
                   'updated_at', strftime('%Y-%m-%dT%H:%M:%S', updated_at / 1000000, 'unixepoch') || printf('.%06dZ', updated_at % 1000000)),
       updated_at
FROM users
WHERE id = ?1 AND changes() = 1`

// ifChanged rewrites a single-row "INSERT … VALUES (…)" as
// "INSERT … SELECT … WHERE changes() = 1", keeping its parameters.
func ifChanged(insert string) string {
	i := strings.LastIndex(insert, "VALUES (")
	j := strings.LastIndex(insert, ")")
	if i < 0 || j < i {
		panic("d1: not a single-row INSERT … VALUES: " + insert) // a change to query.sql; the integration test fails
	}
	return insert[:i] + "SELECT " + insert[i+len("VALUES ("):j] + " WHERE changes() = 1"
}

// CreateUser inserts u and its user.created event and, with idem, records
// the key, all in one batch. With a key, the claim's result decides in
// SQL whether the user and event are written; the record read back at the
// end says which happened: it names u when this request created it, else
// the user of an earlier request with the key.
func (db *DB) CreateUser(ctx context.Context, u roster.User, idem *roster.Idempotency) (roster.User, bool, error) {
	created, updated := u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro()
	u.CreatedAt, u.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	data, err := roster.Event{Type: roster.EventUserCreated, User: &u}.Data()
	if err != nil {
		return roster.User{}, false, fmt.Errorf("create user: encode event: %w", err)
	}
	insert := params(sqlitedb.NewUserParams(u))
	event := params(sqlitedb.AppendEventParams{
		Type: string(roster.EventUserCreated), UserID: u.ID.String(),
		Data: sql.NullString{String: string(data), Valid: true}, At: updated,
	})
	if idem == nil {
		if _, err := db.batch(ctx, stmt{sqlitedb.SQLCreateUser, insert}, stmt{sqlitedb.SQLAppendEvent, event}); err != nil {
			return roster.User{}, false, storeError("create user", err)
		}
		return u, false, nil
	}
	createdUser, err := json.Marshal(u)
	if err != nil {
		return roster.User{}, false, fmt.Errorf("create user: encode user: %w", err)
	}
	res, err := db.batch(ctx,
		stmt{sqlitedb.SQLPurgeIdempotencyKeys, params(sqlitedb.PurgeIdempotencyKeysParams{Now: created, Batch: purgeBatch})},
		stmt{sqlitedb.SQLClaimIdempotencyKey, params(sqlitedb.ClaimIdempotencyKeyParams{
			Subject: idem.Subject, Key: idem.Key, Fingerprint: idem.Fingerprint,
			CreatedUser: string(createdUser),
			CreatedAt:   created, ExpiresAt: idem.ExpiresAt.UnixMicro(),
		})},
		stmt{createUserIfClaimed, insert},
		stmt{appendEventIfDone, event},
		stmt{sqlitedb.SQLIdempotencyKey, params(sqlitedb.IdempotencyKeyParams{Subject: idem.Subject, Key: idem.Key})},
	)
	if err != nil {
		return roster.User{}, false, storeError("create user", err)
	}
	recs := rows(res[4])
	if len(recs) != 1 {
		return roster.User{}, false, fmt.Errorf("create user: idempotency key record: got %d rows, want 1", len(recs))
	}
	// The record names u when this batch's claim wrote it: a new user has
	// a new id, so no earlier request's record holds it.
	rec := recs[0]
	stored, err := idem.Replay(rec.Get("fingerprint").String(), []byte(rec.Get("created_user").String()))
	if err != nil {
		return roster.User{}, false, fmt.Errorf("create user: %w", err)
	}
	if stored.ID == u.ID {
		return u, false, nil
	}
	return stored, true, nil
}

// User returns the user with the given id.
func (db *DB) User(ctx context.Context, id uuid.UUID) (roster.User, error) {
	rs, err := db.all(ctx, stmt{sqlitedb.SQLGetUser, []any{id.String()}})
	if err != nil {
		return roster.User{}, storeError("get user", err)
	}
	if len(rs) == 0 {
		return roster.User{}, roster.ErrNotFound
	}
	return user(rs[0])
}

// UpdateUser applies the non-nil fields of upd, moves updated_at forward
// (see the SQLite store) and writes the user.updated event, in one batch.
// The batch ends by asking whether the user exists, which explains an
// update that matched no row: gone, or changed since IfUpdatedAt.
func (db *DB) UpdateUser(ctx context.Context, id uuid.UUID, upd roster.UserUpdate, updatedAt time.Time) (roster.User, error) {
	res, err := db.batch(ctx,
		stmt{sqlitedb.SQLUpdateUser, params(sqlitedb.UserUpdateParams(id, upd, updatedAt))},
		stmt{appendUpdatedEvent, []any{id.String()}},
		stmt{sqlitedb.SQLUserExists, []any{id.String()}},
	)
	if err != nil {
		return roster.User{}, storeError("update user", err)
	}
	if rs := rows(res[0]); len(rs) == 1 {
		return user(rs[0])
	}
	return roster.User{}, missingOrChanged(res[2], upd.IfUpdatedAt != nil)
}

// DeleteUser removes the user with the given id, with ifUpdatedAt only if
// it is still that version, and writes the user.deleted event, at at (the
// service's clock), in one batch.
func (db *DB) DeleteUser(ctx context.Context, id uuid.UUID, ifUpdatedAt *time.Time, at time.Time) error {
	res, err := db.batch(ctx,
		stmt{sqlitedb.SQLDeleteUser, params(sqlitedb.DeleteUserParams{ID: id.String(), IfUpdatedAt: sqlitedb.NullMicros(ifUpdatedAt)})},
		stmt{sql: deletedRows},
		stmt{appendEventIfDone, params(sqlitedb.AppendEventParams{
			Type: string(roster.EventUserDeleted), UserID: id.String(), At: at.UnixMicro(),
		})},
		stmt{sqlitedb.SQLUserExists, []any{id.String()}},
	)
	if err != nil {
		return storeError("delete user", err)
	}
	if rs := rows(res[1]); len(rs) == 1 && rs[0].Get("deleted").Float() == 1 {
		return nil
	}
	return missingOrChanged(res[3], ifUpdatedAt != nil)
}

// missingOrChanged explains a conditional write that matched no row from
// the result of UserExists in the same batch.
func missingOrChanged(exists js.Value, conditional bool) error {
	rs := rows(exists)
	if conditional && len(rs) == 1 && firstColumn(rs[0]).Float() == 1 {
		return roster.ErrPreconditionFailed
	}
	return roster.ErrNotFound
}

// firstColumn is the first value of a result row (for an expression whose
// column name is the expression's text).
func firstColumn(row js.Value) js.Value {
	return js.Global().Get("Object").Call("values", row).Index(0)
}

// user converts a stored row by the SQLite store's mapping
// (sqlitedb.User.Domain): D1 answers the same statements with objects
// keyed by column name, which fill the row type's fields of those names.
func user(row js.Value) (roster.User, error) {
	var r sqlitedb.User
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		col := row.Get(columnName(name))
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(col.String())
		case reflect.Int64:
			f.SetInt(int64(col.Float())) // whole microseconds, well within 2^53
		default:
			return roster.User{}, fmt.Errorf("stored user: field %s of type %s", name, f.Type())
		}
	}
	return r.Domain()
}

// columnName is the column sqlc named a field after: CreatedAt is
// created_at, ID is id.
func columnName(field string) string {
	var b strings.Builder
	for i, c := range field {
		if unicode.IsUpper(c) && i > 0 && !unicode.IsUpper(rune(field[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
