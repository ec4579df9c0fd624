package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testSecret = "cmd-test-secret-at-least-32-bytes-long"

// env builds a lookupEnv from pairs; a pair with an empty value is a
// variable set but empty.
func env(pairs ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// runCmd runs the program to completion and returns its exit code and output.
func runCmd(t *testing.T, getenv func(string) (string, bool), args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(""), &stdout, &stderr)
	return exitCode(err, &stderr), stdout.String(), stderr.String()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		getenv func(string) (string, bool)
		args   []string
		want   string // in the one stderr line
	}{
		{"unknown command", env(), []string{"frobnicate"}, "unknown command"},
		{"unknown flag", env(), []string{"serve", "--nope"}, "unknown flag --nope"},
		{"bad database URL", env(), []string{"serve", "--db", "postgres://%zz"}, "invalid database URL"},
		{"unsupported scheme", env("DATABASE_URL", "mysql://u:secret@h/db"), []string{"serve"}, "unsupported database URL"},
		{"short secret", env("JWT_SECRET", "too-short"), []string{"serve", "--db", filepath.Join(dir, "a.db")}, "at least 32 bytes"},
		{"bad log level", env("LOG_LEVEL", "loud"), []string{"serve"}, "invalid log level"},
		{"bad env value", env("ROSTER_MIGRATE", "maybe"), []string{"serve"}, "ROSTER_MIGRATE"},
		{"bad pool size", env(), []string{"serve", "--db", "postgres://localhost/x", "--db-min-conns", "30"}, "pool sizes"},
		{"bad trusted proxy", env(), []string{"serve", "--trusted-proxies", "10.0.0.0/8,not-a-cidr"}, "--trusted-proxies"},
		{"bad CORS origin", env("ROSTER_CORS_ORIGINS", "app.example.com"), []string{"serve"}, "--cors-origins"},
		{"negative rate", env(), []string{"serve", "--rate-limit", "-1"}, "--rate-limit"},
		{"zero burst", env(), []string{"serve", "--rate-burst", "0"}, "--rate-burst"},
		{"bad request timeout", env("ROSTER_REQUEST_TIMEOUT", "soon"), []string{"serve"}, "ROSTER_REQUEST_TIMEOUT"},
		{"token without sub", env("JWT_SECRET", testSecret), []string{"token"}, "--sub is required"},
		{"token without secret", env(), []string{"token", "--sub", "x"}, "JWT_SECRET"},
		{"migrate without action", env(), []string{"migrate"}, "want one of up, down, status"},
		{"import without file", env("ROSTER_TOKEN", "t"), []string{"import"}, "want one FILE"},
		{"import without token", env(), []string{"import", "users.ndjson"}, "ROSTER_TOKEN"},
		{"import bad mode", env("ROSTER_TOKEN", "t"), []string{"import", "--mode", "all", "-"}, "--mode"},
		{"import bad format", env("ROSTER_TOKEN", "t"), []string{"import", "--format", "xml", "-"}, "--format"},
		{"export bad url", env("ROSTER_TOKEN", "t"), []string{"export", "--url", "localhost:8080"}, "--url"},
		{"bad import limit", env(), []string{"serve", "--import-max-bytes", "0"}, "--import-max-bytes"},
		{"pooler with SQLite", env(), []string{"serve", "--db-pooler", "transaction"}, "PostgreSQL only"},
		{"unknown pooler", env(), []string{"serve", "--db", "postgres://localhost/x", "--db-pooler", "session"}, "--db-pooler"},
		{"pooler, migrations, no direct URL", env(), []string{"serve", "--db", "postgres://localhost/x", "--db-pooler", "transaction"}, "--listen-database-url"},
		{"bad listen URL", env(), []string{"serve", "--db", "postgres://localhost/x", "--listen-database-url", "localhost:5432"}, "--listen-database-url"},
		{"bad poll interval", env(), []string{"serve", "--event-poll-interval", "0s"}, "--event-poll-interval"},
		{"bad email visibility", env("ROSTER_EMAIL_VISIBILITY", "everyone"), []string{"serve"}, "want self or all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.getenv, tt.args...)
			if code != 2 {
				t.Errorf("got exit code %d, want 2", code)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("got stderr %q, want one line containing %q", stderr, tt.want)
			}
		})
	}
	// Nothing was opened: no database file appeared.
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Errorf("configuration errors created files: %v", matches)
	}
}

