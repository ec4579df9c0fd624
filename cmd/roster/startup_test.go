package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
)

// Start-up problems are reported in one line before anything is opened:
// bad listen addresses (exit 2), a port in use (exit 1), and no database
// file appears.
func TestStartupChecksComeFirst(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	tests := []struct {
		name   string
		getenv func(string) (string, bool)
		args   []string
		code   int
		want   []string
	}{
		{"port out of range", env(), []string{"--addr", ":99999", "--admin-addr", ""}, 2, []string{`invalid --addr ":99999"`, "0 to 65535"}},
		{"PORT not a number", env("PORT", "abc"), []string{"--admin-addr", ""}, 2, []string{`invalid --addr ":abc" (from PORT)`}},
		{"admin address without a port", env("ROSTER_ADMIN_ADDR", "bogus"), []string{"--addr", "127.0.0.1:0"}, 2,
			[]string{`invalid --admin-addr "bogus" (from ROSTER_ADMIN_ADDR)`, "e.g. :8080"}},
		{"admin port in use", env(), []string{"--addr", "127.0.0.1:0", "--admin-addr", taken.Addr().String()}, 1,
			[]string{taken.Addr().String() + " is already in use", "--admin-addr", "empty disables"}},
		{"API port in use", env(), []string{"--addr", taken.Addr().String(), "--admin-addr", ""}, 1, []string{"already in use", "--addr (or PORT)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--db", db}, tt.args...)
			// Cancelled: a server that starts anyway stops at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			stderr := &syncBuffer{}
			err := run(ctx, args, tt.getenv, strings.NewReader(""), &syncBuffer{}, stderr)
			code := exitCode(err, stderr)
			if code != tt.code || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("got exit code %d, stderr %q; want %d and one line", code, stderr, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Errorf("start-up errors created files: %v", matches)
	}
}

// ROSTER_ADMIN_ADDR set but empty disables the admin listener, as
// --admin-addr= does and as the help says.
func TestEmptyAdminAddrVariableDisablesAdmin(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, env("ROSTER_ADMIN_ADDR", "", "LOG_FORMAT", "json",
			"DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "r.db")), strings.NewReader(""), &syncBuffer{}, stderr)
	}()
	waitHealthy(t, "http://"+addr, done)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(stderr.String(), "admin listening") {
		t.Errorf("ROSTER_ADMIN_ADDR= still opened the admin listener:\n%s", stderr)
	}
}

// migrate status and down on a SQLite path that does not exist say so and
// create nothing; only up creates the database.
func TestMigrateMissingSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	for _, action := range []string{"status", "down"} {
		code, _, stderr := runCmd(t, env(), "migrate", action, "--db", path)
		if code != 1 || !strings.Contains(stderr, "no database at "+path) || !strings.Contains(stderr, "migrate up creates it") {
			t.Errorf("migrate %s: got exit %d, stderr %q; want 1 and what to do", action, code, stderr)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("migrate created %s (%v)", path, err)
	}
}

// PostgreSQL connection failures lead with the cause and what to do: a
// missing database says how to create it, whatever pgx tried first; a
// server without TLS under sslmode=require says how to connect.
func TestPostgresOpenHints(t *testing.T) {
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	missing := *u
	missing.Path, missing.RawQuery = "/no_such_db", "" // no sslmode: pgx tries TLS first
	tls := *u
	tls.RawQuery = "sslmode=require"
	tests := []struct {
		name, url string
		want      []string
		not       string
	}{
		{"database does not exist", missing.String(), []string{`has no database "no_such_db"`, "createdb", "CREATE DATABASE"}, "tls error"},
		{"TLS refused", tls.String(), []string{"does not accept TLS", "sslmode=disable"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, env(), "migrate", "status", "--db", tt.url)
			if code != 1 || strings.Count(stderr, "\n") != 1 {
				t.Errorf("got exit %d, stderr %q; want 1 and one line", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if tt.not != "" && strings.Contains(stderr, tt.not) {
				t.Errorf("stderr %q still leads with %q", stderr, tt.not)
			}
		})
	}
}
