package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestStatementName(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"-- name: GetUser :one\nSELECT id FROM users WHERE id = $1", "GetUser"},
		{"\n  -- name: AppendEvent :exec\nINSERT INTO events VALUES (?)", "AppendEvent"},
		{"BEGIN", "BEGIN"},
		{"commit", "COMMIT"},
		{"select 1\nfrom users", "SELECT"},
		{"select\nx", "SELECT"},
		{"-- a comment of someone else's\nSELECT 'secret'", "SQL"},
		{"   ", "SQL"},
	}
	for _, tt := range tests {
		if got := StatementName(tt.sql); got != tt.want {
			t.Errorf("StatementName(%q) got %q, want %q", tt.sql, got, tt.want)
		}
	}
}

func TestTraceParent(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sampled)
	const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := TraceParent(ctx); got != want {
		t.Errorf("TraceParent: got %q, want %q", got, want)
	}
	if got := ParseTraceParent(want); !got.Equal(sampled.WithRemote(true)) {
		t.Errorf("ParseTraceParent: got %v, want %v", got, sampled)
	}
	unsampled := trace.ContextWithSpanContext(context.Background(), sampled.WithTraceFlags(0))
	if got := TraceParent(unsampled); got != "" {
		t.Errorf("TraceParent of an unsampled span: got %q, want none", got)
	}
	if got := TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent without a span: got %q, want none", got)
	}
	for _, bad := range []string{"", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f35-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz"} {
		if got := ParseTraceParent(bad); got.IsValid() {
			t.Errorf("ParseTraceParent(%q): got valid %v, want invalid", bad, got)
		}
	}
}
