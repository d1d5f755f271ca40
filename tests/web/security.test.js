// Issue 5, test 4 (the Security section): user-provided text is escaped when rendered, the
// HTML carries a Content-Security-Policy without 'unsafe-inline', and one account's session never
// reads another account's conversation.

import assert from "node:assert/strict";

import { pageFetch, signIn, webTest } from "./harness.js";

const XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>";

function assertCsp(response, what) {
    const csp = response.headers()["content-security-policy"];
    assert.ok(csp, `${what}: a Content-Security-Policy header (headers: ${JSON.stringify(response.headers())})`);
    assert.ok(!/unsafe-inline/i.test(csp), `${what}: no 'unsafe-inline' in ${csp}`);
    assert.ok(!/unsafe-eval/i.test(csp), `${what}: no 'unsafe-eval' in ${csp}`);
    assert.match(csp, /(script-src|default-src)[^;]*'self'/, `${what}: scripts from the server itself: ${csp}`);
    return csp;
}

webTest("a task with markup shows as text, under a strict CSP", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const page = await t.page();
    const dialogs = [];
    page.on("dialog", async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
    });

    const login = await page.goto(srv.url("/login"));
    assertCsp(login, "/login");
    await signIn(page, srv, user);

    // The task, through the form (no runner: it stays queued, its page shows the task).
    await page.goto(srv.url("/conversations"));
    await page.getByTestId("task").fill(XSS);
    await page.getByTestId("start").click();
    await page.waitForURL(/\/conversations\/[0-9a-f]{32}$/);
    const cid = new URL(page.url()).pathname.split("/").pop();
    await page.getByText(XSS).first().waitFor();

    // The settings page has the CSP too, and the scripts are served as JavaScript (nosniff).
    const settings = await page.request.get(srv.url("/settings"));
    assertCsp(settings, "/settings");
    const app = await page.request.get(srv.url("/assets/app.js"));
    assert.match(app.headers()["content-type"] ?? "", /^(text|application)\/javascript/);
    assert.equal(app.headers()["x-content-type-options"], "nosniff");

    // A full load of the list, and of the conversation's page: the text, no markup, no dialog.
    for (const p of ["/conversations", `/conversations/${cid}`]) {
        const res = await page.goto(srv.url(p));
        t.note(`${p}: Content-Security-Policy: ${assertCsp(res, p)}`);
        assert.match(res.headers()["content-type"] ?? "", /^text\/html/);
        await page.getByText(XSS).first().waitFor();
        assert.equal(await page.locator('img[src="x"]').count(), 0, `${p}: no <img> from the task`);
        const scripts = await page.locator("script").evaluateAll((els) => els.map((e) => e.src || e.textContent));
        assert.ok(scripts.every((s) => !s.includes("alert(")), `${p}: no <script> from the task: ${scripts}`);
    }
    await page.getByTestId("title").waitFor();
    await page.waitForTimeout(300); // an onerror handler would have fired by now
    assert.deepEqual(dialogs, [], "no dialog opened");
});

webTest("one account's session cannot read another account's conversation", async (t) => {
    const srv = await t.server();
    const alice = srv.addUser();
    const bob = srv.addUser();
    const aliceKey = srv.createKey(alice.name);
    const secret = `Alice's private task ${process.pid}`;
    const cid = await srv.createConversation(aliceKey, secret);

    // Alice sees it on her page...
    const alicePage = await t.page();
    await signIn(alicePage, srv, alice, { path: `/conversations/${cid}` });
    await alicePage.waitForURL(new RegExp(`/conversations/${cid}$`));
    await alicePage.getByText(secret).first().waitFor();

    // ...Bob's session does not: not through the API, not on the page, not in his list.
    const page = await t.page();
    await signIn(page, srv, bob);
    const one = await pageFetch(page, `/api/conversations/${cid}`);
    assert.ok(one.status === 404 || (one.status === 200 && one.json === null), `GET as Bob: ${one.status} ${one.text}`);
    const evs = await pageFetch(page, `/api/conversations/${cid}/events`);
    assert.ok(
        evs.status === 404 || (evs.status === 200 && (evs.json === null || evs.json.events?.length === 0)),
        `events as Bob: ${evs.status} ${evs.text}`,
    );
    assert.ok(!evs.text.includes(secret), "events as Bob show Alice's task");
    const batch = await pageFetch(page, `/api/conversations?ids=${cid}`);
    assert.ok(!batch.text.includes(secret), `batch GET as Bob: ${batch.text}`);
    const list = await pageFetch(page, "/api/conversations");
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.results, [], "Bob's list is empty");
    const token = (await pageFetch(page, "/api/auth/session")).json.csrf_token;
    const stop = await pageFetch(page, `/api/conversations/${cid}/stop`, { method: "POST", headers: { "X-CSRF-Token": token } });
    assert.ok(stop.status === 404, `stop as Bob: ${stop.status} ${stop.text}`);
    const remove = await pageFetch(page, `/api/conversations/${cid}`, { method: "DELETE", headers: { "X-CSRF-Token": token } });
    assert.ok(remove.status === 404 || (remove.status === 200 && remove.json === false), `delete as Bob: ${remove.status} ${remove.text}`);

    await page.goto(srv.url("/conversations"));
    await page.waitForLoadState("networkidle");
    assert.ok(!(await page.locator("body").innerText()).includes(secret), "Bob's list shows Alice's task");
    await page.goto(srv.url(`/conversations/${cid}`));
    await assert.doesNotReject(page.getByText(/not found/i).first().waitFor(), "Bob's page says not found");
    assert.ok(!(await page.locator("body").innerText()).includes(secret), "Bob's page shows Alice's task");

    // Alice's conversation is still there.
    const r = await srv.api("GET", `/api/conversations/${cid}`, { key: aliceKey });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.conversation_id, cid);
});
