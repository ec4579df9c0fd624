package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// errLine is the one form of every error the program prints: one line,
// "roster: …" or "roster CMD: …".
var errLine = regexp.MustCompile(`^roster( [a-z]+)?: [^\n]+\n$`)

// TestRoughEdges replays, through run, the fifteen rough edges a new user
// hit on the hand-made flag layer (issue 16), each as it must now behave.
func TestRoughEdges(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "users.db")
	users := filepath.Join(dir, "users.ndjson")
	if err := os.WriteFile(users, []byte(`{"name":"Ada","email":"ada@example.com"}`+"\n"+`{"name":"Bo","email":"bo@example.com"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, env(), "migrate", "up", "--db", db); code != 0 {
		t.Fatalf("migrate up: exit %d, %s", code, stderr)
	}
	unwanted := filepath.Join(dir, "never.db")

	tests := []struct {
		name    string
		getenv  func(string) (string, bool)
		args    []string
		code    int
		stdout  []string // each in stdout
		stderr  []string // each in stderr
		nothing []string // none in stdout+stderr
	}{
		{"migrate help has one Usage line", env(), []string{"migrate", "--help"}, 0, []string{"Usage: roster migrate <action>"}, nil, nil},
		{"-o is a short flag without an environment variable", env(), []string{"export", "--help"}, 0,
			[]string{"-o, --output=FILE"}, nil, []string{"--o=", "ROSTER_O", "ROSTER_OUTPUT"}},
		{"version help lists only real flags", env(), []string{"version", "--help"}, 0, []string{"Usage: roster version", "--help"}, nil, []string{"Flags:\n\n", "--version"}},
		{"help --help is help", env(), []string{"help", "--help"}, 0, []string{"Usage: roster help [<command>]"}, nil, nil},
		{"roster alone prints help and fails", env(), nil, 2, nil, []string{"Usage: roster <command>", "roster: no command given"}, nil},
		{"an unknown flag is echoed as typed", env(), []string{"serve", "--bogus"}, 2, nil, []string{"unknown flag --bogus"}, []string{" -bogus"}},
		{"flags after the action", env(), []string{"migrate", "status", "--db", db}, 0, []string{"applied"}, nil, nil},
		{"flags after the file", env(), []string{"import", users, "--db", db, "--on-conflict", "skip"}, 0, nil, []string{"inserted 2"}, nil},
		{"a bad variable names itself and shows the form", env("ROSTER_REQUEST_TIMEOUT", "10"), []string{"serve"}, 2, nil,
			[]string{"ROSTER_REQUEST_TIMEOUT", `"10"`, "e.g. 10s"}, []string{"parse error"}},
		{"ROSTER_EMAIL does not filter an export", env("ROSTER_EMAIL", "ada@example.com"), []string{"export", "--db", db}, 0,
			[]string{"ada@example.com", "bo@example.com"}, nil, nil},
		{"ROSTER_Q does not filter an export", env("ROSTER_Q", "ada"), []string{"export", "--db", db}, 0,
			[]string{"ada@example.com", "bo@example.com"}, nil, nil},
		{"ROSTER_SUB does not mint a token", env("ROSTER_SUB", "someone", "JWT_SECRET", testSecret), []string{"token"}, 2, nil,
			[]string{"roster token: --sub is required"}, nil},
		{"ROSTER_DB does not switch import to the database", env("ROSTER_DB", unwanted, "DATABASE_URL", unwanted), []string{"import", users}, 2, nil,
			[]string{"--token (or ROSTER_TOKEN) is required"}, nil},
		{"a bad duration flag shows the form", env("JWT_SECRET", testSecret), []string{"token", "--sub", "x", "--ttl", "5"}, 2, nil,
			[]string{"--ttl", `"5"`, "e.g. 10s"}, nil},
		{"a failure has the same prefix as a usage error", env(), []string{"import", filepath.Join(dir, "missing.ndjson"), "--db", db}, 1, nil,
			[]string{"roster import: open "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.getenv, tt.args...)
			if code != tt.code {
				t.Errorf("got exit code %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if n := strings.Count(stdout, "Usage:"); n > 1 {
				t.Errorf("stdout has %d Usage lines, want at most 1:\n%s", n, stdout)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.nothing {
				if strings.Contains(stdout+stderr, w) {
					t.Errorf("output has %q:\n%s%s", w, stdout, stderr)
				}
			}
			if code != 0 {
				lines := strings.SplitAfter(stderr, "\n")
				if last := lines[len(lines)-2]; !errLine.MatchString(last) { // the last is "" after the final newline
					t.Errorf("last stderr line %q is not of the form \"roster[ CMD]: message\"", last)
				}
			}
		})
	}
	if _, err := os.Stat(unwanted); !os.IsNotExist(err) {
		t.Errorf("ROSTER_DB/DATABASE_URL reached import: %s exists (%v)", unwanted, err)
	}
}

// Every flag of a server command names its environment variables in the
// help; the flags of client commands' filters and token claims name none.
func TestHelpNamesEnvironmentOfServerSettingsOnly(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  (?:-\w, |    )--(?:\[no-\])?([a-z-]+)`)
	flagsOnly := map[string]bool{"sub": true, "role": true, "ttl": true, "output": true, "format": true, "email": true, "q": true, "match": true,
		"created-after": true, "created-before": true, "mode": true, "on-conflict": true, "help": true}
	for _, cmd := range []string{"serve", "migrate", "token", "version", "import", "export", "help"} {
		code, stdout, _ := runCmd(t, env(), cmd, "--help")
		if code != 0 {
			t.Errorf("%s --help: got exit code %d, want 0", cmd, code)
		}
		flags := flagLine.FindAllStringSubmatchIndex(stdout, -1)
		if len(flags) == 0 {
			t.Errorf("%s --help lists no flags:\n%s", cmd, stdout)
		}
		for i, m := range flags {
			name := stdout[m[2]:m[3]]
			end := len(stdout)
			if i+1 < len(flags) {
				end = flags[i+1][0]
			}
			text := strings.Join(strings.Fields(stdout[m[0]:end]), " ")
			envName := "ROSTER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			switch {
			case name == "db" && (cmd == "import" || cmd == "export"):
				if strings.Contains(text, "env ") {
					t.Errorf("%s --help: --db of a client command names a variable: %s", cmd, text)
				}
			case flagsOnly[name]:
				if strings.Contains(text, "env ") {
					t.Errorf("%s --help: --%s is a flag only, but the help names a variable: %s", cmd, name, text)
				}
			case !strings.Contains(text, envName):
				t.Errorf("%s --help: --%s does not name %s: %s", cmd, name, envName, text)
			}
		}
	}
	_, stdout, _ := runCmd(t, env(), "serve", "--help")
	for _, want := range []string{"DATABASE_URL", "JWT_SECRET", "PORT", "LOG_LEVEL", "LOG_FORMAT", "--db-max-conns", "--shutdown-timeout",
		"ROSTER_ADMIN_ADDR", "--cors-origins", "--rate-limit", "--rate-burst", "--trusted-proxies", "--max-inflight", "--request-timeout"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("serve --help lacks %s", want)
		}
	}
}
