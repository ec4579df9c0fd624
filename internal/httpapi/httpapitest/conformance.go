// Package httpapitest holds the test helpers that more than one package's
// tests share: the check of HTTP exchanges against api/openapi.yaml, which
// the handler's own tests and the edge Worker's integration test
// (cmd/roster-edge) both run on every exchange.
package httpapitest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/rosterhq/roster/api"
)

// The contract checks run on github.com/pb33f/libopenapi-validator rather
// than kin-openapi: it is built for OpenAPI 3.1 (JSON Schema 2020-12 for
// every schema, not only where a 3.1 document forces it), asserts the
// uuid, email and date-time formats on request (kin checks only
// date-time), finds the operation without a router to set up, and its
// messages name the field instead of dumping the whole schema. It passes
// an empty body where the document wants one; check adds that.

// undocumentedPath reports whether path belongs to a route that the
// document leaves out on purpose: Swagger UI (see TestRoutesMatchDocument).
func undocumentedPath(path string) bool {
	return path == "/swagger-ui" || strings.HasPrefix(path, "/swagger-ui/")
}

// Contract is api/openapi.yaml, parsed once per test binary.
type Contract struct {
	Model   *v3.Document
	v       validator.Validator
	Schemas schema_validation.SchemaValidator
}

// LoadContract parses api/openapi.yaml (once).
var LoadContract = sync.OnceValues(func() (*Contract, error) {
	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	return &Contract{
		Model:   &m.Model,
		v:       validator.NewValidatorFromV3Model(&m.Model, config.WithFormatAssertions()),
		Schemas: schema_validation.NewSchemaValidator(config.WithFormatAssertions()),
	}, nil
})

// Conformance returns a check of one exchange with the server against
// api/openapi.yaml; every mismatch is a t.Errorf naming the operation.
// Responses are always checked, including those to unknown routes and
// methods (404 or 405 with the error envelope). Requests are checked only
// when the server accepted them (status below 400), so that tests may
// send malformed requests on purpose: the server's rejection is then what
// the response check holds to the document.
//
// reqBody is the body req was sent with (the server has consumed it);
// compressed responses are decoded first.
func Conformance(t testing.TB) func(req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	c, err := LoadContract()
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	return func(req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) {
		t.Helper()
		op, problems := c.check(req, reqBody, rec)
		for _, p := range problems {
			t.Errorf("%s %s: answered %d, not as api/openapi.yaml has %s: %s",
				req.Method, req.URL.RequestURI(), rec.Code, op, p)
		}
	}
}

// check returns the operation the exchange matched (for messages) and its
// departures from the document.
func (c *Contract) check(req *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) (string, []string) {
	if undocumentedPath(req.URL.Path) {
		return "", nil
	}
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return "", nil // a CORS preflight: HTTP machinery, not an API operation
	}
	status := rec.Code
	body, header, err := decodedBody(rec)
	if err != nil {
		return "", []string{err.Error()}
	}
	body = ndjsonAsString(header.Get("Content-Type"), body)
	if decoded, err := decodedRequestBody(req.Header.Get("Content-Encoding"), reqBody); err == nil {
		reqBody = decoded // else the server refuses the body, and has to say so
	}
	// The server skips a byte order mark, which JSON parsers refuse.
	reqBody = ndjsonAsString(req.Header.Get("Content-Type"), bytes.TrimPrefix(reqBody, []byte("\ufeff")))
	// HEAD is GET without the body (net/http routes one to the other).
	head := req.Method == http.MethodHead
	method := req.Method
	if head {
		method = http.MethodGet
	}
	request := func() *http.Request {
		r := req.Clone(req.Context())
		r.Method = method
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.ContentLength = int64(len(reqBody))
		return r
	}
	response := func() *http.Response {
		b := body
		if head {
			b = nil
		}
		return &http.Response{
			StatusCode: status, Header: header.Clone(), Request: request(),
			Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)),
		}
	}

	pathItem, _, docPath := paths.FindPath(request(), c.Model, nil)
	var op *v3.Operation
	if pathItem != nil {
		op = operation(pathItem, method)
	}
	if op == nil {
		return "no such operation", c.checkUnmatched(status, header, body)
	}
	name := fmt.Sprintf("%s (%s %s)", op.OperationId, method, docPath)

	var problems []string
	if !head || status >= 400 {
		_, errs := c.v.ValidateHttpResponse(request(), response())
		problems = append(problems, Describe("response", errs)...)
	}
	if status < 400 {
		_, errs := c.v.ValidateHttpRequestSync(request())
		problems = append(problems, Describe("request", errs)...)
	}
	if def := op.Responses.Codes.GetOrZero(strconv.Itoa(status)); def != nil && !head {
		documented := def.Content != nil && def.Content.Len() > 0
		switch {
		case documented && len(body) == 0:
			problems = append(problems, "response: empty body; the document has one")
		case !documented && len(body) > 0:
			problems = append(problems, fmt.Sprintf("response: a body (%d bytes); the document has none", len(body)))
		}
	}
	return name, problems
}

