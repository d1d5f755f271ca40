// Issue 5, test 3: a wrong password, an expired session and a request without the CSRF token are
// each refused with a clear message.

import assert from "node:assert/strict";

import { CSRF_MESSAGE, WRONG_PASSWORD_MESSAGE, pageFetch, signIn, sleep, webTest } from "./harness.js";

/** Submits the sign-in form; resolves with the HTTP status of POST /api/auth/login. */
async function submitSignIn(page, name, password) {
    await page.getByLabel(/account name/i).fill(name);
    await page.getByLabel(/password/i).fill(password);
    const [response] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === "/api/auth/login"),
        page.getByRole("button", { name: /sign in/i }).click(),
    ]);
    await page.getByRole("button", { name: /^sign in$/i }).waitFor(); // the form is ready again
    return response.status();
}

webTest("a wrong password is refused with a clear message, and repeated failures lock", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const page = await t.page();
    await page.goto(srv.url("/login"));
    const error = page.getByTestId("login-error");

    assert.equal(await submitSignIn(page, user.name, user.password + "-wrong"), 401);
    assert.equal((await error.innerText()).trim(), WRONG_PASSWORD_MESSAGE);
    assert.match(new URL(page.url()).pathname, /^\/login/, "still on the sign-in page");
    // An unknown account gets the very same message (nothing tells which part was wrong).
    await page.reload();
    assert.equal(await submitSignIn(page, user.name + "-nobody", "whatever-it-is"), 401);
    assert.equal((await error.innerText()).trim(), WRONG_PASSWORD_MESSAGE);
    // The API says the same, as a 401.
    const r = await srv.api("POST", "/api/auth/login", { json: { username: user.name, password: "nope" } });
    assert.equal(r.status, 401, r.text);
    assert.deepEqual(r.json, { error: WRONG_PASSWORD_MESSAGE });

    // Repeated failures lock the account for a while: then even the right password is refused,
    // with a message that says so and when to try again.
    let status = 401;
    for (let i = 0; i < 8 && status === 401; i++) status = await submitSignIn(page, user.name, `wrong-${i}`);
    assert.equal(status, 429, "the account locks after repeated failures");
    assert.equal(await submitSignIn(page, user.name, user.password), 429, "locked: the right password too");
    assert.match(await error.innerText(), /too many failed sign-ins.*try again in \d+ seconds/i);
    assert.match(new URL(page.url()).pathname, /^\/login/, "still on the sign-in page");
});

webTest("an expired session sends the person back to sign in, saying so", async (t) => {
    const srv = await t.server({ args: ["--session-ttl", "2"] });
    const user = srv.addUser();
    const page = await t.page();
    await signIn(page, srv, user);
    const before = await pageFetch(page, "/api/auth/session");
    assert.equal(before.status, 200, before.text);
    await sleep(3000);

    // What the server answers the page now, and whether the browser still sends the cookie.
    const r = await pageFetch(page, "/api/auth/session");
    const hasCookie = (await page.context().cookies()).some((c) => c.name === "cloudhands_session");
    const why =
        `GET /api/auth/session answers ${r.status} ${r.text}; the browser ${hasCookie ? "still sends" : "no longer has"} ` +
        "the session cookie" +
        (hasCookie ? "" : " (a cookie whose Max-Age is the session's lifetime is dropped by the browser when the " +
            "session ends, and then the server cannot tell an expired session from no session)");

    // Acting in the UI (opening Settings) lands on the sign-in page with a message that says the
    // session expired, and signing in again goes back to where the person was.
    await page.getByRole("link", { name: /settings/i }).first().click();
    await page.waitForURL((u) => u.pathname.startsWith("/login"));
    const error = page.getByTestId("login-error");
    try {
        await error.filter({ hasText: /expired/i }).waitFor({ timeout: 3000 });
    } catch {
        assert.fail(`the sign-in page says the session expired; it shows ${JSON.stringify(await error.innerText())}; ${why}`);
    }
    // The API refuses the stale cookie with that message too.
    assert.equal(r.status, 401, why);
    assert.match(r.json?.error ?? "", /expired/i, why);

    await page.getByLabel(/account name/i).fill(user.name);
    await page.getByLabel(/password/i).fill(user.password);
    await page.getByRole("button", { name: /sign in/i }).click();
    await page.waitForURL(/\/settings$/);
    await page.getByRole("heading", { name: /api keys/i }).waitFor();
});

webTest("a state-changing request without the CSRF token is refused", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const page = await t.page();
    await signIn(page, srv, user);

    // The cookie alone (fetch from the page, no X-CSRF-Token): 403 with the message.
    const body = { initial_user_msg: "No CSRF token" };
    const noToken = await pageFetch(page, "/api/conversations", { method: "POST", json: body });
    assert.equal(noToken.status, 403, noToken.text);
    assert.equal(noToken.json?.detail, CSRF_MESSAGE);
    const wrong = await pageFetch(page, "/api/conversations", {
        method: "POST",
        json: body,
        headers: { "X-CSRF-Token": "0".repeat(64) },
    });
    assert.equal(wrong.status, 403, wrong.text);
    assert.equal(wrong.json?.detail, CSRF_MESSAGE);
    const key = await pageFetch(page, "/api/keys", { method: "POST", json: { name: "x" } });
    assert.equal(key.status, 403, `POST /api/keys without the token: ${key.status} ${key.text}`);
    // The same through Playwright's request context (cookie jar of the browser, no header).
    const pr = await page.request.post(srv.url("/api/conversations"), { data: body });
    assert.equal(pr.status(), 403, await pr.text());
    assert.equal((await pr.json()).detail, CSRF_MESSAGE);

    // With the session's token the same request works: the token was what was missing.
    const session = await pageFetch(page, "/api/auth/session");
    assert.equal(session.status, 200, session.text);
    const token = session.json.csrf_token;
    assert.ok(token, `GET /api/auth/session gives the CSRF token: ${session.text}`);
    const withToken = await pageFetch(page, "/api/conversations", {
        method: "POST",
        json: body,
        headers: { "X-CSRF-Token": token },
    });
    assert.equal(withToken.status, 200, withToken.text);
    // Nothing was created by the refused requests: the list holds exactly the one.
    const list = await pageFetch(page, "/api/conversations");
    assert.equal(list.json.results.length, 1, list.text);
    const keys = await pageFetch(page, "/api/keys");
    assert.equal(keys.status, 200, keys.text);
    assert.ok(!JSON.stringify(keys.json).includes('"x"'), `no key was made without the token: ${keys.text}`);

    // Signing out is state-changing too: refused without the token, the session still works.
    const out = await pageFetch(page, "/api/auth/logout", { method: "POST", json: {} });
    assert.equal(out.status, 403, `POST /api/auth/logout without the token: ${out.status} ${out.text}`);
    assert.equal((await pageFetch(page, "/api/auth/session")).status, 200, "still signed in");
    // The "Sign out" button sends it, and the session ends on the server.
    await page.getByRole("button", { name: /sign out/i }).click();
    await page.waitForURL((u) => u.pathname.startsWith("/login"));
    const after = await pageFetch(page, "/api/auth/session");
    assert.equal(after.status, 401, after.text);
});
