// /docs: the interactive reference over /openapi.json (vendored Swagger UI, see
// vendor/swagger-ui/SOURCE.json). "Try it out" calls this server with the key given under
// "Authorize"; the key stays in this page's memory.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
