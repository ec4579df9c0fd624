// Renders this server's OpenAPI document. Everything is served by roster
// itself (no CDN), so the page works offline.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api-docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The bearer token stays in this page only: in localStorage it would
    // outlive the tab and be readable by any script of this origin.
    // "Authorize" again after a reload.
    persistAuthorization: false,
    displayRequestDuration: true,
    // The default would send the document to an online validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
