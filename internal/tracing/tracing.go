// Package tracing holds what roster's packages share to take part in an
// OpenTelemetry trace: starting a child span only under a recording one,
// and the log handler that stamps records with their span. It uses the
// OpenTelemetry API only; the SDK and its exporters are wired in by
// cmd/roster, so the domain and HTTP packages stay small and build for
// the edge (js/wasm).
package tracing

import (
	"context"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName names roster's instrumentation in every span it makes.
const ScopeName = "github.com/rosterhq/roster"

// Start starts a child span named name of the span in ctx, from that
// span's own provider, but only when that span is recording. Otherwise —
// tracing off, or the request not sampled — it returns ctx and a nil span
// and costs nothing: no allocation, no context. The parent-based sampler
// would drop the child anyway. End the span with End.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(ScopeName).Start(ctx, name,
		trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends span, nil when Start made none, marking it failed when err is
// not nil. status describes the failure; it should name a kind of error
// (a code), never carry the values of a request.
func End(span trace.Span, err error, status string) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, status)
	}
	span.End()
}

// StatementName names a span of the SQL statement sql: its sqlc name
// ("GetUser", from the "-- name: GetUser :one" line sqlc puts first),
// else its first word in upper case ("BEGIN"). Never the text, whose
// literals could be values. The name is a slice of sql (a first word in
// lower case aside), so naming costs no allocation.
func StatementName(sql string) string {
	sql = strings.TrimSpace(sql)
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			return name
		}
	}
	first, _, _ := strings.Cut(sql, " ")
	first, _, _ = strings.Cut(first, "\n")
	if first == "" || strings.HasPrefix(first, "--") {
		return "SQL"
	}
	return strings.ToUpper(first)
}

// TraceParent is the W3C traceparent of the span in ctx, for a store to
// keep with what the span wrote, so that the write can be linked to
// later; "" when the span is not sampled (no trace holds it) or there is
// none. It costs a context look-up when tracing is off.
func TraceParent(ctx context.Context) string {
	return TraceParentOf(trace.SpanContextFromContext(ctx))
}

// TraceParentOf is TraceParent of the span sc.
func TraceParentOf(sc trace.SpanContext) string {
	if !sc.IsSampled() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// ParseTraceParent is the span context of a traceparent TraceParent
// wrote, remote; it is not valid for "" or anything malformed.
func ParseTraceParent(s string) trace.SpanContext {
	version, rest, _ := strings.Cut(s, "-")
	tid, rest, _ := strings.Cut(rest, "-")
	sid, flags, _ := strings.Cut(rest, "-")
	if version != "00" || len(flags) != 2 {
		return trace.SpanContext{}
	}
	traceID, err1 := trace.TraceIDFromHex(tid)
	spanID, err2 := trace.SpanIDFromHex(sid)
	f, err3 := hex.DecodeString(flags)
	if err1 != nil || err2 != nil || err3 != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.TraceFlags(f[0]), Remote: true})
}