func TestTokenAndVersion(t *testing.T) {
	code, stdout, stderr := runCmd(t, env("JWT_SECRET", testSecret), "token", "--sub", "u-1", "--role", "admin,ops", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token: exit %d, stderr %q", code, stderr)
	}
	a, err := auth.New(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := a.Verify(strings.TrimSpace(stdout))
	if err != nil || claims.Subject != "u-1" || strings.Join(claims.Roles, ",") != "admin,ops" {
		t.Errorf("token %q: got claims %+v, err %v; want sub u-1, roles admin,ops", stdout, claims, err)
	}
	_, stdout, _ = runCmd(t, env(), "version")
	if !regexp.MustCompile(`^roster \S+ \(commit \S+, go1\.\d+`).MatchString(stdout) {
		t.Errorf("version: got %q", stdout)
	}
}

func TestMigrateCommand(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.name, func(t *testing.T) {
			versions := migrationVersions(t, db.migrations) // oldest first
			if path, ok := strings.CutPrefix(db.url, "sqlite:"); ok {
				// An empty file: status on a missing one is an error
				// (TestMigrateMissingSQLiteFile).
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			type step struct {
				args []string
				want string
			}
			steps := []step{
				{[]string{"migrate", "status"}, "pending"},
				{[]string{"migrate", "up"}, "applied " + versions[len(versions)-1]},
				{[]string{"migrate", "up"}, "no pending migrations"},
				{[]string{"migrate", "status"}, "applied"},
			}
			for _, v := range slices.Backward(versions) {
				steps = append(steps, step{[]string{"migrate", "down"}, "rolled back " + v})
			}
			steps = append(steps,
				step{[]string{"migrate", "down"}, "nothing to roll back"},
				step{[]string{"migrate", "up"}, "applied " + versions[0]},
				step{[]string{"migrate", "status"}, "applied"},
			)
			for _, s := range steps {
				code, stdout, stderr := runCmd(t, env("DATABASE_URL", db.url), s.args...)
				if code != 0 || !strings.Contains(stdout, s.want) {
					t.Fatalf("%v: got exit %d stdout %q stderr %q, want %q", s.args, code, stdout, stderr, s.want)
				}
			}
		})
	}
}

// migrationVersions returns the versions ("00001", …) of the migration
// files in fsys, oldest first.
func migrationVersions(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migration files: got %v, %v", names, err)
	}
	slices.Sort(names)
	versions := make([]string, len(names))
	for i, name := range names {
		versions[i], _, _ = strings.Cut(name, "_")
	}
	return versions
}

type testDB struct {
	name, url  string
	migrations fs.FS
}

func databases(t *testing.T) []testDB {
	return []testDB{
		{"sqlite", "sqlite:" + filepath.Join(t.TempDir(), "roster.db"), migrations.SQLite},
		{"postgres", pgtest.NewDatabase(t), migrations.Postgres},
	}
}

