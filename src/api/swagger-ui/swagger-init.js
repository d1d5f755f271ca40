// The API reference page's own script (/swagger-ui/swagger-init.js): starts Swagger UI on
// /openapi.json. "Authorize" takes an API key (the document's `apiKey` bearer scheme); it is
// kept in the page's memory only. The public validator badge is off: nothing leaves this server.
window.addEventListener("load", () => {
    window.ui = window.SwaggerUIBundle({
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        persistAuthorization: false,
        displayRequestDuration: true,
        presets: [window.SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
    });
});
