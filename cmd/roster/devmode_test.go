package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A secret that is given but empty is a mistake (an unfilled template, a
// missing secret store entry), not a request for development mode: it
// stops the server before anything is opened.
func TestBlankSecretIsAnError(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	tests := []struct {
		name   string
		getenv func(string) (string, bool)
		args   []string
		want   string
	}{
		{"flag", env(), []string{"serve", "--db", db, "--jwt-secret", ""}, "--jwt-secret is set but empty"},
		{"flag with =", env(), []string{"serve", "--db", db, "--jwt-secret="}, "--jwt-secret is set but empty"},
		{"JWT_SECRET", env("JWT_SECRET", ""), []string{"serve", "--db", db}, "JWT_SECRET is set but empty"},
		{"ROSTER_JWT_SECRET", env("ROSTER_JWT_SECRET", ""), []string{"serve", "--db", db}, "ROSTER_JWT_SECRET is set but empty"},
		{"31 bytes", env("JWT_SECRET", strings.Repeat("s", 31)), []string{"serve", "--db", db}, "at least 32 bytes, got 31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Cancelled: a server that starts anyway stops at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			stderr := &syncBuffer{}
			err := run(ctx, append(tt.args, "--addr", "127.0.0.1:0", "--admin-addr", ""), tt.getenv, strings.NewReader(""), &syncBuffer{}, stderr)
			if code := exitCode(err, stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("got exit code %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Errorf("configuration errors created files: %v", matches)
	}
}

// Development mode listens on the loopback interface unless an address is
// given, says so in a WARN line, and prints a token for localhost.
func TestDevelopmentModeIsLocal(t *testing.T) {
	t.Run("default address", func(t *testing.T) {
		addr, logs, stdout := startDev(t, env("DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "r.db"), "LOG_FORMAT", "json"))
		if addr != "127.0.0.1:8080" {
			t.Errorf("listening on %s, want 127.0.0.1:8080", addr)
		}
		if !strings.Contains(stdout, "curl -H \"Authorization: Bearer $TOKEN\" http://localhost:8080/api/users") ||
			!strings.Contains(stdout, "export TOKEN=") {
			t.Errorf("stdout lacks the token and its localhost URL:\n%s", stdout)
		}
		checkDevWarning(t, logs)
	})
	t.Run("PORT", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(freeAddr(t))
		addr, logs, _ := startDev(t, env("DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "r.db"), "LOG_FORMAT", "json", "PORT", port))
		host, got, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() || got != port {
			t.Errorf("PORT=%s: listening on %s, want every interface on port %s", port, addr, port)
		}
		checkDevWarning(t, logs)
	})
}

// startDev runs "roster serve" without a secret and returns the address it
// listens on, its log lines and its stdout once it listens; the server
// stops with the test.
func startDev(t *testing.T, getenv func(string) (string, bool)) (addr string, logs []map[string]any, stdout string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errOut := newWatchedBuffer()
	out := &watchedBuffer{written: errOut.written} // either output wakes the wait
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--admin-addr", ""}, getenv, strings.NewReader(""), out, errOut)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.After(15 * time.Second)
	for {
		for _, line := range strings.Split(errOut.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				logs = append(logs, m)
			}
		}
		for _, m := range logs {
			if m["msg"] == "listening" {
				// The token is printed once the listener is up.
				if !regexp.MustCompile(`export TOKEN=\S+`).MatchString(out.String()) {
					break
				}
				return m["addr"].(string), logs, out.String()
			}
		}
		logs = nil
		select {
		case err := <-done:
			done <- err // for the cleanup
			if err != nil && strings.Contains(err.Error(), "address already in use") {
				t.Skipf("port taken on this machine: %v", err)
			}
			t.Fatalf("serve ended before listening: %v; stderr %s", err, errOut)
		case <-errOut.written:
		case <-deadline:
			t.Fatalf("serve did not listen within 15s; stderr %s", errOut)
		}
	}
}

func checkDevWarning(t *testing.T, logs []map[string]any) {
	t.Helper()
	for _, m := range logs {
		if m["level"] == "WARN" && strings.Contains(m["msg"].(string), "development mode") {
			return
		}
	}
	t.Errorf("no WARN line about development mode in %v", logs)
}

// watchedBuffer is a syncBuffer that signals each write, so that a test
// waits for output without polling.
type watchedBuffer struct {
	syncBuffer
	written chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{written: make(chan struct{}, 1)} }

func (b *watchedBuffer) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	select {
	case b.written <- struct{}{}:
	default:
	}
	return n, err
}

// The flag layer tells a value given from the default, and a value given
// empty from one not given, in the precedence order: command line,
// ROSTER_<FLAG>, then the conventional names (PORT for --addr).
func TestFlagSourcesExplicitAndBlank(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		getenv   func(string) (string, bool)
		value    string
		explicit bool
		blank    string // "" when not blank
	}{
		{"default", nil, env(), ":8080", false, ""},
		{"flag", []string{"--addr", "h:1"}, env(), "h:1", true, ""},
		{"flag equal to the default", []string{"--addr", ":8080"}, env(), ":8080", true, ""},
		{"flag empty", []string{"--addr="}, env("ROSTER_ADDR", "h:1"), "", true, "--addr"},
		{"own variable", nil, env("ROSTER_ADDR", "h:1"), "h:1", true, ""},
		{"alias", nil, env("PORT", "9"), ":9", true, ""},
		{"own variable empty", nil, env("ROSTER_ADDR", ""), ":8080", false, "ROSTER_ADDR"},
		{"alias empty", nil, env("PORT", ""), ":8080", false, "PORT"},
		{"empty, then a value", nil, env("ROSTER_ADDR", "", "PORT", "9"), ":9", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, _, src, err := parse(append([]string{"serve"}, tt.args...), environment{lookupEnv: tt.getenv})
			if err != nil {
				t.Fatal(err)
			}
			got := cmd.(*serveConfig).Addr
			blank, _ := src.setEmpty("addr")
			if got != tt.value || src.explicit("addr") != tt.explicit || blank != tt.blank {
				t.Errorf("got value %q, explicit %v, blank %q; want %q, %v, %q", got, src.explicit("addr"), blank, tt.value, tt.explicit, tt.blank)
			}
		})
	}
}
