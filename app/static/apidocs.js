// Starts Swagger UI on /apidocs/ (a file, not an inline script, so the page's CSP needs no 'unsafe-inline').
// BaseLayout, without the standalone preset: its top bar's logo is an SVG with a <style> element,
// which the CSP (rightly) blocks, and its spec-URL box has no use here.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    displayOperationId: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
  });
});
