package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collectedSpan is a span as an OTLP exporter sent it.
type collectedSpan struct {
	service, name             string
	kind                      tracepb.Span_SpanKind
	traceID, spanID, parentID string
}

// otlpCollector receives OTLP/HTTP traces, as a collector would, and
// keeps their spans.
type otlpCollector struct {
	url   string
	mu    sync.Mutex
	spans []collectedSpan
}

func startCollector(t *testing.T) *otlpCollector {
	t.Helper()
	c := &otlpCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if r.URL.Path != "/v1/traces" || err != nil {
			t.Errorf("collector: %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, collectedSpan{service: service, name: s.Name, kind: s.Kind,
						traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// named returns the spans of service named name.
func (c *otlpCollector) named(service, name string) []collectedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []collectedSpan
	for _, s := range c.spans {
		if s.service == service && s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// child is parent's one child named name, of any service.
func (c *otlpCollector) child(t *testing.T, parent collectedSpan, name string) collectedSpan {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var found []collectedSpan
	for _, s := range c.spans {
		if s.name == name && s.traceID == parent.traceID && s.parentID == parent.spanID {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: got %d children named %s, want 1 (of %d spans)", parent.name, len(found), name, len(c.spans))
	}
	return found[0]
}

// TestCLITraceparent: with the OTEL_* variables set, roster import and
// export send their span as a traceparent, and serve's request span is
// its child: one trace from the client to the SQL. Without them the
// request starts its own trace, as before. With --db the whole import
// is traced in process.
func TestCLITraceparent(t *testing.T) {
	col := startCollector(t)
	srv := startServe(t, "serve", []string{"--addr", "127.0.0.1:0", "--admin-addr", ""},
		env("DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "roster.db"), "OTEL_EXPORTER_OTLP_ENDPOINT", col.url))
	base := srv.base
	tok := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(srv.stdout.String())
	if tok == nil {
		t.Fatalf("no development token printed; stdout %q", srv.stdout)
	}
	in := filepath.Join(t.TempDir(), "users.ndjson")
	var file strings.Builder
	for i := range 3 {
		fmt.Fprintf(&file, `{"name":"User %d","email":"u%d@example.com"}`+"\n", i, i)
	}
	if err := os.WriteFile(in, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	traced := env("ROSTER_TOKEN", tok[1], "ROSTER_URL", base, "OTEL_EXPORTER_OTLP_ENDPOINT", col.url)
	if code, _, errOut := runCmd(t, traced, "import", in); code != 0 {
		t.Fatalf("import: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, traced, "export", "-o", filepath.Join(t.TempDir(), "out.ndjson")); code != 0 {
		t.Fatalf("export: exit %d, stderr %q", code, errOut)
	}
	// Untraced, the CLI sends no traceparent (skip: the rows exist).
	untraced := env("ROSTER_TOKEN", tok[1], "ROSTER_URL", base)
	if code, _, errOut := runCmd(t, untraced, "import", "--on-conflict", "skip", in); code != 0 {
		t.Fatalf("untraced import: exit %d, stderr %q", code, errOut)
	}
	// Direct, the service and the store run under the CLI's span.
	direct := filepath.Join(t.TempDir(), "direct.db")
	if code, _, errOut := runCmd(t, env("OTEL_EXPORTER_OTLP_ENDPOINT", col.url), "import", "--db", direct, in); code != 0 {
		t.Fatalf("direct import: exit %d, stderr %q", code, errOut)
	}
	if err := srv.stop(); err != nil { // serve flushes its spans as it stops
		t.Fatalf("serve: %v", err)
	}

	for _, tt := range []struct{ cli, server, service string }{
		{"roster import", "POST /api/users/import", "roster.ImportUsers"},
		{"roster export", "GET /api/users/export", "roster.ExportUsers"},
	} {
		clients := col.named("roster-cli", tt.cli)
		var client collectedSpan
		for _, c := range clients {
			if c.kind == tracepb.Span_SPAN_KIND_CLIENT {
				client = c
			}
		}
		if client.spanID == "" || client.parentID != "" {
			t.Fatalf("%s: got spans %+v, want one root client span of roster-cli", tt.cli, clients)
		}
		srv := col.child(t, client, tt.server)
		if srv.service != "roster" || srv.kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("%s: got %+v, want roster's server span", tt.server, srv)
		}
		svc := col.child(t, srv, tt.service)
		if tt.cli == "roster import" {
			batch := col.child(t, svc, "roster.import.batch")
			col.child(t, batch, "ImportUser") // the SQL, in the same trace
		}
	}
	imports := col.named("roster", "POST /api/users/import")
	if len(imports) != 2 {
		t.Fatalf("got %d server spans of an import, want 2", len(imports))
	}
	var roots int
	for _, s := range imports {
		if s.parentID == "" {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("got %d import server spans without a parent, want 1 (the untraced CLI's)", roots)
	}

	var directSpan collectedSpan
	for _, s := range col.named("roster-cli", "roster import") {
		if s.kind == tracepb.Span_SPAN_KIND_INTERNAL {
			directSpan = s
		}
	}
	if directSpan.spanID == "" {
		t.Fatal("no internal span of the direct import")
	}
	svc := col.child(t, directSpan, "roster.ImportUsers")
	col.child(t, col.child(t, svc, "roster.import.batch"), "ImportUser")
}
