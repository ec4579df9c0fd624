//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/apidocs"
	"github.com/rosterhq/roster/internal/httpapi"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// TestSwaggerUI drives the Swagger UI page in headless Chromium as a person
// would: the operations render, Authorize takes a bearer token, and "Try
// it out" on GET /api/users answers 200. Every exchange of the page with
// the server is checked against api/openapi.yaml as well.
func TestSwaggerUI(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v; CI installs it (apt-get install chromium)", chromiumPath, err)
		}
		t.Skipf("%s not installed (apt-get install chromium)", chromiumPath)
	}
	// SQLite: the page needs a store, not a particular one.
	h := newHarness(t, engines[0].open(t), func(c *httpapi.Config) { c.Docs = apidocs.Routes() })
	h.createUser("Ada Lovelace", "ada@example.com")
	ts := httptest.NewServer(checkedHandler(conformance(t), h.srv))
	t.Cleanup(ts.Close)

	ctx := newBrowser(t)
	messages := collectConsole(t, ctx)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			screenshot(t, ctx, "failed")
			t.Fatalf("%s: %v", what, err)
		}
	}

	op := "#operations-users-listUsers"
	step("open the page", chromedp.Navigate(ts.URL+"/swagger-ui/"),
		chromedp.WaitVisible(chromedp.CSS(op)))
	// A newcomer sees the Authorize button without scrolling on a
	// 1280×900 screen: the document's description must stay short.
	bottom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
		`window.scrollY + document.querySelector(".auth-wrapper .authorize").getBoundingClientRect().bottom`))
	if err != nil {
		t.Fatalf("locate Authorize: %v", err)
	}
	if bottom > 900 {
		screenshot(t, ctx, "authorize-below-the-fold")
		t.Errorf("the Authorize button ends %.0f px down the page, want within the first 900 px at 1280 px wide", bottom)
	}
	count, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".opblock").length`))
	if err != nil {
		t.Fatalf("count operations: %v", err)
	}
	// One block per operation of the document.
	if want := bytes.Count(api.OpenAPI(), []byte("operationId:")); count != want {
		t.Errorf("the page shows %d operations, want %d", count, want)
	}

	step("authorize",
		chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
		chromedp.WaitVisible(chromedp.CSS(".modal-ux input")),
		chromedp.SendKeys(chromedp.CSS(".modal-ux input"), h.admin),
		chromedp.Click(chromedp.CSS(".modal-ux .auth-btn-wrapper .authorize")),
		chromedp.Click(chromedp.CSS(".modal-ux .btn-done")),
		chromedp.WaitNotPresent(chromedp.CSS(".modal-ux")),
	)
	step("try it out",
		chromedp.Click(chromedp.CSS(op+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
	)
	status, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.querySelector("`+op+` .live-responses-table tbody .response-col_status")?.textContent.trim()`,
		chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		screenshot(t, ctx, "failed")
		t.Fatalf("wait for the response: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_description")))
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	screenshot(t, ctx, "swagger-ui")
	if status != "200" {
		t.Errorf("the page shows status %q, want 200; body %s", status, body)
	}
	if !strings.Contains(body, "ada@example.com") {
		t.Errorf("the page shows the body %q, want the users", body)
	}
	// The token lives in the page only: storage outlives the tab, and any
	// script of the origin could read it there (persistAuthorization off).
	saved, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`))
	if err != nil || strings.Contains(saved, h.admin) || strings.Contains(saved, "bearerAuth") {
		t.Errorf("the page stored the token: %q, %v", saved, err)
	}
	for _, m := range messages() {
		if m.IsException() || m.Type == "error" {
			t.Errorf("browser console: %s", m.Text)
		}
	}
}

// newBrowser starts a headless Chromium with a fresh profile, ended with
// the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // the suite may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1600),
	)
	// A guard against a hung browser, not a speed check: on a loaded
	// 2-core machine a cold Chromium took most of a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // start the browser now, to fail early
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// collectConsole records the page's console messages and uncaught
// exceptions; the result returns those seen so far.
func collectConsole(t *testing.T, ctx context.Context) func() []chromedp.ConsoleMessage {
	var (
		mu   sync.Mutex
		msgs []chromedp.ConsoleMessage
		done = make(chan struct{})
	)
	ctx, cancel := context.WithCancel(ctx)
	stream := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range stream {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []chromedp.ConsoleMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]chromedp.ConsoleMessage(nil), msgs...)
	}
}

// screenshot saves the whole page as name.png among the test's artifacts
// (go test -artifacts keeps them) and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// checkedHandler serves h and checks every exchange with check, for
// clients such as a browser that the harness does not drive.
func checkedHandler(check func(*http.Request, []byte, *httptest.ResponseRecorder), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		check(r, body, rec)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
