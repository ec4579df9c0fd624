package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// cliSpan is the span of a command that calls a server (import, export),
// when the same OTEL_* variables that switch serve's tracing on are set
// in the command's environment: the request then carries the span in a
// W3C traceparent, and serve, trusting it (--trust-traceparent), makes
// its request span a child, so that an import is one trace from the
// client to the database. With --db the service runs in this process,
// under the same span. Without the variables the span is nil and every
// method does nothing: the request goes out as before.
type cliSpan struct {
	span     trace.Span
	shutdown func(context.Context) error
	warn     io.Writer // where a failed flush is reported
}

// startCLISpan starts the span named name, of kind client (it calls a
// server) or, with --db, internal. An invalid OTEL_* value is a usage
// error, as it is for serve.
func startCLISpan(ctx context.Context, env environment, name string, direct bool) (context.Context, *cliSpan, error) {
	c, err := tracingFromEnv(env.getenv, "roster-cli", true)
	if err != nil {
		return ctx, nil, err
	}
	tp, shutdown, err := startTracing(ctx, c)
	if err != nil || tp == nil {
		return ctx, &cliSpan{}, err
	}
	kind := trace.SpanKindClient
	if direct {
		kind = trace.SpanKindInternal
	}
	ctx, span := tp.Tracer(tracing.ScopeName).Start(ctx, name, trace.WithSpanKind(kind))
	return ctx, &cliSpan{span: span, shutdown: shutdown, warn: env.stderr}, nil
}

// traceContext writes the W3C traceparent and tracestate headers. It is
// named here rather than taken from otel's global propagator, which no
// one sets: the header serve reads is this one.
var traceContext propagation.TraceContext

// request adds the span's traceparent to req, and what the request is
// to the span: its method and URL, without the query, whose filters may
// name a user.
func (s *cliSpan) request(req *http.Request) {
	if s.span == nil {
		return
	}
	traceContext.Inject(trace.ContextWithSpan(req.Context(), s.span), propagation.HeaderCarrier(req.Header))
	u := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
	s.span.SetAttributes(
		attribute.String("http.request.method", req.Method),
		attribute.String("url.full", u.String()),
		attribute.String("server.address", req.URL.Hostname()),
	)
}

// on reports whether the command is traced.
func (s *cliSpan) on() bool { return s.span != nil }

// response records the server's answer.
func (s *cliSpan) response(res *http.Response) {
	if s.span == nil {
		return
	}
	s.span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
}

// end ends the span, failed when err is not nil, and sends it to the
// collector within tracingFlushTimeout: a collector that is down costs
// the span and a warning, not the command's result.
func (s *cliSpan) end(err error) {
	if s == nil || s.span == nil {
		return
	}
	if err != nil {
		// A kind of failure, not the message: it may quote a row.
		s.span.SetStatus(codes.Error, "command failed")
	}
	s.span.End()
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	if ferr := s.shutdown(ctx); ferr != nil {
		fmt.Fprintf(s.warn, "tracing: %v\n", ferr)
	}
}
