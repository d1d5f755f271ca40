// Issue 5, test 5: the pages work at phone width (360×740): no horizontal scrolling.

import assert from "node:assert/strict";

import { horizontalOverflow, signIn, webTest } from "./harness.js";

async function assertFits(page, what) {
    const o = await horizontalOverflow(page);
    // With isMobile, a page without <meta name="viewport"> is laid out 980 px wide and zoomed out.
    assert.equal(o.innerWidth, 360, `${what}: laid out at the phone's width (a viewport meta tag)`);
    assert.ok(
        o.scrollWidth <= o.innerWidth + 1,
        `${what}: scrollWidth ${o.scrollWidth} > innerWidth ${o.innerWidth}; too wide: ${o.widest.join(", ")}`,
    );
}

webTest("the conversations page fits a phone screen", async (t) => {
    const srv = await t.server();
    const user = srv.addUser();
    const key = srv.createKey(user.name);
    // Conversations with long titles, one a single unbroken word.
    await srv.createConversation(key, "Fix the README so that it explains how to install and run the server on a phone");
    const cid = await srv.createConversation(key, "x".repeat(300));
    const page = await t.page({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });

    await page.goto(srv.url("/login"));
    await assertFits(page, "/login");
    await signIn(page, srv, user);

    await page.goto(srv.url("/conversations"));
    await page.getByTestId("task").waitFor();
    await page.getByText("Fix the README").first().waitFor();
    await assertFits(page, "/conversations");
    // The form's controls are within the screen and usable.
    const start = await page.getByTestId("start").boundingBox();
    assert.ok(start && start.x >= 0 && start.x + start.width <= 361, `the start button is on screen: ${JSON.stringify(start)}`);

    await page.goto(srv.url(`/conversations/${cid}`));
    await page.getByTestId("event").first().waitFor();
    await assertFits(page, `/conversations/${cid}`);

    await page.goto(srv.url("/settings"));
    await page.getByRole("button", { name: /generate new key/i }).waitFor();
    await assertFits(page, "/settings");

    // The final screenshot: the list, at phone width.
    await page.goto(srv.url("/conversations"));
    await page.getByText("Fix the README").first().waitFor();
    await assertFits(page, "/conversations (again)");
});
