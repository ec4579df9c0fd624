//go:build !(js && wasm)

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/httpapi/httpapitest"
	"github.com/rosterhq/roster/internal/roster"
)

// edgeSecret signs the tokens of the test; the Worker gets it as JWT_SECRET.
const edgeSecret = "edge-integration-test-secret-32+bytes"

// The integration test builds the module (edge/build), starts it in
// workerd through miniflare with a fresh in-memory D1 database
// (edge/serve.mjs) and drives it over HTTP. Without node it is skipped,
// except with CI=true, where that is a failure.
func TestEdgeWorker(t *testing.T) {
	w := startWorker(t)
	admin, user := w.token("admin-1", roster.RoleAdmin), w.token("user-1")

	// The CRUD cycle, then every client error the API has, each as the
	// error envelope with its code. {id} is the user the cycle created.
	steps := []struct {
		name                string
		method, path, token string
		header              map[string]string
		body                string
		status              int
		code                string // the error code, for an error status
		want                string // a substring of the body, on success
		count               string // X-Total-Count, when the step asks count=exact
	}{
		{name: "create", method: "POST", path: "/api/users", token: admin, body: `{"name":"Ada Lovelace","email":"ada@example.com"}`, status: 201, want: `"name":"Ada Lovelace"`},
		{name: "get", method: "GET", path: "/api/users/{id}", token: admin, status: 200, want: `"email":"ada@example.com"`},
		{name: "get as a user, who sees no email", method: "GET", path: "/api/users/{id}", token: user, status: 200, want: `"name":"Ada Lovelace","created_at"`},
		{name: "list", method: "GET", path: "/api/users", token: admin, status: 200, want: `"name":"Ada Lovelace"`},
		{name: "update", method: "PATCH", path: "/api/users/{id}", token: admin, body: `{"name":"Ada King"}`, status: 200, want: `"name":"Ada King"`},
		{name: "replace email", method: "PUT", path: "/api/users/{id}", token: admin, body: `{"email":"ada.king@example.com"}`, status: 200, want: `"email":"ada.king@example.com"`},
		// q= finds text anywhere in a name or an email, in any case (the
		// trigram index's candidates, checked); match=prefix only at the
		// start; text shorter than a trigram matches at the start.
		{name: "search the middle of a name, any case", method: "GET", path: "/api/users?q=A%20KI&count=exact", token: admin, status: 200, want: `"name":"Ada King"`, count: "1"},
		{name: "search the middle of an email", method: "GET", path: "/api/users?q=KING%40Example&count=exact", token: admin, status: 200, want: `"name":"Ada King"`, count: "1"},
		{name: "search text nobody holds", method: "GET", path: "/api/users?q=zzz&count=exact", token: admin, status: 200, want: `[]`, count: "0"},
		{name: "search by name order, keyset", method: "GET", path: "/api/users?q=ing&sort=name&limit=1", token: admin, status: 200, want: `"name":"Ada King"`},
		{name: "match=prefix at the start", method: "GET", path: "/api/users?q=ADA%20K&match=prefix&count=exact", token: admin, status: 200, want: `"name":"Ada King"`, count: "1"},
		{name: "match=prefix not in the middle", method: "GET", path: "/api/users?q=king&match=prefix&count=exact", token: admin, status: 200, want: `[]`, count: "0"},
		{name: "two letters match at the start", method: "GET", path: "/api/users?q=aD&count=exact", token: admin, status: 200, want: `"name":"Ada King"`, count: "1"},
		{name: "two letters not in the middle", method: "GET", path: "/api/users?q=ki&count=exact", token: admin, status: 200, want: `[]`, count: "0"},
		{name: "unknown match", method: "GET", path: "/api/users?q=ada&match=exact", token: admin, status: 400, code: "BAD_REQUEST"},
		{name: "stale If-Match", method: "PATCH", path: "/api/users/{id}", token: admin, header: map[string]string{"If-Match": `"stale"`}, body: `{"name":"X"}`, status: 412, code: "PRECONDITION_FAILED"},
		{name: "duplicate email, any case", method: "POST", path: "/api/users", token: admin, body: `{"name":"Ada","email":"ADA.KING@example.com"}`, status: 409, code: "CONFLICT"},
		{name: "malformed JSON", method: "POST", path: "/api/users", token: admin, body: `{"name":`, status: 400, code: "BAD_REQUEST"},
		{name: "malformed id", method: "GET", path: "/api/users/not-a-uuid", token: admin, status: 400, code: "BAD_REQUEST"},
		{name: "bad query parameter", method: "GET", path: "/api/users?sort=age", token: admin, status: 400, code: "BAD_REQUEST"},
		{name: "no token", method: "GET", path: "/api/users", status: 401, code: "UNAUTHORIZED"},
		{name: "forged token", method: "GET", path: "/api/users", token: admin[:len(admin)-2] + "xx", status: 401, code: "UNAUTHORIZED"},
		{name: "create as a user", method: "POST", path: "/api/users", token: user, body: `{"name":"Eve","email":"eve@example.com"}`, status: 403, code: "FORBIDDEN"},
		{name: "delete as a user", method: "DELETE", path: "/api/users/{id}", token: user, status: 403, code: "FORBIDDEN"},
		{name: "not JSON", method: "POST", path: "/api/users", token: admin, header: map[string]string{"Content-Type": "text/plain"}, body: `name=Ada`, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		// Expect: 100-continue, so the client sends the body only if asked:
		// the Worker refuses by Content-Length without reading it, and a
		// client still writing 2 MiB when the refusal closes the
		// connection would read a reset instead of the 413.
		{name: "body over 1 MiB", method: "POST", path: "/api/users", token: admin, header: map[string]string{"Expect": "100-continue"}, body: `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, status: 413, code: "PAYLOAD_TOO_LARGE"},
		// Larger than the bridge's reused buffer (edge/worker.mjs): the
		// request crosses into Go in a buffer of its own.
		{name: "create with a body of 100 KiB", method: "POST", path: "/api/users", token: admin, body: `{"name":"Big Body",` + strings.Repeat(" ", 100<<10) + `"email":"big@example.com"}`, status: 201, want: `"email":"big@example.com"`},
		{name: "invalid fields", method: "POST", path: "/api/users", token: admin, body: `{"name":"","email":"nope"}`, status: 422, code: "VALIDATION_ERROR"},
		{name: "empty update", method: "PATCH", path: "/api/users/{id}", token: admin, body: `{}`, status: 422, code: "VALIDATION_ERROR"},
		{name: "unknown route", method: "GET", path: "/api/nothing", token: admin, status: 404, code: "NOT_FOUND"},
		{name: "feed", method: "GET", path: "/api/events", token: admin, status: 501, code: "NOT_IMPLEMENTED"},
		{name: "import", method: "POST", path: "/api/users/import", token: admin, header: map[string]string{"Content-Type": "application/x-ndjson"}, body: `{"name":"A","email":"a@example.com"}`, status: 501, code: "NOT_IMPLEMENTED"},
		{name: "export", method: "GET", path: "/api/users/export", token: admin, status: 501, code: "NOT_IMPLEMENTED"},
		{name: "readiness asks D1", method: "GET", path: "/health/ready", status: 200, want: `"status":"ok"`},
		{name: "delete", method: "DELETE", path: "/api/users/{id}", token: admin, status: 204},
		{name: "get deleted", method: "GET", path: "/api/users/{id}", token: admin, status: 404, code: "NOT_FOUND"},
		{name: "search after the delete", method: "GET", path: "/api/users?q=a%20ki&count=exact", token: admin, status: 200, want: `[]`, count: "0"},
		{name: "delete again", method: "DELETE", path: "/api/users/{id}", token: admin, status: 404, code: "NOT_FOUND"},
	}
	var id string
	for _, s := range steps {
		header := map[string]string{"Authorization": "Bearer " + s.token}
		if s.body != "" {
			header["Content-Type"] = "application/json"
		}
		for k, v := range s.header {
			header[k] = v
		}
		resp, body := w.do(t, s.method, strings.ReplaceAll(s.path, "{id}", id), header, s.body)
		if resp.StatusCode != s.status {
			t.Fatalf("%s: got status %d, want %d; body %s", s.name, resp.StatusCode, s.status, body)
		}
		if s.code != "" {
			checkEnvelope(t, s.name, resp, body, s.code)
		} else if !strings.Contains(string(body), s.want) {
			t.Errorf("%s: got body %s, want it to contain %s", s.name, body, s.want)
		}
		if got := resp.Header.Get("X-Total-Count"); got != s.count {
			t.Errorf("%s: got X-Total-Count %q, want %q", s.name, got, s.count)
		}
		if s.name == "create" {
			var u roster.User
			if err := json.Unmarshal(body, &u); err != nil {
				t.Fatalf("create: %v", err)
			}
			id = u.ID.String()
		}
	}

	t.Run("idempotent create", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json", "Idempotency-Key": "k-1"}
		first, b1 := w.do(t, "POST", "/api/users", h, `{"name":"Bob","email":"bob@example.com"}`)
		again, b2 := w.do(t, "POST", "/api/users", h, `{"name":"Bob","email":"bob@example.com"}`)
		if first.StatusCode != 201 || again.StatusCode != 201 || string(b1) != string(b2) {
			t.Fatalf("a retry: got %d %s then %d %s, want the same 201 twice", first.StatusCode, b1, again.StatusCode, b2)
		}
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("a retry: got Idempotent-Replayed %q, want true", again.Header.Get("Idempotent-Replayed"))
		}
		other, b3 := w.do(t, "POST", "/api/users", h, `{"name":"Robert","email":"bob@example.com"}`)
		if other.StatusCode != 422 {
			t.Fatalf("the key with another body: got %d, want 422", other.StatusCode)
		}
		checkEnvelope(t, "key reused", other, b3, "IDEMPOTENCY_KEY_REUSED")
	})

	// Text that sortMost (2,000) users or more hold is searched by the
	// walk of the order's index with instr, not by the trigram index's
	// candidates (internal/d1/list.go): both paths must agree.
	t.Run("search text that many hold", func(t *testing.T) {
		const many = 2000
		h := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}
		sem, errs := make(chan struct{}, 4), make(chan error, many)
		for i := range many {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				errs <- w.post(h, fmt.Sprintf(`{"name":"Crowd Member %04d","email":"crowd%04d@example.com"}`, i, i))
			}()
		}
		for range many {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			path, count, first string
		}{
			{"/api/users?q=OWD%20mem&sort=name&limit=3&count=exact", "2000", `"name":"Crowd Member 0000"`},        // the index walk
			{"/api/users?q=owd%20member%20199&sort=name&limit=3&count=exact", "10", `"name":"Crowd Member 1990"`}, // the candidates
			{"/api/users?q=crowd&match=prefix&sort=-name&limit=3&count=exact", "2000", `"name":"Crowd Member 1999"`},
		} {
			resp, b := w.do(t, "GET", c.path, map[string]string{"Authorization": "Bearer " + admin}, "")
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `[{"id":`) || !strings.Contains(string(b), c.first) || strings.Count(string(b), `"id"`) != 3 {
				t.Errorf("GET %s: got %d %s, want 3 users from %s", c.path, resp.StatusCode, b, c.first)
			}
			if got := resp.Header.Get("X-Total-Count"); got != c.count {
				t.Errorf("GET %s: got X-Total-Count %q, want %s", c.path, got, c.count)
			}
		}
		// A page larger than the bridge's reused buffer comes back from Go
		// in a buffer of its own.
		resp, b := w.do(t, "GET", "/api/users?q=crowd&limit=100", map[string]string{"Authorization": "Bearer " + admin, "Accept-Encoding": "identity"}, "")
		var page []roster.User
		if err := json.Unmarshal(b, &page); resp.StatusCode != 200 || err != nil || len(page) != 100 || len(b) <= 8<<10 {
			t.Errorf("a page of 100: got %d, %d users in %d bytes (%v), want 200 and 100 users in more than 8 KiB", resp.StatusCode, len(page), len(b), err)
		}
	})

	t.Run("keyset pages", func(t *testing.T) {
		var want []string // newest first
		for i := range 5 {
			_, b := w.do(t, "POST", "/api/users", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
				fmt.Sprintf(`{"name":"Page %d","email":"page%d@example.com"}`, i, i))
			var u roster.User
			if err := json.Unmarshal(b, &u); err != nil {
				t.Fatalf("create: %s: %v", b, err)
			}
			want = slices.Insert(want, 0, u.ID.String())
		}
		var got []string
		next := "/api/users?limit=2&q=page"
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatalf("more than 5 pages of 2 for 5 users: %v", got)
			}
			resp, b := w.do(t, "GET", next, map[string]string{"Authorization": "Bearer " + admin}, "")
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: got %d %s", next, resp.StatusCode, b)
			}
			var users []roster.User
			if err := json.Unmarshal(b, &users); err != nil {
				t.Fatalf("GET %s: %v", next, err)
			}
			for _, u := range users {
				got = append(got, u.ID.String())
			}
			next = ""
			if m := nextLink.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
				next = m[1]
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("keyset pages: got %v, want %v", got, want)
		}
		// A body the handler compressed is sent as it is, not compressed
		// again by the runtime (do's conformance check decodes it once).
		resp, b := w.do(t, "GET", "/api/users?limit=100", map[string]string{"Authorization": "Bearer " + admin, "Accept-Encoding": "gzip"}, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("a list of %d bytes with Accept-Encoding: gzip: got %d, Content-Encoding %q", len(b), resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		resp, b = w.do(t, "GET", "/api/users?limit=2&cursor=bm9wZQ", map[string]string{"Authorization": "Bearer " + admin}, "")
		if resp.StatusCode != 400 {
			t.Fatalf("a forged cursor: got %d %s, want 400", resp.StatusCode, b)
		}
	})
}

// client asks for no compression unless a test sets Accept-Encoding:
// workerd compresses bodies the handler left plain, and marks even a 204
// as gzip-encoded, which is the runtime's doing, not roster's. A request
// that says Expect: 100-continue waits up to 5 s for the Worker's word
// before sending its body.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true, ExpectContinueTimeout: 5 * time.Second}}

var nextLink = regexp.MustCompile(`<([^>]+)>; rel="next"`)

// checkEnvelope asserts the error envelope with code.
func checkEnvelope(t *testing.T, name string, resp *http.Response, body []byte, code string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: got Content-Type %q", name, ct)
	}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != code || env.Error.Message == "" {
		t.Errorf("%s: got body %s, want the envelope with code %s", name, body, code)
	}
}

// edgeWorker is a running edge Worker.
type edgeWorker struct {
	url  string
	auth *auth.Authority
}

func (w *edgeWorker) token(sub string, roles ...string) string {
	tok, err := w.auth.Issue(sub, roles, time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

func (w *edgeWorker) do(t *testing.T, method, path string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if v != "Bearer " {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	// Every exchange is held to api/openapi.yaml, as in the handler's
	// own tests.
	rec := httptest.NewRecorder()
	maps.Copy(rec.Header(), resp.Header)
	rec.WriteHeader(resp.StatusCode)
	_, _ = rec.Write(b)
	httpapitest.Conformance(t)(req, []byte(body), rec)
	return resp, b
}

// post creates a user without the conformance check of do, for tests
// that create many.
func (w *edgeWorker) post(header map[string]string, body string) error {
	req, err := http.NewRequest("POST", w.url+"/api/users", strings.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/users %s: got %d %s", body, resp.StatusCode, b)
	}
	return nil
}

// startWorker builds the module, installs miniflare if needed and serves
// the Worker on a free port of 127.0.0.1 until the test ends.
func startWorker(t *testing.T) *edgeWorker {
	t.Helper()
	url := serve(t)
	a, err := auth.New(auth.Config{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return &edgeWorker{url: url, auth: a}
}

// serve runs edge/build, installs miniflare if needed and runs edge/serve.mjs
// with args (none: the Worker) on a free port of 127.0.0.1 with a fresh D1
// database until the test ends; it returns the URL. Without node the test
// is skipped, except with CI=true.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed; CI needs it for the edge build's test (.ci/run)")
		}
		t.Skip("node is not installed: skipping the edge Worker's test")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "bash", "build")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "miniflare")); err != nil {
		run(t, dir, nil, "npm", "ci", "--no-audit", "--no-fund")
	}
	cmd := exec.Command("node", append([]string{"serve.mjs", "--stdin"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JWT_SECRET="+edgeSecret, "LOG_LEVEL=warn")
	stdin, err := cmd.StdinPipe() // closing it stops the server
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	urls := make(chan string, 1)
	go func() { // reads the server's output until it exits
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				urls <- u
			} else {
				t.Log(sc.Text())
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(2 * time.Minute):
		t.Fatal("miniflare did not start within 2 minutes")
	}
	return url
}

// run runs a command in dir with env added to the test's environment.
func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
