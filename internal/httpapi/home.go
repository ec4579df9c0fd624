package httpapi

import (
	_ "embed"
	"encoding/json"
	"html"
	"mime"
	"net/http"
	"strings"
)

//go:embed home.html
var homeHTML string

// homePage renders home.html for h. The page is filled by plain
// replacement, not html/template: its only variable text is the version
// and the links (escaped here), and html/template would bring
// text/template and regexp into the edge build's module (about 0.3 MB of
// its gzipped size) for this one page.
func homePage(h home) []byte {
	// The documentation section goes first: the development-mode section
	// holds one of its sentences, so its own {{end}} is then the next one.
	page := homeSection(homeHTML, ".Links.swagger_ui", h.Links["swagger_ui"] != "")
	page = homeSection(page, ".DevelopmentMode", h.DevelopmentMode)
	pairs := []string{"{{.Version}}", html.EscapeString(h.Version)}
	for name, link := range h.Links {
		pairs = append(pairs, "{{.Links."+name+"}}", html.EscapeString(link))
	}
	return []byte(strings.NewReplacer(pairs...).Replace(page))
}

// homeSection resolves every "{{if cond}}…{{end}}" of page: the text
// between the markers stays when keep is true and goes otherwise.
func homeSection(page, cond string, keep bool) string {
	for {
		before, rest, ok := strings.Cut(page, "{{if "+cond+"}}")
		if !ok {
			return page
		}
		body, after, ok := strings.Cut(rest, "{{end}}")
		if !ok {
			panic("home.html: {{if " + cond + "}} lacks its {{end}}") // fixed at build time: TestHome renders it
		}
		if !keep {
			body = ""
		}
		page = before + body + after
	}
}

// homePolicy: the page has no scripts, styles or images of its own.
const homePolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// home is what GET / shows: where to go next.
type home struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	DevelopmentMode bool              `json:"development_mode"`
	Links           map[string]string `json:"links"`
}

// handleHome answers GET / with a short HTML page, or its links as JSON
// for clients that ask for JSON rather than HTML.
func (s *Server) handleHome() http.Handler {
	h := home{Name: "roster", Version: s.version, DevelopmentMode: s.devMode, Links: map[string]string{
		"ready":  "/health/ready",
		"health": "/health",
		"users":  "/api/users",
	}}
	if s.docs != nil {
		h.Links["swagger_ui"] = "/swagger-ui/"
		h.Links["openapi_json"] = "/api-docs/openapi.json"
		h.Links["openapi_yaml"] = "/api-docs/openapi.yaml"
	}
	if h.Version == "" {
		h.Version = "dev"
	}
	page := homePage(h)
	index, _ := json.Marshal(h) // a struct of strings and a bool: cannot fail
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if wantsJSON(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(append(index, '\n'))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", homePolicy)
		_, _ = w.Write(page)
	})
}

// wantsJSON reports whether an Accept header names JSON and not HTML, as
// API clients do; browsers (text/html) and curl (*/*) get the page.
func wantsJSON(accept string) bool {
	jsonOK, htmlOK := false, false
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "application/json", "application/problem+json":
			jsonOK = true
		case "text/html":
			htmlOK = true
		}
	}
	return jsonOK && !htmlOK
}
