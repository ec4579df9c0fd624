package main

import (
	"bufio"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
)

// Two instances behind PgBouncer (transaction pooling): A with a direct
// URL for LISTEN and migrations, B without, so B's change feed polls. A
// user created through A reaches a stream on B, and B said at start that
// it polls.
func TestServeThroughPgBouncer(t *testing.T) {
	direct, pooled := pgtest.NewPooledDatabase(t)
	start := func(name string, args ...string) (base string, stderr *syncBuffer) {
		t.Helper()
		in := startServe(t, name, append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "", "--db-pooler", "transaction"}, args...),
			env("DATABASE_URL", pooled, "LOG_FORMAT", "json", "JWT_SECRET", testSecret))
		return in.base, in.stderr
	}
	a, _ := start("A", "--listen-database-url", direct)
	b, bLog := start("B", "--no-migrate", "--event-poll-interval", "100ms")
	if !strings.Contains(bLog.String(), "other instances' events arrive by polling") {
		t.Errorf("B did not say at start that its feed polls; stderr %s", bLog)
	}

	var tok strings.Builder
	if code := runCmdTo(t, &tok, "token", "--sub", "admin", "--role", "admin"); code != 0 {
		t.Fatalf("token: exit %d", code)
	}
	req, _ := http.NewRequest("GET", b+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/events on B: got %d, want 200", res.StatusCode)
	}

	req, _ = http.NewRequest("POST", a+"/api/users", strings.NewReader(`{"name":"Ada","email":"ada@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	req.Header.Set("Content-Type", "application/json")
	cres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cres.Body.Close()
	if cres.StatusCode != 201 {
		t.Fatalf("create on A through PgBouncer: got %d, want 201", cres.StatusCode)
	}

	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if regexp.MustCompile(`^event: user\.created$`).MatchString(sc.Text()) {
				got <- sc.Text()
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("B's stream did not deliver A's create within 15s")
	}
}

// runCmdTo runs a command, its stdout into w, and returns its exit code.
func runCmdTo(t *testing.T, w *strings.Builder, args ...string) int {
	t.Helper()
	code, stdout, _ := runCmd(t, env("JWT_SECRET", testSecret), args...)
	w.WriteString(stdout)
	return code
}
