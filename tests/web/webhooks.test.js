// Issue 7, webhooks in the web UI: Settings › Webhooks, "Add webhook" with a URL and event
// checkboxes, the signing secret shown once (with the warning), a delivery that reaches a
// receiver in the test and shows under "Last deliveries", a refused URL's message, and deleting
// the webhook with the confirmation.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";

import { signIn, waitFor, webTest } from "./harness.js";

/** A receiver on 127.0.0.1 that records each POST (headers and exact body) and answers 200. */
async function receiver(t) {
    const got = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => {
            got.push({ headers: req.headers, body: Buffer.concat(chunks) });
            res.writeHead(200, { "Content-Type": "text/plain" });
            res.end("ok");
        });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.defer(() => new Promise((resolve) => server.close(resolve)));
    return { got, url: `http://127.0.0.1:${server.address().port}/hook` };
}

webTest("add a webhook, see its secret once and its deliveries, delete it", async (t) => {
    const rx = await receiver(t);
    const srv = await t.server({ args: ["--webhook-allow-private"], env: { CLOUDHANDS_WEBHOOK_RETRY_MS: "100" } });
    const user = srv.addUser();
    const key = srv.createKey(user.name);
    const page = await t.page();

    await signIn(page, srv, user);
    await page.goto(srv.url("/settings"));
    const section = page.locator("#webhooks");
    await section.getByRole("heading", { name: /webhooks/i }).waitFor();

    // A URL the server refuses: its message shows in the form.
    await section.getByTestId("add-webhook").click();
    await section.getByTestId("webhook-url").fill("https://example.com:99999/hook");
    await section.getByTestId("create-webhook").click();
    const formError = section.getByTestId("webhook-form-error");
    await formError.waitFor();
    assert.match(await formError.innerText(), /url/i);

    // The real one, for status changes only.
    await section.getByTestId("webhook-url").fill(rx.url);
    for (const box of await section.getByTestId("webhook-event").all()) {
        const event = await box.getAttribute("data-event");
        if ((await box.isChecked()) !== (event === "conversation.status")) await box.click();
    }
    await section.getByTestId("webhook-description").fill("from the browser");
    await section.getByTestId("create-webhook").click();

    const shown = section.getByTestId("webhook-secret");
    await shown.waitFor();
    const secret = await shown.inputValue();
    assert.match(secret, /^whsec_[0-9a-f]{64}$/);
    assert.match(await section.innerText(), /will not see it again/i);
    await section.getByRole("button", { name: /^done$/i }).click();
    await shown.waitFor({ state: "hidden" });
    assert.equal(await shown.inputValue(), "", "the secret is not kept in the page");

    const row = section.getByTestId("webhook-row");
    await row.waitFor();
    const text = await row.innerText();
    assert.ok(text.includes(rx.url) && text.includes("from the browser") && text.includes("conversation.status"), text);
    assert.ok(!(await page.content()).includes(secret), "the secret is gone from the page");

    // A status change (a queued conversation stopped) is delivered, signed with the secret.
    const made = await srv.api("POST", "/api/conversations", { key, json: { initial_user_msg: "never runs" } });
    assert.equal(made.status, 200, made.text);
    const stopped = await srv.api("POST", `/api/conversations/${made.json.conversation_id}/stop`, { key });
    assert.equal(stopped.status, 200, stopped.text);
    await waitFor(() => rx.got.length >= 1, { what: "the delivery" });
    const [req] = rx.got;
    const expected = "sha256=" + crypto.createHmac("sha256", secret).update(req.body).digest("hex");
    assert.equal(req.headers["x-cloudhands-signature"], expected);
    assert.equal(req.headers["x-cloudhands-event"], "conversation.status");

    // "Last deliveries" lists it as delivered.
    await page.reload();
    await row.waitFor();
    await row.getByTestId("webhook-deliveries").locator("summary").click();
    const delivery = row.getByTestId("delivery-row");
    await delivery.waitFor();
    assert.equal(await delivery.getAttribute("data-status"), "delivered");
    assert.equal(await delivery.getAttribute("data-delivery-id"), req.headers["x-cloudhands-delivery"]);

    // Delete, with the confirmation.
    await row.getByTestId("delete-webhook").click();
    await page.getByTestId("confirm").click();
    await row.waitFor({ state: "detached" });
    const listed = await srv.api("GET", "/api/webhooks", { key });
    assert.deepEqual(listed.json, { webhooks: [] });
});