// ndjsonAsString turns an NDJSON body, which the validator would take for
// one JSON document since its media type contains "json", into the JSON
// string the document's `type: string` schema describes.
func ndjsonAsString(contentType string, body []byte) []byte {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/x-ndjson" {
		return body
	}
	b, _ := json.Marshal(string(body))
	return b
}

// decodedRequestBody undoes a request's Content-Encoding, as the server does.
func decodedRequestBody(coding string, body []byte) ([]byte, error) {
	var r io.Reader
	switch coding {
	case "":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip request body: %w", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("zstd request body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return body, nil // refused by the server; nothing to check
	}
	return io.ReadAll(r)
}

// checkUnmatched holds an exchange for which the document has no
// operation to the promise of its info section: 404 (no such path) or 405
// (no such method, with Allow) in the error envelope.
func (c *Contract) checkUnmatched(status int, header http.Header, body []byte) []string {
	var problems []string
	switch status {
	case http.StatusNotFound:
	case http.StatusMethodNotAllowed:
		if header.Get("Allow") == "" {
			problems = append(problems, "405 without Allow")
		}
	default:
		return []string{fmt.Sprintf("the server answers %d; the document has no such operation (an undocumented route?)", status)}
	}
	if header.Get("X-Request-ID") == "" {
		problems = append(problems, "no X-Request-ID")
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	schemaName := map[string]string{"application/json": "Error", "application/problem+json": "Problem"}[mt]
	if schemaName == "" {
		return append(problems, fmt.Sprintf("Content-Type %q, want the error envelope", header.Get("Content-Type")))
	}
	schema := c.Model.Components.Schemas.GetOrZero(schemaName).Schema()
	if _, errs := c.Schemas.ValidateSchemaBytes(schema, body); len(errs) > 0 {
		problems = append(problems, Describe(schemaName, errs)...)
	}
	return problems
}

func operation(p *v3.PathItem, method string) *v3.Operation {
	switch method {
	case http.MethodGet:
		return p.Get
	case http.MethodPost:
		return p.Post
	case http.MethodPut:
		return p.Put
	case http.MethodPatch:
		return p.Patch
	case http.MethodDelete:
		return p.Delete
	case http.MethodOptions:
		return p.Options
	case http.MethodTrace:
		return p.Trace
	}
	return nil
}

// decodedBody returns the response body without its content coding, and
// the header to match (without Content-Encoding).
func decodedBody(rec *httptest.ResponseRecorder) ([]byte, http.Header, error) {
	header := rec.Header().Clone()
	raw := rec.Body.Bytes()
	var r io.Reader
	switch coding := header.Get("Content-Encoding"); coding {
	case "":
		return raw, header, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("gzip body: %w", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, nil, fmt.Errorf("unknown Content-Encoding %q", coding)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("decode %s body: %w", header.Get("Content-Encoding"), err)
	}
	header.Del("Content-Encoding")
	header.Del("Content-Length")
	return body, header, nil
}

// Describe renders validation errors as one line each.
func Describe(what string, errs []*liberrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		s := what + ": " + e.Message
		if e.Reason != "" && e.Reason != e.Message && len(e.SchemaValidationErrors) == 0 {
			s += " (" + e.Reason + ")"
		}
		for _, f := range e.SchemaValidationErrors {
			s += "; " + f.Reason
			if f.FieldPath != "" {
				s += " at " + f.FieldPath
			}
		}
		out = append(out, s)
	}
	return out
}
