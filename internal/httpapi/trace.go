package httpapi

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// traceContext reads and writes W3C traceparent/tracestate headers.
var traceContext propagation.TraceContext

// traced starts the server span of each request. Its name is the route
// pattern ("GET /api/users/{id}"), known only once the mux has matched,
// so it is set at the end; never the raw path, which holds ids. Without
// a tracer provider it is not in the chain at all.
//
// A caller's traceparent makes the span its child when trustParent is
// set; otherwise the span starts a trace of its own, linked to the
// caller's, so that an outside caller can neither join roster's traces
// nor force sampling. Either way the response's traceresponse header
// (W3C Trace Context Level 2) names roster's span, for a client to find
// its request in the backend.
func (s *Server) traced(next http.Handler) http.Handler {
	if s.tracer == nil {
		return next
	}
	tracer := s.tracer.Tracer(tracing.ScopeName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		opts := make([]trace.SpanStartOption, 1, 2)
		opts[0] = trace.WithSpanKind(trace.SpanKindServer)
		if r.Header.Get("Traceparent") != "" {
			remote := traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
			if rsc := trace.SpanContextFromContext(remote); rsc.IsValid() {
				if s.trustParent {
					ctx = remote
				} else {
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: rsc}))
				}
			}
		}
		ctx, span := tracer.Start(ctx, r.Method, opts...)
		recording := span.IsRecording()
		if recording {
			// Only for spans that are kept: an unsampled request costs
			// the sampler's decision and the traceresponse, no more.
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			span.SetAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("url.scheme", scheme),
				attribute.String("network.protocol.version", protocolVersion(r)),
				attribute.String("user_agent.original", r.UserAgent()),
				attribute.String("roster.request_id", requestIDFrom(ctx)),
			)
		}
		if sc := span.SpanContext(); sc.IsValid() {
			w.Header().Set("Traceresponse", traceResponse(sc))
		}
		next.ServeHTTP(w, r.WithContext(ctx))
		if !recording {
			span.End()
			return
		}

		ri := info(ctx)
		if ri.pattern != "" {
			// "GET /{$}" is the exact path "/".
			pattern := strings.TrimSuffix(ri.pattern, "{$}")
			span.SetName(pattern)
			if _, route, ok := strings.Cut(pattern, " "); ok {
				span.SetAttributes(attribute.String("http.route", route))
			}
		}
		span.SetAttributes(attribute.Int("http.response.status_code", ri.status))
		if ri.subject != "" {
			// The token's subject, a user id: never the token or an email.
			span.SetAttributes(attribute.String("user.id", ri.subject))
		}
		// Semantic conventions for servers: a 4xx is the client's
		// mistake, not a failure of the server, and leaves the status
		// unset.
		if ri.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(ri.status))
		}
		span.End()
	})
}

// traceResponse formats sc as a traceresponse header value, the same
// syntax as traceparent.
func traceResponse(sc trace.SpanContext) string {
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}

func protocolVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	if r.ProtoMinor == 0 {
		return "1.0"
	}
	return "1.1"
}