// TestServe runs the whole program as a user would: serve on a free port
// in development mode, use the printed token for a CRUD cycle, then stop
// it with its context (as SIGTERM does) and expect a clean exit.
func TestServe(t *testing.T) {
	for _, db := range databases(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				// Port 0: the system picks free ports, which the log names.
				done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, env("DATABASE_URL", db.url, "LOG_FORMAT", "json"), strings.NewReader(""), stdout, stderr)
			}()
			addr, adminAddr := loggedAddr(t, stderr, "listening", done), loggedAddr(t, stderr, "admin listening", done)
			base := "http://" + addr
			waitHealthy(t, base, done)

			tok := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(stdout.String())
			if tok == nil {
				t.Fatalf("no development token printed; stdout %q", stdout)
			}
			call := func(method, path, body string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok[1])
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			code, body := call("POST", "/api/users", `{"name":"Ada","email":"ada@example.com"}`)
			if code != 201 {
				t.Fatalf("create: got %d %s", code, body)
			}
			var u struct{ ID string }
			_ = json.Unmarshal([]byte(body), &u)
			for _, step := range []struct {
				method, path, body string
				want               int
			}{
				{"GET", "/api/users/" + u.ID, "", 200},
				{"GET", "/api/users", "", 200},
				{"PATCH", "/api/users/" + u.ID, `{"name":"Ada L."}`, 200},
				{"POST", "/api/users", `{"name":"Ada","email":"ADA@example.com"}`, 409},
				{"DELETE", "/api/users/" + u.ID, "", 204},
				{"GET", "/api/users/" + u.ID, "", 404},
				{"GET", "/health/ready", "", 200},
			} {
				if code, body := call(step.method, step.path, step.body); code != step.want {
					t.Errorf("%s %s: got %d %s, want %d", step.method, step.path, code, body, step.want)
				}
			}

			// The banner says where everything is; the user token is an
			// ordinary user's; / is the landing page.
			_, port, _ := net.SplitHostPort(addr)
			_, adminPort, _ := net.SplitHostPort(adminAddr)
			for _, want := range []string{"start here  http://localhost:" + port + "/", "API         http://localhost:" + port + "/api/users",
				"Swagger UI  http://localhost:" + port + "/swagger-ui/", "admin       http://localhost:" + adminPort + "/metrics"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("banner lacks %q:\n%s", want, stdout)
				}
			}
			userTok := regexp.MustCompile(`export USER_TOKEN=(\S+)`).FindStringSubmatch(stdout.String())
			if userTok == nil {
				t.Fatalf("no user token printed; stdout %q", stdout)
			}
			adminTok := tok[1]
			tok[1] = userTok[1]
			if code, body := call("GET", "/api/users", ""); code != 200 {
				t.Errorf("user token, list: got %d %s, want 200", code, body)
			}
			if code, body := call("POST", "/api/users", `{"name":"Eve","email":"eve@example.com"}`); code != 403 {
				t.Errorf("user token, create: got %d %s, want 403", code, body)
			}
			tok[1] = adminTok
			if code, body := call("GET", "/", ""); code != 200 || !strings.Contains(body, "/swagger-ui/") || !strings.Contains(body, "Development mode") {
				t.Errorf("GET /: got %d %s, want the landing page in development mode", code, body)
			}

			// Metrics are on the admin listener only.
			if code, _ := call("GET", "/metrics", ""); code != 404 {
				t.Errorf("public /metrics: got %d, want 404", code)
			}
			res, err := http.Get("http://" + adminAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, want := range []string{
				`roster_http_requests_total{code="2xx",method="GET",route="GET /api/users/{id}"} 1`,
				`roster_http_inflight_requests 0`,
				`roster_db_pool_max_conns{pool=`,
				`roster_db_pool_waits_total{pool=`,
				`roster_build_info{commit=`,
				`go_goroutines`,
			} {
				if !strings.Contains(string(metrics), want) {
					t.Errorf("admin /metrics lacks %q", want)
				}
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v after shutdown, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop after its context ended")
			}
			if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
				t.Errorf("no clean-stop log line; stderr %s", stderr)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is a `roster serve` a test runs in its own process.
type instance struct {
	base           string // http://host:port of its API listener
	stdout, stderr *syncBuffer
	done           chan error // run's result, once it stops

	cancel  context.CancelFunc
	once    sync.Once
	stopped error // what stop returns
}

// stop stops serve, as SIGTERM would, and returns what run returned, or
// an error if it did not stop within 20 s. Later calls return the same.
func (in *instance) stop() error {
	in.once.Do(func() {
		in.cancel()
		select {
		case in.stopped = <-in.done:
		case <-time.After(20 * time.Second):
			in.stopped = errors.New("serve did not stop within 20 s")
		}
	})
	return in.stopped
}

// startServe runs `roster serve args...` with getenv until the test ends
// (or in.stop), when it must stop cleanly within 20 s, and returns it
// once it is healthy.
func startServe(t *testing.T, name string, args []string, getenv func(string) (string, bool)) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	go func() {
		in.done <- run(ctx, append([]string{"serve"}, args...), getenv, strings.NewReader(""), in.stdout, in.stderr)
	}()
	t.Cleanup(func() {
		if err := in.stop(); err != nil {
			t.Errorf("%s: serve returned %v after shutdown, want nil", name, err)
		}
	})
	in.base = "http://" + loggedAddr(t, in.stderr, "listening", in.done)
	waitHealthy(t, in.base, in.done)
	return in
}

// waitHealthy polls /health until the server answers or run gives up.
func waitHealthy(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		res, err := http.Get(base + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/health did not answer within 15s", base)
}

// loggedAddr waits for the JSON log line whose msg is msg and returns its
// addr: the address a listener on port 0 was given.
func loggedAddr(t *testing.T, log *syncBuffer, msg string, done <-chan error) string {
	t.Helper()
	for {
		written := log.written()
		for _, line := range strings.Split(log.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg && l.Addr != "" {
				return l.Addr
			}
		}
		select {
		case <-written:
		case err := <-done:
			t.Fatalf("serve exited before logging %q: %v\n%s", msg, err, log)
		}
	}
}

type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed by the next Write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

// written returns a channel closed by the next Write.
func (b *syncBuffer) written() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote == nil {
		b.wrote = make(chan struct{})
	}
	return b.wrote
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
