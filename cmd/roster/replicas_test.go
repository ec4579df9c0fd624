package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/pgtest"
)

// Two instances on one primary and one streaming replica that applies
// each commit 500 ms late. A write on A answers with a consistency token;
// a read on B presenting it sees the write, every time. B's metrics show
// the replica's lag; a garbled token is a 400.
func TestServeReadYourWritesAcrossInstances(t *testing.T) {
	primary := pgtest.NewCluster(t)
	url, err := primary.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, env(), "migrate", "up", "--db", url); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	replica := pgtest.NewReplica(t, primary, 500*time.Millisecond)
	cfg, _ := pgx.ParseConfig(url)
	readURL := replica.URL(cfg.Database)

	start := func(name string) (base, admin string) {
		t.Helper()
		in := startServe(t, name, []string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--no-migrate",
			"--read-database-url", readURL, "--read-consistency-wait", "2s", "--consistency-cookie"},
			env("DATABASE_URL", url, "LOG_FORMAT", "json", "JWT_SECRET", testSecret))
		return in.base, "http://" + loggedAddr(t, in.stderr, "admin listening", in.done)
	}
	a, _ := start("A")
	b, bAdmin := start("B")
	var tok strings.Builder
	if code := runCmdTo(t, &tok, "token", "--sub", "admin", "--role", "admin"); code != 0 {
		t.Fatalf("token: exit %d", code)
	}
	call := func(method, url, body, consistency string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if consistency != "" {
			req.Header.Set("X-Roster-Consistency", consistency)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	for i := range 5 {
		res, body := call("POST", a+"/api/users", `{"name":"Ada","email":"ada`+string(rune('a'+i))+`@example.com"}`, "")
		token := res.Header.Get("X-Roster-Consistency")
		if res.StatusCode != 201 || token == "" {
			t.Fatalf("create on A: got %d, token %q, %s; want 201 with a token", res.StatusCode, token, body)
		}
		loc := res.Header.Get("Location")
		if res, body := call("GET", b+loc, "", token); res.StatusCode != 200 {
			t.Fatalf("get on B with A's token: got %d %s, want 200", res.StatusCode, body)
		}
	}
	// A browser keeps the token in the cookie instead (--consistency-cookie):
	// a create on A, then a read on B with the cookie and no header sees it.
	// (A cookie is per host, not per port: one jar serves both.)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for i := range 3 {
		req, _ := http.NewRequest("POST", a+"/api/users", strings.NewReader(`{"name":"Bea","email":"bea`+string(rune('a'+i))+`@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		req.Header.Set("Content-Type", "application/json")
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 201 || !strings.Contains(res.Header.Get("Set-Cookie"), "roster_consistency=") {
			t.Fatalf("create on A: got %d, Set-Cookie %q; want 201 setting roster_consistency", res.StatusCode, res.Header.Get("Set-Cookie"))
		}
		req, _ = http.NewRequest("GET", b+res.Header.Get("Location"), nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		if res, err = browser.Do(req); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("get on B with A's cookie: got %d, want 200", res.StatusCode)
		}
	}
	// A cookie that does not check is dropped, not refused: the browser
	// sends it, not the caller's code.
	req, _ := http.NewRequest("GET", b+"/api/users", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	req.AddCookie(&http.Cookie{Name: "roster_consistency", Value: "FFFFFFFF/FFFFFFFF.forged"})
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("forged cookie: got %v %v, want 200", res, err)
	} else {
		res.Body.Close()
	}

	// A garbled or forged token (a position no write handed out, which
	// would hold every read of its caller for the whole wait) is refused.
	for _, bad := range []string{"0/1 2", "FFFFFFFF/FFFFFFFF"} {
		if res, body := call("GET", b+"/api/users", "", bad); res.StatusCode != 400 || !strings.Contains(body, "X-Roster-Consistency") {
			t.Errorf("token %q: got %d %s, want 400 naming the header", bad, res.StatusCode, body)
		}
	}
	res, err := http.Get(bAdmin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"roster_db_replica_lag_bytes{replica=", `roster_db_reads_total{target="replica"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("B's /metrics lacks %q", want)
		}
	}
}
