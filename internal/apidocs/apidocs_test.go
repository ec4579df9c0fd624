//go:build !fuzzing

package apidocs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"go.yaml.in/yaml/v3"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/apidocs"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/httpapi/httpapitest"
)

// docsServer serves the documentation as cmd/roster mounts it, through
// the API's server (its error envelope, compression and headers); it
// needs no store. Every exchange is held to api/openapi.yaml.
func docsServer(t *testing.T) func(method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	srv := httpapi.NewServer(httpapi.Config{Docs: apidocs.Routes()})
	check := httpapitest.Conformance(t)
	return func(method, path string, header http.Header) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		for k, vs := range header {
			req.Header[k] = vs
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		check(req, nil, rec)
		return rec
	}
}

func TestDocsOpenAPIYAML(t *testing.T) {
	get := docsServer(t)
	rec := get("GET", "/api-docs/openapi.yaml", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/yaml" {
		t.Errorf("got Content-Type %q, want application/yaml", got)
	}
	if !bytes.Equal(rec.Body.Bytes(), api.OpenAPI()) {
		t.Errorf("body differs from api/openapi.yaml")
	}
	checkRevalidated(t, get, "/api-docs/openapi.yaml", rec)
}

func TestDocsOpenAPIJSON(t *testing.T) {
	get := docsServer(t)
	rec := get("GET", "/api-docs/openapi.json", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	body := rec.Body.Bytes()
	if !json.Valid(body) {
		t.Fatalf("body is not valid JSON")
	}
	var fromJSON any
	if err := json.Unmarshal(body, &fromJSON); err != nil {
		t.Fatalf("decode JSON: %v", err)
	}
	if !reflect.DeepEqual(fromJSON, yamlAsJSON(t, api.OpenAPI())) {
		t.Errorf("the JSON document says something else than api/openapi.yaml")
	}
	// Response codes are keys YAML could read as numbers; JSON keys are
	// strings, and tools look them up as such.
	health := fromJSON.(map[string]any)["paths"].(map[string]any)["/health"].(map[string]any)
	if _, ok := health["get"].(map[string]any)["responses"].(map[string]any)["200"]; !ok {
		t.Errorf(`paths./health.get.responses has no "200" key`)
	}
	// Swagger UI shows operations in document order.
	if got, want := objectKeys(t, body, "paths"), yamlKeys(t, api.OpenAPI(), "paths"); !reflect.DeepEqual(got, want) {
		t.Errorf("paths in order %q, want the YAML's %q", got, want)
	}
	// What Swagger UI reads must be a valid document by itself.
	doc, err := libopenapi.NewDocument(body)
	if err != nil {
		t.Fatalf("parse JSON document: %v", err)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Errorf("build model from the JSON document: %v", err)
	}
	checkRevalidated(t, get, "/api-docs/openapi.json", rec)
}

// checkRevalidated checks the caching of a document: public, revalidated
// on every use, and a 304 for the ETag it came with.
func checkRevalidated(t *testing.T, get func(string, string, http.Header) *httptest.ResponseRecorder, path string, first *httptest.ResponseRecorder) {
	t.Helper()
	if got := first.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("got Cache-Control %q, want no-cache", got)
	}
	tag := first.Header().Get("ETag")
	if tag == "" {
		t.Fatalf("no ETag")
	}
	rec := get("GET", path, http.Header{"If-None-Match": {tag}})
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match %s: got status %d with %d bytes, want 304 and no body", tag, rec.Code, rec.Body.Len())
	}
	if rec := get("GET", path, http.Header{"If-None-Match": {`"stale"`}}); rec.Code != http.StatusOK {
		t.Errorf(`If-None-Match "stale": got status %d, want 200`, rec.Code)
	}
}

