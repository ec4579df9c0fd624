package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/pgtest"
)

// jaegerBinary finds Jaeger all-in-one: $ROSTER_JAEGER, else jaeger on
// the PATH (build it from tools/jaeger). Without it the test is skipped;
// a ROSTER_JAEGER that names no program fails. (CI does not build it yet:
// its cold build outlasted an hour on the shared 2-core machine, against
// CI's 20-minute budget; see tools/jaeger/go.mod.)
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("ROSTER_JAEGER"); path != "" {
		if _, err := exec.LookPath(path); err != nil {
			t.Fatalf("ROSTER_JAEGER=%s: %v", path, err)
		}
		return path
	}
	path, err := exec.LookPath("jaeger")
	if err != nil {
		t.Skip("no Jaeger (ROSTER_JAEGER or jaeger on the PATH); see tools/jaeger/go.mod")
	}
	return path
}

// startJaeger runs Jaeger all-in-one, in-memory, on free ports and
// returns its OTLP gRPC and HTTP endpoints and its query API's base URL.
func startJaeger(t *testing.T) (otlpGRPC, otlpHTTP, query string) {
	t.Helper()
	bin := jaegerBinary(t)
	grpcAddr, httpAddr, queryAddr, queryGRPC, health := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	config := fmt.Sprintf(`
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %q
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %q
    grpc:
      endpoint: %q
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 1000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
      http:
        endpoint: %q
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, health, queryAddr, queryGRPC, grpcAddr, httpAddr)
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", path)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start jaeger: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("jaeger output:\n%s", out)
		}
	})
	query = "http://" + queryAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("jaeger exited: %v\n%s", err, out)
		default:
		}
		if res, err := http.Get(query + "/api/services"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return grpcAddr, "http://" + httpAddr, query
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger's query API did not answer within 60s\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jaegerTrace is the part of Jaeger's /api/traces/{id} answer the test reads.
type jaegerTrace struct {
	Data []struct {
		Spans []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
	} `json:"data"`
}

// TestJaeger runs roster against a real Jaeger over both OTLP protocols:
// a create sent with a traceparent must show up in Jaeger's query API as
// that trace, with the server span named by route, the service span
// under it and the SQL statements under that.
func TestJaeger(t *testing.T) {
	otlpGRPC, otlpHTTP, query := startJaeger(t)
	for i, proto := range []struct{ name, endpoint string }{
		{"grpc", "http://" + otlpGRPC},
		{"http/protobuf", otlpHTTP},
	} {
		t.Run(strings.ReplaceAll(proto.name, "/", "-"), func(t *testing.T) {
			traceID := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02x", i)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--otel"},
					env("DATABASE_URL", pgtest.NewDatabase(t), "LOG_FORMAT", "json",
						"OTEL_EXPORTER_OTLP_ENDPOINT", proto.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL", proto.name,
						"OTEL_SERVICE_NAME", "roster-test", "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test"),
					strings.NewReader(""), stdout, stderr)
			}()
			base := "http://" + loggedAddr(t, stderr, "listening", done)
			waitHealthy(t, base, done)
			if !strings.Contains(stdout.String(), "OpenTelemetry tracing: on") || !strings.Contains(stdout.String(), "OTLP "+proto.name) {
				t.Errorf("--otel: stdout lacks the tracing configuration:\n%s", stdout)
			}
			tok := regexp.MustCompile(`export TOKEN=(\S+)`).FindStringSubmatch(stdout.String())
			if tok == nil {
				t.Fatalf("no development token printed; stdout %q", stdout)
			}
			req, _ := http.NewRequest("POST", base+"/api/users", strings.NewReader(`{"name":"Ada","email":"ada@example.com"}`))
			req.Header.Set("Authorization", "Bearer "+tok[1])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 201 {
				t.Fatalf("create: status %d", res.StatusCode)
			}
			if tr := res.Header.Get("Traceresponse"); !strings.HasPrefix(tr, "00-"+traceID+"-") {
				t.Errorf("traceresponse %q is not of trace %s", tr, traceID)
			}
			// A graceful stop flushes the queued spans.
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			if !strings.Contains(stderr.String(), `"trace_id":"`+traceID+`"`) {
				t.Errorf("no log record carries trace_id %s:\n%s", traceID, stderr)
			}

			// Jaeger stores what it received after its own batch.
			var tr jaegerTrace
			deadline := time.Now().Add(30 * time.Second)
			for {
				res, err := http.Get(query + "/api/traces/" + traceID)
				if err == nil {
					tr = jaegerTrace{}
					_ = json.NewDecoder(res.Body).Decode(&tr)
					res.Body.Close()
					if len(tr.Data) == 1 && len(tr.Data[0].Spans) > 2 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("trace %s not in Jaeger within 30s (last answer %+v)", traceID, tr)
				}
				time.Sleep(200 * time.Millisecond)
			}
			byID := map[string]string{} // span id → operation
			for _, s := range tr.Data[0].Spans {
				byID[s.SpanID] = s.OperationName
			}
			parentOf := func(op string) []string {
				var parents []string
				for _, s := range tr.Data[0].Spans {
					if s.OperationName == op {
						for _, r := range s.References {
							if r.RefType == "CHILD_OF" {
								parents = append(parents, byID[r.SpanID])
							}
						}
					}
				}
				return parents
			}
			if got := parentOf("roster.CreateUser"); !slices.Equal(got, []string{"POST /api/users"}) {
				t.Errorf("roster.CreateUser's parent got %v, want [POST /api/users]", got)
			}
			var sql []string
			for _, s := range tr.Data[0].Spans {
				for _, tag := range s.Tags {
					if tag.Key == "db.system.name" && tag.Value == "postgresql" {
						sql = append(sql, s.OperationName)
					}
				}
			}
			if len(sql) == 0 {
				t.Errorf("no SQL spans in trace %s: %v", traceID, byID)
			}
			t.Logf("%s: spans %v; SQL %v", proto.name, slices.Sorted(func(yield func(string) bool) {
				for _, op := range byID {
					if !yield(op) {
						return
					}
				}
			}), sql)
		})
	}
}
