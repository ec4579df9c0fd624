package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestShutdownFinishesAcceptedRequests stops the server, as SIGTERM does,
// while creates wait on a database lock, and expects the drain the
// operator was promised: readiness 503 at once; during the drain delay
// requests are still served, on keep-alive connections too, each answer
// with Connection: close; then every accepted create finishes with its
// real status, its row exists, and run returns nil.
func TestShutdownFinishesAcceptedRequests(t *testing.T) {
	const creates = 10 // fewer than the pool's connections: the list during the delay needs one
	for _, db := range databases(t) {
		t.Run(db.name, func(t *testing.T) {
			addr, adminAddr := freeAddr(t), freeAddr(t)
			ctx, signal := context.WithCancel(context.Background())
			defer signal()
			endDelay := make(chan time.Time)
			delayAsked := make(chan time.Duration, 1)
			e := environment{
				lookupEnv: env("DATABASE_URL", db.url, "LOG_FORMAT", "json"),
				stdin:     strings.NewReader(""), stdout: &syncBuffer{}, stderr: &syncBuffer{},
				after: func(d time.Duration) <-chan time.Time { delayAsked <- d; return endDelay },
			}
			done := make(chan error, 1)
			go func() {
				done <- runEnv(ctx, []string{"serve", "--addr", addr, "--admin-addr", adminAddr, "--drain-delay", "30s"}, e)
			}()
			base := "http://" + addr
			waitHealthy(t, base, done)
			tok := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(e.stdout.(*syncBuffer).String())
			if tok == nil {
				t.Fatal("no development token printed")
			}
			send := func(c *http.Client, method, path, body string) (*http.Response, error) {
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok[1])
				req.Header.Set("Content-Type", "application/json")
				res, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				return res, err
			}
			// A keep-alive connection that has carried a request.
			keepAlive := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			if res, err := send(keepAlive, "GET", "/api/users", ""); err != nil || res.StatusCode != 200 {
				t.Fatalf("list before shutdown: %v %v", res, err)
			}

			unlock := lockUsers(t, db)
			type result struct {
				status int
				err    error
			}
			results := make(chan result, creates)
			var wg sync.WaitGroup
			for i := range creates {
				wg.Go(func() {
					c := &http.Client{Transport: &http.Transport{}}
					res, err := send(c, "POST", "/api/users", fmt.Sprintf(`{"name":"U%d","email":"u%d@example.com"}`, i, i))
					if err != nil {
						results <- result{err: err}
						return
					}
					results <- result{status: res.StatusCode}
				})
			}
			waitMetric(t, "http://"+adminAddr, fmt.Sprintf("roster_http_inflight_requests %d", creates))

			signal()
			waitStatus(t, base+"/health/ready", http.StatusServiceUnavailable)
			if d := <-delayAsked; d != 30*time.Second {
				t.Errorf("drain delay: got %s, want 30s", d)
			}
			reused := false
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/api/users", nil)
			req.Header.Set("Authorization", "Bearer "+tok[1])
			res, err := keepAlive.Do(req)
			if err != nil {
				t.Fatalf("list during the drain delay: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || !res.Close || !reused {
				t.Errorf("list during the drain delay: got %d, Connection: close %v, on the kept-alive connection %v; want 200, true, true",
					res.StatusCode, res.Close, reused)
			}

			close(endDelay)
			waitRefused(t, addr) // Shutdown has begun: the listener is closed
			unlock()
			wg.Wait()
			close(results)
			for r := range results {
				if r.err != nil || r.status != http.StatusCreated {
					t.Errorf("accepted create: got %d, %v; want 201", r.status, r.err)
				}
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop")
			}
			if n := countUsers(t, db); n != creates {
				t.Errorf("got %d rows, want %d", n, creates)
			}
		})
	}
}

// lockUsers blocks writes to the users table until unlock is called.
func lockUsers(t *testing.T, db testDB) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	if db.name == "postgres" {
		conn, err := pgx.Connect(ctx, db.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE users IN EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	sdb, err := sql.Open("sqlite", strings.TrimPrefix(db.url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	conn, err := sdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
}

func countUsers(t *testing.T, db testDB) int {
	t.Helper()
	ctx := context.Background()
	var n int
	if db.name == "postgres" {
		conn, err := pgx.Connect(ctx, db.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sdb, err := sql.Open("sqlite", strings.TrimPrefix(db.url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if err := sdb.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitMetric polls the admin /metrics until it has the line want.
func waitMetric(t *testing.T, admin, want string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		res, err := http.Get(admin + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), want+"\n") {
			return
		}
	}
	t.Fatalf("admin /metrics never showed %q", want)
}

// waitStatus polls url, each time on a new connection, until it answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		res, err := c.Get(url)
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == want {
			return
		}
	}
	t.Fatalf("%s never answered %d", url, want)
}

// waitRefused polls until nothing listens on addr.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
	}
	t.Fatalf("%s still accepts connections", addr)
}
