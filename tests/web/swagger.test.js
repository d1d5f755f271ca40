// Issue 7, the API reference: /swagger-ui/ loads in headless chromium under its
// Content-Security-Policy, lists every operation of /openapi.json, fetches nothing from elsewhere,
// and "Authorize" takes an API key that "Try it out" then sends (GET /api/conversations answers
// 200 with the account's conversation).

import assert from "node:assert/strict";

import { webTest } from "./harness.js";

const METHODS = ["get", "put", "post", "delete", "patch"];

webTest("the Swagger UI lists the routes and Authorize takes an API key", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const key = srv.createKey(user.name);
    const made = await srv.api("POST", "/api/conversations", { key, json: { initial_user_msg: "Shown in Swagger UI" } });
    assert.equal(made.status, 200, made.text);
    const cid = made.json.conversation_id;

    const doc = await (await fetch(srv.url("/openapi.json"))).json();
    const documented = Object.entries(doc.paths)
        .flatMap(([p, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${p}`))
        .sort();

    const page = await t.page();
    const elsewhere = [];
    page.on("request", (r) => {
        if (!r.url().startsWith(srv.baseUrl) && !r.url().startsWith("data:")) elsewhere.push(r.url());
    });
    const response = await page.goto(srv.url("/swagger-ui/"));
    assert.equal(response.status(), 200);
    const csp = response.headers()["content-security-policy"] || "";
    assert.match(csp, /script-src 'self'/, `CSP: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `CSP: ${csp}`);

    // Every operation of the document is on the page, and nothing else.
    await page.locator(".opblock-summary-path").first().waitFor();
    const shown = (
        await page.locator(".opblock").evaluateAll((els) =>
            els.map((e) => `${e.querySelector(".opblock-summary-method")?.textContent} ${e.querySelector(".opblock-summary-path")?.getAttribute("data-path")}`),
        )
    ).sort();
    assert.deepEqual(shown, documented);
    for (const op of ["POST /api/conversations", "GET /api/conversations/{id}", "GET /api/conversations/{id}/events"]) {
        assert.ok(shown.includes(op), `${op} is listed`);
    }

    // Authorize with the API key (the bearer scheme).
    await page.locator(".auth-wrapper button.authorize").click();
    const bearer = page.locator(".modal-ux .auth-container").filter({ hasText: "http, Bearer" });
    await bearer.locator("input").fill(key);
    await bearer.locator("button.authorize").click();
    await bearer.locator("button", { hasText: "Logout" }).waitFor(); // its aria-label differs
    await page.locator(".modal-ux button.btn-done").first().click();

    // "Try it out" on GET /api/conversations sends it.
    const op = page.locator("#operations-conversations-listConversations");
    await op.locator(".opblock-summary").click();
    await op.getByRole("button", { name: "Try it out" }).click();
    await op.getByRole("button", { name: "Execute" }).click();
    const status = op.locator(".live-responses-table tr.response .response-col_status");
    await status.waitFor();
    assert.equal((await status.textContent()).trim(), "200");
    const body = await op.locator(".live-responses-table .response-col_description pre").first().textContent();
    assert.ok(body.includes(cid), `the answer lists the account's conversation: ${body.slice(0, 300)}`);

    assert.deepEqual(elsewhere, [], "the page fetches nothing from other origins");
    assert.deepEqual(t.consoleErrors, [], "no errors on the console");
});
