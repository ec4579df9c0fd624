//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestETags(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		u := h.createUser("Ada", "ada@example.com")
		path := "/api/users/" + u.ID.String()
		get := h.do(request{method: "GET", path: path, token: h.admin})
		tag := get.Header().Get("ETag")
		if !strings.HasPrefix(tag, `"`) || len(tag) < 3 {
			t.Fatalf("GET: ETag %q, want a strong tag", tag)
		}

		notModified := h.do(request{method: "GET", path: path, token: h.admin, header: http.Header{"If-None-Match": {`"other", ` + tag}}})
		if notModified.Code != http.StatusNotModified || notModified.Body.Len() != 0 || notModified.Header().Get("ETag") != tag {
			t.Errorf("If-None-Match with the current tag: got %d, body %q, ETag %q", notModified.Code, notModified.Body, notModified.Header().Get("ETag"))
		}
		if rec := h.do(request{method: "GET", path: path, token: h.admin, header: http.Header{"If-None-Match": {`"stale"`}}}); rec.Code != 200 {
			t.Errorf("If-None-Match with another tag: got %d", rec.Code)
		}

		ifMatch := func(method, tag, body string) *request {
			return &request{method: method, path: path, token: h.admin, body: body, header: http.Header{"If-Match": {tag}}}
		}
		upd := h.do(*ifMatch("PATCH", tag, `{"name":"Ada L."}`))
		newTag := upd.Header().Get("ETag")
		if upd.Code != 200 || newTag == "" || newTag == tag {
			t.Fatalf("PATCH with the current tag: got %d, ETag %q (old %q)", upd.Code, newTag, tag)
		}
		for _, req := range []*request{
			ifMatch("PATCH", tag, `{"name":"Lost update"}`),
			ifMatch("PUT", tag, `{"name":"Lost update"}`),
			ifMatch("DELETE", tag, ""),
			ifMatch("PATCH", `"garbage"`, `{"name":"Lost update"}`),
			ifMatch("PATCH", `"a", "b"`, `{"name":"Lost update"}`),
		} {
			checkError(t, h.do(*req), http.StatusPreconditionFailed, "PRECONDITION_FAILED")
		}
		if got := decodeUser(t, h.do(request{method: "GET", path: path, token: h.admin})); got.Name != "Ada L." {
			t.Errorf("a failed precondition changed the user: %+v", got)
		}
		if rec := h.do(*ifMatch("PATCH", `"x", `+newTag, `{"name":"Ada K."}`)); rec.Code != 200 {
			t.Errorf("If-Match listing the current tag: got %d %s", rec.Code, rec.Body)
		}
		if rec := h.do(*ifMatch("PATCH", "*", `{"name":"Ada"}`)); rec.Code != 200 {
			t.Errorf("If-Match *: got %d %s", rec.Code, rec.Body)
		}
		missing := "/api/users/" + uuid.NewString()
		checkError(t, h.do(request{method: "DELETE", path: missing, token: h.admin, header: http.Header{"If-Match": {"*"}}}), 404, "NOT_FOUND")
		cur := h.do(request{method: "GET", path: path, token: h.admin}).Header().Get("ETag")
		if rec := h.do(*ifMatch("DELETE", cur, "")); rec.Code != http.StatusNoContent {
			t.Errorf("DELETE with the current tag: got %d", rec.Code)
		}
	})
}

// Two clients read the same version and both write with If-Match: exactly
// one wins, the other gets 412 instead of silently overwriting.
func TestIfMatchRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		u := h.createUser("Ada", "ada@example.com")
		path := "/api/users/" + u.ID.String()
		tag := h.do(request{method: "GET", path: path, token: h.admin}).Header().Get("ETag")
		const writers = 20
		codes := make(chan int, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := json.Marshal(map[string]string{"name": "Writer " + string(rune('A'+i))})
				codes <- h.do(request{method: "PATCH", path: path, token: h.admin, body: string(body), header: http.Header{"If-Match": {tag}}}).Code
			}()
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		if count[200] != 1 || count[412] != writers-1 {
			t.Errorf("got status counts %v, want one 200 and %d 412", count, writers-1)
		}
	})
}

