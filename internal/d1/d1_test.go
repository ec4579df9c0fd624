//go:build js && wasm

package d1

import (
	"strings"
	"syscall/js"
	"testing"

	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	"github.com/rosterhq/roster/migrations"
)

// These run under Node (GOOS=js GOARCH=wasm go test
// -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec"), without D1; the
// store itself is tested inside workerd, through the Worker and by the
// store contract (contract_test.go), both from cmd/roster-edge.

func TestUpMigrations(t *testing.T) {
	all, err := upMigrations(migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 4 {
		t.Fatalf("got %d migrations, want the 4+ of migrations/sqlite", len(all))
	}
	// Versions rise, with gaps where a migration is PostgreSQL's only
	// (there is no 00005 for SQLite).
	for i, m := range all {
		if i > 0 && m.version <= all[i-1].version {
			t.Errorf("migration %d: version %d after %d", i, m.version, all[i-1].version)
		}
		for _, s := range m.stmts {
			switch {
			case !strings.HasSuffix(s, ";"):
				t.Errorf("migration %d: statement without its ';': %q", m.version, s)
			case strings.Count(s, ";") > 1 && !strings.Contains(s, "--") && !strings.HasPrefix(s, "CREATE TRIGGER"):
				t.Errorf("migration %d: two statements in one: %q", m.version, s)
			case strings.HasPrefix(s, "DROP TABLE users") || strings.HasPrefix(s, "DROP TRIGGER"):
				t.Errorf("migration %d: a Down statement in the Up section: %q", m.version, s)
			}
		}
	}
	byVersion := map[int64][]string{}
	for _, m := range all {
		byVersion[m.version] = m.stmts
	}
	// 00007: the FTS5 table, its first fill and three triggers, each
	// trigger whole (its body ends in "END;").
	if got := byVersion[7]; len(got) != 5 {
		t.Errorf("migration 7: got %d statements, want 5: %q", len(got), got)
	} else {
		for _, s := range got[2:] {
			if !strings.HasPrefix(s, "CREATE TRIGGER") || !strings.HasSuffix(s, "END;") {
				t.Errorf("migration 7: a trigger cut short: %q", s)
			}
		}
	}
	if got := len(all[0].stmts); got != 3 {
		t.Errorf("migration 1: got %d statements, want 3 (table, two indexes): %q", got, all[0].stmts)
	}
}

func TestUpStatements(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
		wantErr   bool
	}{
		{"up only", "-- +goose Up\nCREATE TABLE a (x INT);\n-- +goose Down\nDROP TABLE a;\n", []string{"CREATE TABLE a (x INT);"}, false},
		{"a comment with a semicolon", "-- +goose Up\n-- one; two\nCREATE TABLE a (\n  x INT -- why; because\n);\n", []string{"CREATE TABLE a (\n  x INT -- why; because\n);"}, false},
		{"no final semicolon", "-- +goose Up\nCREATE TABLE a (x INT)\n", nil, true},
		{"StatementBegin", "-- +goose Up\n-- +goose StatementBegin\nCREATE TRIGGER t BEGIN\n  DELETE FROM a;\n  -- why\n  INSERT INTO a VALUES (1);\nEND;\n-- +goose StatementEnd\nCREATE TABLE b (x INT);\n",
			[]string{"CREATE TRIGGER t BEGIN\n  DELETE FROM a;\n  INSERT INTO a VALUES (1);\nEND;", "CREATE TABLE b (x INT);"}, false},
		{"StatementBegin in Down only", "-- +goose Up\nCREATE TABLE a (x INT);\n-- +goose Down\n-- +goose StatementBegin\nDROP TABLE a;\n-- +goose StatementEnd\n", []string{"CREATE TABLE a (x INT);"}, false},
		{"StatementBegin without End", "-- +goose Up\n-- +goose StatementBegin\nCREATE TRIGGER t BEGIN\n  DELETE FROM a;\nEND;\n", nil, true},
		{"StatementEnd without Begin", "-- +goose Up\nCREATE TABLE a (x INT);\n-- +goose StatementEnd\n", nil, true},
		{"another annotation", "-- +goose Up\n-- +goose NO TRANSACTION\nCREATE TABLE a (x INT);\n", nil, true},
	}
	for _, tt := range tests {
		got, err := upStatements(tt.src)
		if (err != nil) != tt.wantErr || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestIfChanged(t *testing.T) {
	got := ifChanged(sqlitedb.SQLCreateUser)
	if !strings.Contains(got, "INSERT INTO users (id, name, email, created_at, updated_at, name_lower)\nSELECT ?, ?, ?, ?, ?, ? WHERE changes() = 1") {
		t.Errorf("got %q", got)
	}
	if strings.Contains(got, "VALUES") {
		t.Errorf("VALUES left in %q", got)
	}
}

func TestParams(t *testing.T) {
	got := params(sqlitedb.IdempotencyKeyParams{Subject: "s", Key: "k"})
	if len(got) != 2 || got[0] != "s" || got[1] != "k" {
		t.Errorf("got %v, want [s k] in field order", got)
	}
}

// A D1 row, an object keyed by column name, becomes the user the SQLite
// store's mapping makes of the same row: every field of sqlitedb.User is
// read from the column sqlc named it after.
func TestUserFromRow(t *testing.T) {
	const id = "01a234af-3ffd-798f-bb72-dd4d2890a2d2"
	row := js.ValueOf(map[string]any{
		"id": id, "name": "Ada Lovelace", "email": "ada@example.com",
		"created_at": 1700000000000001, "updated_at": 1700000000000002, "name_lower": "ada lovelace",
	})
	got, err := user(row)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sqlitedb.User{ID: id, Name: "Ada Lovelace", Email: "ada@example.com",
		CreatedAt: 1700000000000001, UpdatedAt: 1700000000000002, NameLower: "ada lovelace"}.Domain()
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for field, col := range map[string]string{"ID": "id", "CreatedAt": "created_at", "NameLower": "name_lower", "Email": "email"} {
		if got := columnName(field); got != col {
			t.Errorf("columnName(%s): got %q, want %q", field, got, col)
		}
	}
}
