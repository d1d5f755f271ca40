// Issue 5, test 2: start a conversation from the form with the scripted LLM, open its page, watch
// the events arrive while it runs (no reload), send a follow-up in the box, see the agent's answer.

import assert from "node:assert/strict";

import { call, signIn, sleep, webTest } from "./harness.js";

webTest("start a conversation, watch it live, send a follow-up", async (t) => {
    const llm = await t.llm();
    const srv = await t.server({
        args: ["--runners", "1", "--no-change-timeout", "2", "--llm-model", "gpt-4o", "--llm-base-url", llm.baseUrl],
        env: { CLOUDHANDS_LLM_RETRY_MS: "20" },
    });
    const user = srv.addUser();
    const marker = `web-marker-${process.pid}`;
    const question = "Which greeting should the file use?";
    const answer = `Done: greeting.txt says hello (${process.pid}).`;
    // Slow model turns: the command's output is on the page while the model still "thinks"
    // about its next step, so the page must show it while the conversation is RUNNING.
    await llm.script([
        { content: "I will look around first.", tool_calls: [call("execute_bash", { command: `echo ${marker}-$((6*7))` })], delay: 1.5 },
        { content: question, delay: 2.5 },
        { tool_calls: [call("finish", { message: answer })], delay: 1.0 },
    ]);

    const page = await t.page();
    await signIn(page, srv, user);
    await page.goto(srv.url("/conversations"));
    // A full page load from here on would lose this flag: the page must update in place.
    await page.evaluate(() => {
        window.__noReload = true;
    });

    await page.getByTestId("task").fill("Write greeting.txt");
    await page.getByTestId("start").click();
    await page.waitForURL(/\/conversations\/[0-9a-f]{32}$/);
    const cid = new URL(page.url()).pathname.split("/").pop();

    // The page is up (the task is shown) before the model's first turn is answered...
    const events = page.getByTestId("event");
    const command = events.filter({ hasText: `echo ${marker}` });
    await events.filter({ hasText: "Write greeting.txt" }).first().waitFor();
    assert.equal(await command.count(), 0, "the command is not there yet when the page opens");

    // ...then the command and its output appear while the conversation runs, without a reload.
    await events.filter({ hasText: `echo ${marker}-$((6*7))` }).first().waitFor({ timeout: 15_000 });
    await events.filter({ hasText: `${marker}-42` }).first().waitFor();
    const status = page.getByTestId("status");
    const agentState = page.getByTestId("agent-state");
    const running = `${await status.innerText()} / ${await agentState.innerText()}`;
    assert.match(running, /running/i, `the page shows the conversation running while the output arrives: ${running}`);
    assert.equal(await page.getByTestId("live").getAttribute("data-mode"), "live", "following the event stream");
    assert.equal(await page.evaluate(() => window.__noReload), true, "no reload");
    // Each event is rendered once, with its id.
    const ids = await events.evaluateAll((els) => els.map((e) => e.dataset.eventId));
    assert.ok(ids.every((id) => /^\d+$/.test(id)), `data-event-id on every event: ${ids}`);
    assert.equal(new Set(ids).size, ids.length, `no event shown twice: ${ids}`);

    // The agent's question, then the conversation waits for the person.
    await events.filter({ hasText: question }).first().waitFor({ timeout: 15_000 });
    await agentState.filter({ hasText: /awaiting|input/i }).waitFor({ timeout: 15_000 });

    // The follow-up, from the box.
    const followUp = `Use hello, please (${process.pid})`;
    await page.getByTestId("followup").fill(followUp);
    await page.getByTestId("send").click();
    await events.filter({ hasText: followUp }).first().waitFor();
    await events.filter({ hasText: answer }).first().waitFor({ timeout: 15_000 });
    await agentState.filter({ hasText: /finished/i }).waitFor({ timeout: 15_000 });
    assert.equal(await page.evaluate(() => window.__noReload), true, "no reload");

    // What the page shows is what the API has, in order, each once.
    await sleep(200);
    const shown = await events.evaluateAll((els) => els.map((e) => Number(e.dataset.eventId)));
    assert.deepEqual(shown, [...shown].sort((a, b) => a - b), "events in order");
    assert.equal(new Set(shown).size, shown.length, "no event shown twice");
    const r = await page.request.get(srv.url(`/api/conversations/${cid}/events?limit=100`));
    assert.equal(r.status(), 200);
    const apiIds = (await r.json()).events.map((e) => e.id);
    for (const id of shown) assert.ok(apiIds.includes(id), `event ${id} shown but not in the API`);
    const reqs = await llm.requests();
    assert.equal(reqs.length, 3, "three model turns");
    const last = reqs[2].body.messages.at(-1);
    assert.deepEqual([last.role, last.content], ["user", followUp], "the follow-up from the box reached the model");
});
