package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"strings"
)

//go:embed home.html
var homeHTML string

var homeTemplate = template.Must(template.New("home").Parse(homeHTML))

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
	var page bytes.Buffer
	if err := homeTemplate.Execute(&page, h); err != nil {
		panic(err) // the template and its data are fixed: a test renders both modes
	}
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
		_, _ = w.Write(page.Bytes())
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
