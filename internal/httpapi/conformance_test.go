//go:build !fuzzing

package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/apidocs"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/httpapi/httpapitest"
)

// conformance checks each exchange against api/openapi.yaml (see
// httpapitest.Conformance, shared with the edge Worker's test).
var conformance = httpapitest.Conformance

// undocumentedRoutes are the registered routes that api/openapi.yaml
// leaves out on purpose: Swagger UI's page and assets serve the document's
// viewer, not the API, and their paths are an implementation detail.
var undocumentedRoutes = []string{
	"GET /swagger-ui",
	"GET /swagger-ui/{path...}",
}

// TestRoutesMatchDocument holds routes.go and api/openapi.yaml to the same
// set of operations.
func TestRoutesMatchDocument(t *testing.T) {
	c, err := httpapitest.LoadContract()
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	var documented []string
	for path, item := range c.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routes := httpapi.NewServer(httpapi.Config{Docs: apidocs.Routes()}).Routes()
	for _, r := range undocumentedRoutes {
		if !slices.Contains(routes, r) {
			t.Errorf("undocumentedRoutes lists %q, which is not registered any more", r)
		}
	}
	for _, r := range routes {
		if !slices.Contains(documented, r) && !slices.Contains(undocumentedRoutes, r) {
			t.Errorf("route %q is registered but not in api/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("api/openapi.yaml has %q, which is not registered", d)
		}
	}
}

// TestDocumentIsValid checks api/openapi.yaml against the OpenAPI 3.1
// schema.
func TestDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("got OpenAPI version %q, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, p := range httpapitest.Describe("document", errs) {
			t.Error(p)
		}
	}
}

// TestDocumentExamples checks that every example of a body or a header
// in api/openapi.yaml is valid for its schema: Swagger UI shows them as
// what the API does.
func TestDocumentExamples(t *testing.T) {
	c, err := httpapitest.LoadContract()
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	checked := 0
	check := func(where string, schema *base.SchemaProxy, example any) {
		t.Helper()
		checked++
		if _, errs := c.Schemas.ValidateSchemaObject(schema.Schema(), example); len(errs) > 0 {
			t.Errorf("%s: example does not match its schema: %v", where, httpapitest.Describe("example", errs))
		}
	}
	examples := func(where string, schema *base.SchemaProxy, one *yaml.Node, named *orderedmap.Map[string, *base.Example]) {
		t.Helper()
		if one != nil {
			check(where, schema, decodeExample(t, where, one))
		}
		if named != nil {
			for name, ex := range named.FromOldest() {
				check(where+" example "+name, schema, decodeExample(t, where, ex.Value))
			}
		}
	}
	content := func(where string, content *orderedmap.Map[string, *v3.MediaType]) {
		t.Helper()
		if content == nil {
			return
		}
		for mt, m := range content.FromOldest() {
			if m.Schema != nil {
				examples(where+" "+mt, m.Schema, m.Example, m.Examples)
			}
		}
	}
	response := func(where string, r *v3.Response) {
		t.Helper()
		content(where, r.Content)
		if r.Headers == nil {
			return
		}
		for name, h := range r.Headers.FromOldest() {
			examples(where+" header "+name, h.Schema, h.Example, h.Examples)
		}
	}
	for path, item := range c.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			for _, p := range slices.Concat(item.Parameters, op.Parameters) {
				examples(where+" parameter "+p.Name, p.Schema, p.Example, p.Examples)
			}
			if op.RequestBody != nil {
				content(where+" request", op.RequestBody.Content)
			}
			for code, r := range op.Responses.Codes.FromOldest() {
				response(where+" "+code, r)
			}
		}
	}
	for name, r := range c.Model.Components.Responses.FromOldest() {
		response("components.responses."+name, r)
	}
	if checked < 50 {
		t.Errorf("checked %d examples; the walk is missing some", checked)
	}
}

// decodeExample turns an example as written in the document into the
// value a JSON client would see.
func decodeExample(t *testing.T, where string, n *yaml.Node) any {
	t.Helper()
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatalf("%s: decode example: %v", where, err)
	}
	return v
}
