//go:build !fuzzing

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rosterhq/roster/internal/roster"
)

func TestHealth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		for _, path := range []string{"/health", "/health/ready"} {
			rec := h.do(request{method: "GET", path: path})
			if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
				t.Errorf("%s: got %d %q, want 200 {\"status\":\"ok\"}", path, rec.Code, rec.Body)
			}
		}
		h.srv.Drain()
		env := checkError(t, h.do(request{method: "GET", path: "/health/ready"}), http.StatusServiceUnavailable, "UNAVAILABLE")
		if len(env.Error.Details) != 1 || env.Error.Details[0].Field != "server" {
			t.Errorf("got details %+v, want the server check", env.Error.Details)
		}
		if rec := h.do(request{method: "GET", path: "/health"}); rec.Code != http.StatusOK {
			t.Errorf("liveness while draining: got %d, want 200", rec.Code)
		}
	})
}

func TestRequestIDAndAccessLog(t *testing.T) {
	h := newHarness(t, engines[0].open(t))
	rec := h.do(request{method: "GET", path: "/api/users/" + uuid.NewString(), token: h.admin, header: http.Header{"X-Request-Id": {"trace-abc-123"}}})
	if got := rec.Header().Get("X-Request-ID"); got != "trace-abc-123" {
		t.Errorf("got X-Request-ID %q, want the client's trace-abc-123", got)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
		}
	}
	want := map[string]any{"method": "GET", "route": "GET /api/users/{id}", "status": float64(404), "request_id": "trace-abc-123", "sub": "admin-1"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s: got %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("access log lacks duration: %v", line)
	}

	for _, bad := range []string{"", strings.Repeat("x", 200), "has space", "new\nline"} {
		rec := h.do(request{method: "GET", path: "/health", header: http.Header{"X-Request-Id": {bad}}})
		if got := rec.Header().Get("X-Request-ID"); got == bad || len(got) != 32 {
			t.Errorf("X-Request-ID %q: got %q, want a generated 32-hex id", bad, got)
		}
	}
}

// failingStore fails every call, as a database that went away would.
type failingStore struct{ err error }

func (f failingStore) CreateUser(context.Context, roster.User, *roster.Idempotency) (roster.User, bool, error) {
	return roster.User{}, false, f.err
}
func (f failingStore) User(context.Context, uuid.UUID) (roster.User, error) {
	return roster.User{}, f.err
}
func (f failingStore) ListUsers(context.Context, roster.ListQuery) ([]roster.User, error) {
	return nil, f.err
}
func (f failingStore) CountUsers(context.Context, roster.UserFilter) (int64, error) { return 0, f.err }
func (f failingStore) UpdateUser(context.Context, uuid.UUID, roster.UserUpdate, time.Time) (roster.User, error) {
	return roster.User{}, f.err
}
func (f failingStore) DeleteUser(context.Context, uuid.UUID, *time.Time, time.Time) error {
	return f.err
}
func (f failingStore) Ping(context.Context) error { return f.err }
func (f failingStore) BeginImport(context.Context, roster.ImportOptions) (roster.ImportTx, error) {
	return nil, f.err
}
func (f failingStore) ExportUsers(context.Context, roster.UserFilter, func(roster.User) error) error {
	return f.err
}

// An internal failure never reaches the client: 500 INTERNAL_ERROR with the
// generic message, and the cause in the log under the request id.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	secret := "dial tcp 10.1.2.3:5432: password authentication failed for user roster"
	h := newHarness(t, failingStore{err: errors.New(secret)})
	reqs := []request{
		{method: "GET", path: "/api/users"},
		{method: "POST", path: "/api/users", body: userJSON("A", "a@example.com")},
		{method: "GET", path: "/api/users/" + uuid.NewString()},
		{method: "PATCH", path: "/api/users/" + uuid.NewString(), body: `{"name":"B"}`},
		{method: "DELETE", path: "/api/users/" + uuid.NewString()},
	}
	for _, req := range reqs {
		req.token = h.admin
		req.header = http.Header{"X-Request-Id": {"req-" + req.method}}
		rec := h.do(req)
		env := checkError(t, rec, http.StatusInternalServerError, "INTERNAL_ERROR")
		if env.Error.Message != "An unexpected error occurred" || strings.Contains(rec.Body.String(), "10.1.2.3") {
			t.Errorf("%s %s: body %s leaks or has the wrong message", req.method, req.path, rec.Body)
		}
		if !strings.Contains(h.logs.String(), `"request_id":"req-`+req.method+`"`) || !strings.Contains(h.logs.String(), "password authentication failed") {
			t.Errorf("%s: log lacks the cause with the request id", req.method)
		}
	}
	env := checkError(t, h.do(request{method: "GET", path: "/health/ready"}), http.StatusServiceUnavailable, "UNAVAILABLE")
	if len(env.Error.Details) != 1 || env.Error.Details[0].Field != "database" || strings.Contains(env.Error.Details[0].Message, "10.1.2.3") {
		t.Errorf("readiness with a dead database: got details %+v", env.Error.Details)
	}
}
