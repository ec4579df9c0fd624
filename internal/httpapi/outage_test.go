//go:build !fuzzing

package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
	"github.com/rosterhq/roster/internal/postgres"
	"github.com/rosterhq/roster/internal/roster"
)

// TestDatabaseOutage: with PostgreSQL stopped (pg_ctl stop -m immediate)
// the API answers 503 UNAVAILABLE with Retry-After, not 500, readiness
// fails, and once the server is back the same pool serves again.
func TestDatabaseOutage(t *testing.T) {
	c := pgtest.NewCluster(t)
	url, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4, AcquireTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	migrateUp(t, db.Migrator)
	// Without its change feed (the store seen as a UserStore only): a
	// feed still starting when the server stops would fail the test.
	h := newHarness(t, struct{ roster.UserStore }{db})
	create := func(i int) request {
		return request{method: "POST", path: "/api/users", token: h.admin, body: fmt.Sprintf(`{"name":"U%d","email":"u%d@example.com"}`, i, i)}
	}
	if rec := h.do(create(0)); rec.Code != http.StatusCreated {
		t.Fatalf("create: got %d %s", rec.Code, rec.Body)
	}

	if err := c.Crash(); err != nil {
		t.Fatal(err)
	}
	for i, r := range []request{
		create(1), create(2),
		{method: "GET", path: "/api/users", token: h.admin},
		{method: "GET", path: "/health/ready"},
	} {
		rec := h.do(r)
		checkError(t, rec, http.StatusServiceUnavailable, "UNAVAILABLE")
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%d %s %s: no Retry-After", i, r.method, r.path)
		}
	}
	if n := strings.Count(h.logs.String(), `"msg":"internal error"`); n != 0 {
		t.Errorf("the outage was logged as %d internal errors", n)
	}

	if err := c.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, deadline := 3, time.Now().Add(10*time.Second); ; i++ {
		rec := h.do(create(i))
		if rec.Code == http.StatusCreated {
			break
		}
		if rec.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after restart: got %d %s", rec.Code, rec.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec := h.do(request{method: "GET", path: "/health/ready"}); rec.Code != http.StatusOK {
		t.Errorf("readiness after restart: got %d %s", rec.Code, rec.Body)
	}
}
