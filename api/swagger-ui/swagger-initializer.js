// Renders this server's OpenAPI document. Everything is served by roster
// itself (no CDN), so the page works offline.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api-docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Keep the bearer token across reloads (in this browser's
    // localStorage), so that "Authorize" is needed once per browser.
    persistAuthorization: true,
    displayRequestDuration: true,
    // The default would send the document to an online validator.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