func TestIdempotentCreate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		create := func(key, body string) *request {
			return &request{method: "POST", path: "/api/users", token: h.admin, body: body, header: http.Header{"Idempotency-Key": {key}}}
		}
		first := h.do(*create("key-1", userJSON("Ada", "ada@example.com")))
		if first.Code != 201 || first.Header().Get("Idempotent-Replayed") != "" {
			t.Fatalf("first create: %d %v", first.Code, first.Header())
		}
		orig := decodeUser(t, first)
		// The user changes; a retry still answers what the first call did.
		h.do(request{method: "PATCH", path: "/api/users/" + orig.ID.String(), token: h.admin, body: `{"name":"Changed"}`})
		retry := h.do(*create("key-1", `{ "email": "ADA@example.com", "name": " Ada" }`))
		if retry.Code != 201 || retry.Header().Get("Idempotent-Replayed") != "true" || decodeUser(t, retry) != orig ||
			retry.Header().Get("Location") != first.Header().Get("Location") {
			t.Errorf("retry: %d %v %s; want the original 201", retry.Code, retry.Header(), retry.Body)
		}
		env := checkError(t, h.do(*create("key-1", userJSON("Bob", "bob@example.com"))), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
		if len(env.Error.Details) != 1 || env.Error.Details[0].Field != "Idempotency-Key" {
			t.Errorf("details %+v", env.Error.Details)
		}
		// Keys are per caller: another admin's key-1 is a new request.
		other := *create("key-1", userJSON("Bob", "bob@example.com"))
		other.token = h.token("admin-2", "admin")
		if rec := h.do(other); rec.Code != 201 || rec.Header().Get("Idempotent-Replayed") != "" {
			t.Errorf("same key, another caller: got %d %v", rec.Code, rec.Header())
		}
		for _, key := range []string{"", strings.Repeat("k", 256), "bad\x01key"} {
			checkError(t, h.do(*create(key, userJSON("C", "c@example.com"))), 400, "BAD_REQUEST")
		}

		// Concurrent retries of one request create one user.
		const n = 20
		ids := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := h.do(*create("key-race", userJSON("Race", "race@example.com")))
				if rec.Code != 201 {
					t.Errorf("concurrent retry: %d %s", rec.Code, rec.Body)
					return
				}
				ids <- decodeUser(t, rec).ID.String()
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		if len(seen) != 1 {
			t.Errorf("concurrent retries created %d users, want 1", len(seen))
		}
	})
}

func TestProblemDetails(t *testing.T) {
	h := newHarness(t, sqliteStore(t))
	id := uuid.NewString()
	rec := h.do(request{method: "GET", path: "/api/users/" + id, token: h.admin, header: http.Header{"Accept": {"application/problem+json"}}})
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p["status"] != float64(404) || p["title"] != "Not Found" || p["code"] != "NOT_FOUND" || p["instance"] != "/api/users/"+id ||
		!strings.Contains(p["detail"].(string), id) || p["type"] != "urn:roster:problem:not-found" {
		t.Errorf("problem: %v", p)
	}
	rec = h.do(request{method: "POST", path: "/api/users", token: h.admin, body: `{"name":"","email":"x"}`, header: http.Header{"Accept": {"application/json, application/problem+json;q=0.5"}}})
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 422 {
		t.Fatal(rec.Code, err)
	}
	if errs, _ := p["errors"].([]any); len(errs) != 2 {
		t.Errorf("422 problem errors: %v", p)
	}
	// q=0 declines problem details: the envelope it is.
	checkError(t, h.do(request{method: "GET", path: "/api/users/" + id, token: h.admin, header: http.Header{"Accept": {"application/problem+json;q=0"}}}), 404, "NOT_FOUND")
}
