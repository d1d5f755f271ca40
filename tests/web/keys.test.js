// Issue 5, test 1: sign in, Settings › API Keys, "Generate new key" named "CI", read the key that
// is shown once (and copy it), use it from the test over HTTP, revoke it in the UI with the
// confirmation, and the same call is refused with 401.

import assert from "node:assert/strict";

import { KEY_FULL_RE, signIn, webTest } from "./harness.js";

webTest("sign in, generate a key named CI, use it, revoke it", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const context = await t.context();
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: srv.baseUrl });
    const page = await t.page({ context });

    await signIn(page, srv, user);
    await page.getByRole("link", { name: /settings/i }).first().click();
    await page.waitForURL(/\/settings$/);
    await assert.doesNotReject(
        page.getByRole("heading", { name: /api keys/i }).waitFor(),
        "Settings has an API Keys section",
    );

    // "Generate new key", named "CI".
    await page.getByRole("button", { name: /generate new key/i }).click();
    await page.getByLabel(/^name/i).fill("CI");
    await page.getByRole("button", { name: /create key/i }).click();

    // The key, shown once (in a read-only field), with the warning.
    const shown = page.getByTestId("new-key");
    await shown.waitFor();
    const key = await shown.inputValue();
    assert.match(key, KEY_FULL_RE);
    const body = await page.locator("body").innerText();
    assert.match(body, /(won't|will not|not be able to) see it again|shown only once|won't be shown again|will not be shown again/i);

    // Copy: the clipboard holds the key where headless chromium gives the page a clipboard.
    await page.getByRole("button", { name: /^copy/i }).click();
    const clip = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `unavailable: ${e.message}`);
    if (clip.startsWith("unavailable:")) t.note(`clipboard ${clip}`);
    else assert.equal(clip, key, "Copy puts the key on the clipboard");
    await page.getByText(/copied/i).first().waitFor();

    // The key works from outside the browser.
    const create = () => srv.api("POST", "/api/conversations", { key, json: { initial_user_msg: "Made with the CI key" } });
    const ok = await create();
    assert.equal(ok.status, 200, `with the new key: ${ok.status} ${ok.text}`);

    // "Done" closes the shown-once view: the key is gone from the page; the list has a row "CI".
    await page.getByRole("button", { name: /^done$/i }).click();
    await shown.waitFor({ state: "hidden" });
    assert.equal(await shown.inputValue(), "", "the key is not kept in the page");
    const row = page.getByTestId("key-row").filter({ has: page.getByRole("rowheader", { name: "CI", exact: true }) });
    await assert.doesNotReject(row.waitFor(), "the key list has a row named CI");

    // Revoke, with the confirmation: Cancel first keeps the key, then confirm.
    await row.getByTestId("revoke-key").click();
    await page.getByRole("dialog").getByRole("button", { name: /cancel/i }).click();
    assert.equal(await row.count(), 1, "Cancel keeps the key");
    assert.equal((await create()).status, 200, "the key still works after Cancel");
    await row.getByTestId("revoke-key").click();
    await page.getByTestId("confirm").click();
    await row.waitFor({ state: "detached" });

    const refused = await create();
    assert.equal(refused.status, 401, `after revoking: ${refused.status} ${refused.text}`);
    assert.equal(typeof refused.json?.error, "string");
});
