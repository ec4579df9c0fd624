package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
)

// TestImportExport drives roster import and export against a real server
// on each engine: an import with a bad row exits 1 and lists it; an
// export re-imported with --on-conflict skip changes nothing.
func TestImportExport(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.name, func(t *testing.T) {
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", addr, "--admin-addr", ""}, env("DATABASE_URL", db.url, "LOG_FORMAT", "json"), strings.NewReader(""), stdout, stderr)
			}()
			base := "http://" + addr
			waitHealthy(t, base, done)
			tok := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(stdout.String())
			if tok == nil {
				t.Fatalf("no development token printed; stdout %q", stdout)
			}
			getenv := env("ROSTER_TOKEN", tok[1], "ROSTER_URL", base)
			dir := t.TempDir()

			var file strings.Builder
			for i := range 2500 {
				fmt.Fprintf(&file, `{"name":"User %d","email":"u%d@example.com"}`+"\n", i, i)
			}
			file.WriteString(`{"name":"Bad","email":"nope"}` + "\n")
			in := filepath.Join(dir, "users.ndjson")
			if err := os.WriteFile(in, []byte(file.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCmd(t, getenv, "import", in)
			if code != 1 || !strings.Contains(errOut, "line 2501: email must be a valid email address (VALIDATION_ERROR)") ||
				!strings.Contains(errOut, "inserted 2500, updated 0, skipped 0, failed 1") ||
				!strings.Contains(errOut, "imported 2500 rows in ") || !strings.Contains(errOut, "roster import: 1 row failed") {
				t.Errorf("import: got exit %d, stderr %q; want 1, the bad line, the accepted rows and the summary", code, errOut)
			}

			out := filepath.Join(dir, "export.ndjson")
			code, _, errOut = runCmd(t, getenv, "export", "-o", out)
			exported, _ := os.ReadFile(out)
			if code != 0 || bytes.Count(exported, []byte("\n")) != 2500 || !strings.Contains(errOut, "exported 2500 rows") {
				t.Fatalf("export: got exit %d, %d lines, stderr %q; want 0 and 2500", code, bytes.Count(exported, []byte("\n")), errOut)
			}
			code, _, errOut = runCmd(t, getenv, "import", "--on-conflict", "skip", out)
			if code != 0 || !strings.Contains(errOut, "inserted 0, updated 0, skipped 2500, failed 0") {
				t.Errorf("re-import: got exit %d, stderr %q; want 0 and everything skipped", code, errOut)
			}
			var csvOut bytes.Buffer
			err := run(ctx, []string{"export", "--format", "csv", "--q", "user 249"}, getenv, strings.NewReader(""), &csvOut, &bytes.Buffer{})
			if err != nil || !strings.HasPrefix(csvOut.String(), csvHeader()) || strings.Count(csvOut.String(), "\n") != 12 {
				t.Errorf("CSV export: got %v, %q; want the header and 11 users", err, csvOut.String())
			}
			// --q finds text inside names; --match prefix only at the start.
			for _, tt := range []struct {
				args  []string
				lines int
			}{
				{[]string{"--q", "SER 249"}, 11},
				{[]string{"--q", "ser 249", "--match", "prefix"}, 0},
				{[]string{"--q", "user 249", "--match", "prefix"}, 11},
			} {
				var out bytes.Buffer
				err := run(ctx, append([]string{"export", "--format", "csv"}, tt.args...), getenv, strings.NewReader(""), &out, &bytes.Buffer{})
				if err != nil || strings.Count(out.String(), "\n") != tt.lines+1 {
					t.Errorf("export %v: got %v, %d lines; want the header and %d users", tt.args, err, strings.Count(out.String(), "\n"), tt.lines)
				}
			}
			if code, _, errOut := runCmd(t, getenv, "export", "--q", "x", "--match", "fuzzy"); code != 1 || !strings.Contains(errOut, "match") {
				t.Errorf("--match fuzzy: got exit %d, stderr %q; want 1 naming match", code, errOut)
			}
			// stdin, atomic: one bad row and nothing lands.
			var errBuf bytes.Buffer
			err = run(ctx, []string{"import", "--mode", "atomic", "-"}, getenv,
				strings.NewReader(`{"name":"New","email":"new@example.com"}`+"\n"+`{"name":"","email":"x@example.com"}`+"\n"), &bytes.Buffer{}, &errBuf)
			if err == nil || !strings.Contains(err.Error(), "nothing was imported") || !strings.Contains(errBuf.String(), "inserted 0") {
				t.Errorf("atomic import from stdin: got %v, stderr %q", err, errBuf.String())
			}
			code, _, errOut = runCmd(t, env("ROSTER_TOKEN", "not-a-token", "ROSTER_URL", base), "export")
			if code != 1 || !strings.Contains(errOut, "UNAUTHORIZED") {
				t.Errorf("bad token: got exit %d, stderr %q; want 1 and UNAUTHORIZED", code, errOut)
			}
			// A refused import sends no row and reports no progress: the
			// body waits for the server's 100 Continue.
			code, _, errOut = runCmd(t, env("ROSTER_TOKEN", "not-a-token", "ROSTER_URL", base), "import", in)
			if code != 1 || !strings.Contains(errOut, "UNAUTHORIZED") || strings.Contains(errOut, "imported") || strings.Contains(errOut, "sent") {
				t.Errorf("import with a bad token: got exit %d, stderr %q; want 1, UNAUTHORIZED and no progress", code, errOut)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

// With --db, import and export work on a database without a server,
// through internal/bulk and the service in process, on both engines.
func TestImportExportDirect(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "users.ndjson")
			rows := "{\"name\":\"Ada\",\"email\":\"ada@example.com\"}\n{\"name\":\"\",\"email\":\"nope\"}\n{\"name\":\"Bo\",\"email\":\"bo@example.com\"}\n"
			if err := os.WriteFile(in, []byte(rows), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCmd(t, env(), "import", "--db", db.url, in)
			if code != 1 || !strings.Contains(errOut, "inserted 2, updated 0, skipped 0, failed 1") || !strings.Contains(errOut, "line 2:") {
				t.Fatalf("direct import: exit %d, stderr %s", code, errOut)
			}
			out := filepath.Join(dir, "out.ndjson")
			if code, _, errOut = runCmd(t, env(), "export", "--db", db.url, "-o", out); code != 0 {
				t.Fatalf("direct export: exit %d, stderr %s", code, errOut)
			}
			b, err := os.ReadFile(out)
			if err != nil || strings.Count(string(b), "\n") != 2 || !strings.Contains(string(b), "bo@example.com") {
				t.Fatalf("export file %q, %v", b, err)
			}
			// The format follows -o's extension unless --format says otherwise.
			for _, tt := range []struct {
				name   string
				args   []string
				prefix string
			}{
				{"out.csv", nil, csvHeader()},
				{"OUT.CSV", nil, csvHeader()},
				{"forced.csv", []string{"--format", "ndjson"}, `{"id":`},
				{"out.txt", []string{"--format", "csv"}, "id,name,email"},
			} {
				path := filepath.Join(dir, tt.name)
				if code, _, errOut := runCmd(t, env(), append([]string{"export", "--db", db.url, "-o", path}, tt.args...)...); code != 0 {
					t.Fatalf("export -o %s %v: exit %d, %s", tt.name, tt.args, code, errOut)
				}
				if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), tt.prefix) {
					t.Errorf("export -o %s %v: got %q, want it to start with %q", tt.name, tt.args, b, tt.prefix)
				}
			}
			code, _, errOut = runCmd(t, env(), "import", "--db", db.url, "--on-conflict", "skip", out)
			if code != 0 || !strings.Contains(errOut, "inserted 0, updated 0, skipped 2, failed 0") {
				t.Errorf("re-import: exit %d, stderr %s", code, errOut)
			}
			// A JSON array's rows are elements; one row is singular.
			arr := filepath.Join(dir, "users.json")
			if err := os.WriteFile(arr, []byte(`[{"name":"Cy","email":"cy@example.com"},{"name":"","email":"x"}]`), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut = runCmd(t, env(), "import", arr, "--db", db.url)
			if code != 1 || !strings.Contains(errOut, "element 2:") || !strings.Contains(errOut, "imported 1 row in") ||
				!strings.Contains(errOut, "roster import: 1 row failed") || strings.Contains(errOut, "line 2:") {
				t.Errorf("JSON array import: exit %d, stderr %s; want element 2, 1 row imported, 1 row failed", code, errOut)
			}
			// Filters are checked as the server checks them, and a refused
			// export leaves no file.
			for _, args := range [][]string{
				{"--created-after", "yesterday"},
				{"--created-after", "2030-01-01T00:00:00Z", "--created-before", "2020-01-01T00:00:00Z"},
			} {
				path := filepath.Join(dir, "refused.ndjson")
				code, _, errOut := runCmd(t, env(), append([]string{"export", "--db", db.url, "-o", path}, args...)...)
				if _, err := os.Stat(path); code != 1 || !strings.Contains(errOut, "roster export: BAD_REQUEST: ") || !os.IsNotExist(err) {
					t.Errorf("export %v: exit %d, stderr %q, file: %v; want 1, BAD_REQUEST and no file", args, code, errOut, err)
				}
			}
			// Without --db, a server is needed: no token is a usage error.
			if code, _, _ := runCmd(t, env(), "export"); code != 2 {
				t.Errorf("export without --db or token: exit %d, want 2", code)
			}
		})
	}
}

// csvHeader is the header row of a CSV export: the names of
// roster.UserFields.
func csvHeader() string {
	var names []string
	for _, f := range roster.UserFields {
		names = append(names, f.Name)
	}
	return strings.Join(names, ",") + "\n"
}
