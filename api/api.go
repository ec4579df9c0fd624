// Package api holds roster's API description, api/openapi.yaml, and the
// Swagger UI that renders it, both embedded in the binary.
package api

import (
	"embed"
	"io/fs"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed swagger-ui/index.html swagger-ui/index.css swagger-ui/swagger-initializer.js
//go:embed swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css swagger-ui/favicon-32x32.png
//go:embed swagger-ui/LICENSE swagger-ui/NOTICE swagger-ui/swagger-ui-bundle.js.LICENSE.txt
var swaggerUI embed.FS

// OpenAPI returns the OpenAPI 3.1 document as written, in YAML. It is the
// single source of truth of the HTTP API; the caller gets its own copy.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// SwaggerUI returns the Swagger UI page (index.html) and its assets, at
// the root of the file system.
func SwaggerUI() fs.FS {
	sub, err := fs.Sub(swaggerUI, "swagger-ui")
	if err != nil {
		panic(err) // "swagger-ui" is a valid path: fs.Sub cannot fail
	}
	return sub
}
