package main

import (
	"io"
	"net/http"
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
			"--read-database-url", readURL, "--read-consistency-wait", "2s"},
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
