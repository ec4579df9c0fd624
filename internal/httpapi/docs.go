package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"sync"

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

// openAPIYAML serves api/openapi.yaml byte for byte.
func (s *Server) openAPIYAML() http.Handler {
	doc := sync.OnceValue(func() *staticFile {
		return newStaticFile(api.OpenAPI(), "application/yaml", revalidate)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc().serve(w, r)
	})
}

// openAPIJSON serves the document converted to JSON, for Swagger UI and
// tools that read no YAML. It is converted once, on first use.
func (s *Server) openAPIJSON() http.Handler {
	doc := sync.OnceValues(func() (*staticFile, error) {
		b, err := yamlToJSON(api.OpenAPI())
		if err != nil {
			return nil, err
		}
		return newStaticFile(b, "application/json", revalidate), nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := doc()
		if err != nil {
			s.error(w, r, err) // a test converts the embedded document: this cannot happen
			return
		}
		f.serve(w, r)
	})
}

// swaggerUI serves the Swagger UI page at the pattern's {path...} root and
// its assets beside it.
func (s *Server) swaggerUI() http.Handler {
	files := sync.OnceValues(func() (map[string]*staticFile, error) {
		return swaggerUIFiles(api.SwaggerUI())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, err := files()
		if err != nil {
			s.error(w, r, err)
			return
		}
		name := r.PathValue("path")
		if name == "" {
			name = "index.html"
		}
		f, ok := all[name]
		if !ok {
			s.error(w, r, roster.Errorf(roster.CodeNotFound, "No such file: %s", r.URL.Path))
			return
		}
		if name == "index.html" {
			w.Header().Set("Content-Security-Policy", swaggerUIPolicy)
		}
		f.serve(w, r)
	})
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

func swaggerUIFiles(fsys fs.FS) (map[string]*staticFile, error) {
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
		files[e.Name()] = newStaticFile(body, contentType(e.Name()), cache)
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
	case ".png":
		return "image/png"
	}
	return "text/plain; charset=utf-8" // LICENSE, NOTICE, *.txt
}

// staticFile is a body served as is, with its entity tag.
type staticFile struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

func newStaticFile(body []byte, contentType, cacheControl string) *staticFile {
	sum := sha256.Sum256(body)
	return &staticFile{
		body:         body,
		contentType:  contentType,
		cacheControl: cacheControl,
		etag:         `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}
}

// serve writes the file, or 304 when the client's copy is current. The
// Cache-Control set here replaces the no-store of securityHeaders: these
// bodies are public.
func (f *staticFile) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	if noneMatch(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.body) // a failed write means the client is gone
}
