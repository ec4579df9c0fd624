//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/apidocs"
	"github.com/rosterhq/roster/internal/httpapi"
)

// GET / answers a newcomer: an HTML page with the version and the links
// (and in development mode how to use the printed tokens), or the same
// links as JSON for a JSON client. Every answer is checked against
// api/openapi.yaml by the harness.
func TestHome(t *testing.T) {
	tests := []struct {
		name    string
		dev     bool
		docs    bool // the build serves the documentation (apidocs)
		accept  string
		ctype   string
		want    []string
		notWant []string
	}{
		{"browser", false, true, "text/html,application/xhtml+xml,*/*;q=0.8", "text/html", []string{"v9.9.9", `href="/swagger-ui/"`, `href="/api-docs/openapi.yaml"`, `href="/health/ready"`}, []string{"Development mode", "{{"}},
		{"curl", false, true, "*/*", "text/html", []string{"Swagger UI"}, nil},
		{"browser, development mode", true, true, "text/html", "text/html", []string{"Development mode", "export TOKEN=", "Authorize", `href="/health"`}, []string{"{{"}},
		{"JSON client", false, true, "application/json", "application/json", []string{`"swagger_ui":"/swagger-ui/"`, `"version":"v9.9.9"`, `"development_mode":false`}, nil},
		{"JSON client, development mode", true, true, "application/json", "application/json", []string{`"development_mode":true`}, nil},
		// A build without the documentation (the edge) links none of it.
		{"browser, no documentation", true, false, "text/html", "text/html", []string{`href="/health/ready"`, "export TOKEN="}, []string{"swagger", "api-docs", "Authorize", "{{"}},
		{"browser, no documentation, no development mode", false, false, "text/html", "text/html", []string{`href="/health/ready"`}, []string{"swagger", "api-docs", "Development mode", "{{"}},
		{"JSON client, no documentation", false, false, "application/json", "application/json", []string{`"users":"/api/users"`}, []string{"swagger", "api-docs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, engines[0].open(t), func(c *httpapi.Config) {
				c.Version, c.DevMode = "v9.9.9", tt.dev
				if tt.docs {
					c.Docs = apidocs.Routes()
				}
			})
			rec := h.do(request{method: "GET", path: "/", header: http.Header{"Accept": {tt.accept}}})
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.ctype) {
				t.Fatalf("got %d %s, want 200 %s", rec.Code, rec.Header().Get("Content-Type"), tt.ctype)
			}
			body := rec.Body.String()
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
			if tt.ctype == "application/json" && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("not JSON: %s", body)
			}
		})
	}
	// The version is text in the page, never markup.
	h := newHarness(t, engines[0].open(t), func(c *httpapi.Config) { c.Version = `1.0<script>"` })
	if body := h.do(request{method: "GET", path: "/", header: http.Header{"Accept": {"text/html"}}}).Body.String(); !strings.Contains(body, "<code>1.0&lt;script&gt;&#34;</code>") || strings.Contains(body, "<script>") {
		t.Errorf("the version is not escaped:\n%s", body)
	}
	// Only "/" itself: other unknown paths stay JSON 404s.
	h = newHarness(t, engines[0].open(t))
	if rec := h.do(request{method: "GET", path: "/nope"}); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nope: got %d, want 404", rec.Code)
	}
}