func TestDocsSwaggerUI(t *testing.T) {
	get := docsServer(t)

	rec := get("GET", "/swagger-ui", nil)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/swagger-ui/" {
		t.Errorf("GET /swagger-ui: got %d to %q, want 301 to /swagger-ui/", rec.Code, rec.Header().Get("Location"))
	}

	page := get("GET", "/swagger-ui/", nil)
	if page.Code != http.StatusOK {
		t.Fatalf("GET /swagger-ui/: got status %d, want 200; body %s", page.Code, page.Body)
	}
	if got := page.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("page: got Content-Type %q, want text/html; charset=utf-8", got)
	}
	if got := page.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("page: got Cache-Control %q, want no-cache", got)
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page: got Content-Security-Policy %q, want scripts from this origin only", csp)
	}

	// Everything the page loads is served from here, with the right type:
	// browsers refuse scripts and styles of another type under nosniff.
	refs := regexp.MustCompile(`(?:src|href)="\./([^"]+)"`).FindAllStringSubmatch(page.Body.String(), -1)
	if len(refs) < 4 {
		t.Fatalf("page references %d local files, want the script, styles and icon", len(refs))
	}
	if strings.Contains(page.Body.String(), "://") {
		t.Errorf("page refers to another site; it must work offline")
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
	for _, ref := range refs {
		name := ref[1]
		rec := get("GET", "/swagger-ui/"+name, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: got status %d, want 200", name, rec.Code)
			continue
		}
		ext := name[strings.LastIndex(name, "."):]
		if got := rec.Header().Get("Content-Type"); got != types[ext] {
			t.Errorf("%s: got Content-Type %q, want %q", name, got, types[ext])
		}
		want := "public, max-age=86400"
		if name == "index.css" || name == "swagger-initializer.js" {
			want = "no-cache" // ours: they change with the binary
		}
		if got := rec.Header().Get("Cache-Control"); got != want {
			t.Errorf("%s: got Cache-Control %q, want %q", name, got, want)
		}
		if tag := rec.Header().Get("ETag"); tag == "" {
			t.Errorf("%s: no ETag", name)
		} else if rec := get("GET", "/swagger-ui/"+name, http.Header{"If-None-Match": {tag}}); rec.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match: got status %d, want 304", name, rec.Code)
		}
	}

	initializer := get("GET", "/swagger-ui/swagger-initializer.js", nil).Body.String()
	for _, want := range []string{`url: "/api-docs/openapi.json"`, "persistAuthorization: false"} {
		if !strings.Contains(initializer, want) {
			t.Errorf("swagger-initializer.js lacks %s", want)
		}
	}
	// The licence travels with the copy (Apache 2.0, section 4).
	for name, want := range map[string]string{"LICENSE": "Apache License", "NOTICE": "SmartBear"} {
		if rec := get("GET", "/swagger-ui/"+name, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: got status %d, want 200 with %q", name, rec.Code, want)
		}
	}

	rec = get("GET", "/swagger-ui/nope.js", nil)
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); rec.Code != http.StatusNotFound || err != nil || env.Error.Code != "NOT_FOUND" {
		t.Errorf("GET /swagger-ui/nope.js: got status %d, body %s; want 404 NOT_FOUND in the error envelope", rec.Code, rec.Body)
	}
}

// TestDocsCompressed checks that the large Swagger UI bundle is sent
// compressed to clients that accept it.
func TestDocsCompressed(t *testing.T) {
	get := docsServer(t)
	rec := get("GET", "/swagger-ui/swagger-ui-bundle.js", http.Header{"Accept-Encoding": {"gzip"}})
	if got := rec.Header().Get("Content-Encoding"); got != "gzip" {
		t.Errorf("got Content-Encoding %q, want gzip", got)
	}
	if rec.Body.Len() > 1<<20 {
		t.Errorf("got %d bytes, want the bundle compressed", rec.Body.Len())
	}
	rec = get("GET", "/api-docs/openapi.json", http.Header{"Accept-Encoding": {"zstd"}})
	if got := rec.Header().Get("Content-Encoding"); got != "zstd" {
		t.Errorf("openapi.json: got Content-Encoding %q, want zstd", got)
	}
}

// yamlAsJSON decodes a YAML document into what encoding/json would decode
// from the same data.
func yamlAsJSON(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatalf("decode YAML: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML to JSON through maps: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode JSON: %v", err)
	}
	return out
}

// objectKeys lists, in order, the keys of the object at top-level key
// field of a JSON document.
func objectKeys(t *testing.T, doc []byte, field string) []string {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		t.Fatalf("decode: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(top[field]))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatalf("tokens: %v", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		default:
			if s, ok := tok.(string); ok && depth == 1 {
				keys = append(keys, s)
				if err := skipValue(dec); err != nil {
					t.Fatalf("skip: %v", err)
				}
			}
		}
	}
}

func skipValue(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}

// yamlKeys lists, in order, the keys of the mapping at top-level key
// field of a YAML document.
func yamlKeys(t *testing.T, doc []byte, field string) []string {
	t.Helper()
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(doc, &top); err != nil {
		t.Fatalf("decode YAML: %v", err)
	}
	n := top[field]
	var keys []string
	for i := 0; i < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}
