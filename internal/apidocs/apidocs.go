// Package apidocs serves roster's API description: api/openapi.yaml as
// written and converted to JSON, and the Swagger UI page that renders it.
// cmd/roster mounts it through httpapi.Config.Docs; the edge build leaves
// it out, and with it the Swagger UI assets and the YAML converter.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/roster"
)

// Cache policies of the documentation. Everything carries an ETag, so a
// revalidation costs a 304.
const (
	// The document and our own page files change with the binary: caches
	// must ask every time.
	revalidate = "no-cache"
	// The vendored Swagger UI files change only with its version.
	cacheADay = "public, max-age=86400"
)

// swaggerUIPolicy confines the Swagger UI page to this origin: its own
// scripts and styles (no inline code), its icons, and requests ("Try it
// out") to this API only. The browser test fails on any violation.
const swaggerUIPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Routes returns the documentation's endpoints by route pattern, for
// httpapi.Config.Docs. The server answers an error a handler returns with
// its error envelope: NOT_FOUND for a file Swagger UI does not have.
// Documents are read and converted on first use, not at startup.
func Routes() map[string]func(http.ResponseWriter, *http.Request) error {
	return map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /api-docs/openapi.json": openAPIJSON(),
		"GET /api-docs/openapi.yaml": openAPIYAML(),
		"GET /swagger-ui": func(w http.ResponseWriter, r *http.Request) error {
			http.Redirect(w, r, "/swagger-ui/", http.StatusMovedPermanently)
			return nil
		},
		"GET /swagger-ui/{path...}": swaggerUI(),
	}
}

// openAPIYAML serves api/openapi.yaml byte for byte.
func openAPIYAML() func(http.ResponseWriter, *http.Request) error {
	doc := sync.OnceValue(func() *staticFile {
		return newStaticFile("openapi.yaml", api.OpenAPI(), revalidate)
	})
	return func(w http.ResponseWriter, r *http.Request) error {
		doc().serve(w, r)
		return nil
	}
}

// openAPIJSON serves the document converted to JSON, for Swagger UI and
// tools that read no YAML. It is converted once, on first use.
func openAPIJSON() func(http.ResponseWriter, *http.Request) error {
	doc := sync.OnceValues(func() (*staticFile, error) {
		b, err := yamlToJSON(api.OpenAPI())
		if err != nil {
			return nil, err
		}
		return newStaticFile("openapi.json", b, revalidate), nil
	})
	return func(w http.ResponseWriter, r *http.Request) error {
		f, err := doc()
		if err != nil {
			return err // a test converts the embedded document: this cannot happen
		}
		f.serve(w, r)
		return nil
	}
}

// swaggerUI serves the Swagger UI page at the pattern's {path...} root and
// its assets beside it.
func swaggerUI() func(http.ResponseWriter, *http.Request) error {
	files := sync.OnceValues(func() (map[string]*staticFile, error) {
		return swaggerUIFiles()
	})
	return func(w http.ResponseWriter, r *http.Request) error {
		all, err := files()
		if err != nil {
			return err
		}
		name := r.PathValue("path")
		if name == "" {
			name = "index.html"
		}
		f, ok := all[name]
		if !ok {
			return roster.Errorf(roster.CodeNotFound, "No such file: %s", r.URL.Path)
		}
		if name == "index.html" {
			w.Header().Set("Content-Security-Policy", swaggerUIPolicy)
		}
		f.serve(w, r)
		return nil
	}
}

// ownFile reports whether a Swagger UI file was written for roster rather
// than vendored: those change with the binary, not with Swagger UI's version.
func ownFile(name string) bool {
	switch name {
	case "index.html", "index.css", "swagger-initializer.js":
		return true
	}
	return false
}

func swaggerUIFiles() (map[string]*staticFile, error) {
	fsys := api.SwaggerUI()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	files := make(map[string]*staticFile, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		cache := cacheADay
		if ownFile(e.Name()) {
			cache = revalidate
		}
		files[e.Name()] = newStaticFile(e.Name(), body, cache)
	}
	return files, nil
}

// contentType names the media type of a documentation file. A fixed table
// rather than mime.TypeByExtension, whose answers depend on the host's
// configuration files.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".json":
		return "application/json"
	case ".yaml":
		return "application/yaml"
	case ".png":
		return "image/png"
	}
	return "text/plain; charset=utf-8" // LICENSE, NOTICE, *.txt
}

// staticFile is a body served as is, with its entity tag.
type staticFile struct {
	name         string
	body         []byte
	cacheControl string
	etag         string
}

func newStaticFile(name string, body []byte, cacheControl string) *staticFile {
	sum := sha256.Sum256(body)
	return &staticFile{
		name:         name,
		body:         body,
		cacheControl: cacheControl,
		etag:         `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}
}

// serve writes the file, or 304 when the client's copy is current
// (http.ServeContent compares If-None-Match with the ETag set here). The
// Cache-Control set here replaces the API's no-store: these bodies are
// public.
func (f *staticFile) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	h.Set("Content-Type", contentType(f.name))
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
