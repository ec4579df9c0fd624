package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/roster"
)

// Codes that only the HTTP layer produces.
const (
	codeMethodNotAllowed     roster.Code = "METHOD_NOT_ALLOWED"
	codePayloadTooLarge      roster.Code = "PAYLOAD_TOO_LARGE"
	codeUnsupportedMediaType roster.Code = "UNSUPPORTED_MEDIA_TYPE"
	codeTooManyStreams       roster.Code = "TOO_MANY_STREAMS"
	codeRequestTimeout       roster.Code = "REQUEST_TIMEOUT"
	// codeNotImplemented: a route this build does not serve
	// (Config.NotImplemented: the edge build's feed, import and export).
	codeNotImplemented roster.Code = "NOT_IMPLEMENTED"
)

// bearerChallenge is the WWW-Authenticate of every 401; requireAuth adds
// the error when a token was refused.
const bearerChallenge = `Bearer realm="roster"` // #nosec G101 -- the scheme and realm of a challenge, no credential

var errMethodNotAllowed = roster.Errorf(codeMethodNotAllowed, "Method not allowed")

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[roster.Code]int{
	roster.CodeBadRequest:        http.StatusBadRequest,
	roster.CodeInvalid:           http.StatusUnprocessableEntity,
	roster.CodeNotFound:          http.StatusNotFound,
	roster.CodeConflict:          http.StatusConflict,
	roster.CodeUnauthorized:      http.StatusUnauthorized,
	roster.CodeForbidden:         http.StatusForbidden,
	roster.CodeUnavailable:       http.StatusServiceUnavailable,
	roster.CodeInternal:          http.StatusInternalServerError,
	codeMethodNotAllowed:         http.StatusMethodNotAllowed,
	codePayloadTooLarge:          http.StatusRequestEntityTooLarge,
	codeRequestTimeout:           http.StatusRequestTimeout,
	codeUnsupportedMediaType:     http.StatusUnsupportedMediaType,
	codeRateLimited:              http.StatusTooManyRequests,
	codeTooManyStreams:           http.StatusTooManyRequests,
	codeOverloaded:               http.StatusServiceUnavailable,
	codeTimeout:                  http.StatusServiceUnavailable,
	roster.CodePrecondition:      http.StatusPreconditionFailed,
	roster.CodeIdempotencyReused: http.StatusUnprocessableEntity,
	codeNotImplemented:           http.StatusNotImplemented,
}

// errorBody is the envelope of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    roster.Code         `json:"code"`
	Message string              `json:"message"`
	Details []roster.FieldError `json:"details,omitempty"`
}

// statusClientClosed is logged when the client went away before the
// answer (nginx's convention); the client never sees it.
const statusClientClosed = 499

// error writes err as the error envelope. Errors that are not *roster.Error
// are internal: the client gets a generic message and the cause goes to the
// log with the request id.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	var e *roster.Error
	switch {
	case errors.As(err, &e):
	case errors.Is(context.Cause(r.Context()), errRequestTimeout):
		s.metrics.Count(TimedOut)
		s.log.WarnContext(r.Context(), "request timeout", "request_id", requestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", "1")
		e = roster.Errorf(codeTimeout, "The request took too long and was cancelled")
	case errors.Is(r.Context().Err(), context.Canceled):
		s.log.InfoContext(r.Context(), "client gone", "request_id", requestIDFrom(r.Context()), "err", err)
		w.WriteHeader(statusClientClosed)
		return
	case errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "deadline exceeded", "request_id", requestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", "1")
		e = roster.Errorf(roster.CodeUnavailable, "The service is busy; try again shortly")
	default:
		s.log.ErrorContext(r.Context(), "internal error", "request_id", requestIDFrom(r.Context()), "err", err)
		e = roster.Errorf(roster.CodeInternal, "An unexpected error occurred")
	}
	// The code, as the client sees it, names the failure in the trace
	// (semantic conventions' error.type); the cause stays in the log.
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(attribute.String("error.type", string(e.Code)))
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", bearerChallenge)
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 is worth retrying (a database outage among them);
		// say when, so that clients back off instead of hammering.
		w.Header().Set("Retry-After", "1")
	}
	if wantsProblem(r) {
		writeProblem(w, r, status, e)
		return
	}
	encode(w, status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Details: e.Details}})
}

// problem is an RFC 9457 problem details object, for clients that ask for
// application/problem+json; code and errors carry what the envelope has.
type problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance"`
	Code     roster.Code         `json:"code"`
	Errors   []roster.FieldError `json:"errors,omitempty"`
}

// problemTypeBase prefixes problem types, one per error code
// ("urn:roster:problem:not-found"); the README's error table explains them.
const problemTypeBase = "urn:roster:problem:"

func writeProblem(w http.ResponseWriter, r *http.Request, status int, e *roster.Error) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:     problemTypeBase + strings.ToLower(strings.ReplaceAll(string(e.Code), "_", "-")),
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   e.Message,
		Instance: r.URL.Path,
		Code:     e.Code,
		Errors:   e.Details,
	})
}

// wantsProblem reports whether the Accept header asks for problem details
// (with a q above zero) rather than the default envelope.
func wantsProblem(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/problem+json") {
			continue
		}
		q := strings.TrimSpace(params)
		return !strings.HasPrefix(q, "q=0") || strings.HasPrefix(q, "q=0.") && strings.TrimRight(q[4:], "0") != ""
	}
	return false
}
