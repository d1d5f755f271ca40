// The browser-test harness of cloudhands' web UI: node:test + node:assert + playwright-core
// driving Debian's chromium headless, against the real binary.
//
// Like tests/api/conftest.py: every server runs the real binary ($CLOUDHANDS_BIN, default
// build/cloudhands) on a free port with a fresh data directory, `--runners 0` unless a test
// says otherwise, its stdout and stderr in files; stopping it sends SIGTERM, waits for the exit
// and fails on a sanitizer report in its stderr (the CLI's too). The scripted LLM
// (tests/fixtures/scripted_llm.py) is spawned with a pipe on stdin and --exit-on-stdin-eof.
//
// A test is written with webTest(name, async (t) => ...): `t` starts servers, the LLM and
// browser pages, and at the end (pass or fail) saves a screenshot of the test's final page
// under $WEB_TEST_OUT (default tests/web/out) as <test-name>.png, then stops everything it
// started. Every child process is also killed when the node process exits, however it exits.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "..", "..");
export const BIN = process.env.CLOUDHANDS_BIN || path.join(REPO_ROOT, "build", "cloudhands");
export const OUT_DIR = path.resolve(process.env.WEB_TEST_OUT || path.join(HERE, "out"));
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const PYTHON = process.env.PYTHON || "/usr/bin/python3";
export const LLM_FIXTURE = path.join(REPO_ROOT, "tests", "fixtures", "scripted_llm.py");

export const KEY_RE = /oh_[0-9a-f]{64}/;
export const KEY_FULL_RE = /^oh_[0-9a-f]{64}$/;
export const CONV_ID_RE = /^[0-9a-f]{32}$/;
export const CSRF_MESSAGE = "Missing or wrong CSRF token: reload the page and try again.";
export const WRONG_PASSWORD_MESSAGE = "Wrong account name or password.";

const SANITIZER_MARKERS = ["ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"];
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- every child process dies with us ------------------------------------------------------

const children = new Set();

function track(proc) {
    children.add(proc);
    proc.once("exit", () => children.delete(proc));
    return proc;
}

process.on("exit", () => {
    for (const p of children) {
        try {
            p.kill("SIGKILL");
        } catch {
            /* already gone */
        }
    }
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(sig, () => process.exit(128 + os.constants.signals[sig]));
}

function exited(proc, ms) {
    if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        proc.once("exit", () => {
            clearTimeout(timer);
            resolve(true);
        });
    });
}

// ---- small helpers -------------------------------------------------------------------------

let counter = 0;
/** A name unique within this run: prefix + pid + a counter. */
export function unique(prefix = "u") {
    counter += 1;
    return `${prefix}${process.pid}x${counter}`;
}

/** A free TCP port on 127.0.0.1 (bound, read, released: the same race as conftest's). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

export function assertNoSanitizerReport(text, what) {
    for (const marker of SANITIZER_MARKERS) {
        assert.ok(!text.includes(marker), `${what}: sanitizer report (${marker}) in stderr:\n${text.slice(-6000)}`);
    }
}

/** Polls fn() until it returns a truthy value; returns it. */
export async function waitFor(fn, { timeout = 15_000, interval = 50, what = "a condition" } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
        }
        await sleep(interval);
    }
}

/** Runs the CLI: `cloudhands ARGS --data DIR` with `input` on stdin. Returns {status, stdout, stderr}. */
export function runCli(args, { dataDir, input, check = true, env } = {}) {
    const argv = [...args.map(String)];
    if (dataDir) argv.push("--data", dataDir);
    const r = spawnSync(BIN, argv, {
        input: input ?? "",
        encoding: "utf8",
        timeout: 20_000,
        env: { ...process.env, ...(env || {}) },
    });
    if (r.error) throw new Error(`cli ${argv.join(" ")}: ${r.error.message}`);
    assertNoSanitizerReport(r.stderr, `cli ${argv.join(" ")}`);
    if (check) {
        assert.equal(r.status, 0, `cli ${argv.join(" ")} exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    }
    return r;
}

// ---- the server ----------------------------------------------------------------------------

export class Server {
    /**
     * @param {string} workdir  where the data directory and the output files go
     * @param {object} opts     args: extra `serve` flags; env: extra environment
     */
    constructor(workdir, { args = [], env = {} } = {}) {
        this.workdir = workdir;
        fs.mkdirSync(workdir, { recursive: true });
        this.dataDir = path.join(workdir, "data");
        this.args = [...args];
        this.env = { ...env };
        this.proc = null;
        this.port = null;
        this.starts = 0;
    }

    get baseUrl() {
        return `http://127.0.0.1:${this.port}`;
    }

    url(p = "/") {
        return this.baseUrl + p;
    }

    async start() {
        assert.equal(this.proc, null, "server already running");
        try {
            fs.accessSync(BIN, fs.constants.X_OK);
        } catch {
            throw new Error(`CLOUDHANDS_BIN ${BIN} is not an executable file (build it first)`);
        }
        this.starts += 1;
        this.port = this.port || (await freePort());
        this.stdoutPath = path.join(this.workdir, `serve${this.starts}.stdout`);
        this.stderrPath = path.join(this.workdir, `serve${this.starts}.stderr`);
        const argv = ["serve", "--data", this.dataDir, "--listen", `127.0.0.1:${this.port}`, ...this.args];
        // Repositories are not used here; nothing listens on port 9, so the server never tries
        // github.com. No runner takes conversations unless the test asks for runners.
        if (!this.args.includes("--github-api-url")) {
            argv.push("--github-api-url", "http://127.0.0.1:9", "--github-url", "http://127.0.0.1:9");
        }
        if (!this.args.includes("--runners")) argv.push("--runners", "0");
        const out = fs.openSync(this.stdoutPath, "w");
        const err = fs.openSync(this.stderrPath, "w");
        try {
            this.proc = track(
                spawn(BIN, argv, { stdio: ["ignore", out, err], env: { ...process.env, ...this.env } }),
            );
        } finally {
            fs.closeSync(out);
            fs.closeSync(err);
        }
        this.proc.once("error", () => {}); // reported through the readiness check below
        await this.waitReady();
        return this;
    }

    async waitReady() {
        const deadline = Date.now() + READY_TIMEOUT_MS;
        let last = "";
        while (Date.now() < deadline) {
            if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
                const rc = this.proc.exitCode ?? this.proc.signalCode;
                this.proc = null;
                throw new Error(`server exited with ${rc} before it was ready\nstdout:\n${this.stdout()}\nstderr:\n${this.stderr()}`);
            }
            try {
                const r = await fetch(this.url("/alive"), { signal: AbortSignal.timeout(1000) });
                const text = await r.text();
                if (r.status === 200 && JSON.parse(text).status === "ok") return;
                last = `${r.status} ${text.slice(0, 200)}`;
            } catch (e) {
                last = String(e);
            }
            await sleep(50);
        }
        this.kill();
        throw new Error(`server not ready after ${READY_TIMEOUT_MS} ms (last: ${last})\nstderr:\n${this.stderr()}`);
    }

    /** SIGTERM; fails if it does not exit in time or left a sanitizer report. */
    async stop() {
        const proc = this.proc;
        if (!proc) return;
        this.proc = null;
        proc.kill("SIGTERM");
        if (!(await exited(proc, STOP_TIMEOUT_MS))) {
            proc.kill("SIGKILL");
            await exited(proc, 5000);
            throw new Error(`server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\nstderr:\n${this.stderr()}`);
        }
        assertNoSanitizerReport(this.stderr(), "server");
    }

    kill() {
        if (this.proc) {
            this.proc.kill("SIGKILL");
            this.proc = null;
        }
    }

    stdout() {
        return this.stdoutPath && fs.existsSync(this.stdoutPath) ? fs.readFileSync(this.stdoutPath, "utf8") : "";
    }

    stderr() {
        return this.stderrPath && fs.existsSync(this.stderrPath) ? fs.readFileSync(this.stderrPath, "utf8") : "";
    }

    cli(args, opts = {}) {
        return runCli(args, { dataDir: this.dataDir, ...opts });
    }

    /** A new account with a password (`user add NAME --password-stdin`). Returns {name, password}. */
    addUser(name = unique("user"), { password = unique("pw-") + "-Secret!", admin = false } = {}) {
        const args = ["user", "add", name, "--password-stdin"];
        if (admin) args.push("--admin");
        this.cli(args, { input: password + "\n" });
        return { name, password };
    }

    /** A new API key of `user`, through `key create` (printed alone on stdout). */
    createKey(user, label = unique("key")) {
        const r = this.cli(["key", "create", "--user", user, "--name", label]);
        const key = r.stdout.trim();
        assert.match(key, KEY_FULL_RE, `key create printed ${JSON.stringify(r.stdout)}`);
        return key;
    }

    /** fetch() against this server; `key` adds Authorization: Bearer; `json` is sent as the body. */
    async api(method, p, { key, json, headers = {} } = {}) {
        const h = { ...headers };
        if (key) h.Authorization = `Bearer ${key}`;
        let body;
        if (json !== undefined) {
            h["Content-Type"] = "application/json";
            body = JSON.stringify(json);
        }
        const r = await fetch(this.url(p), { method, headers: h, body, signal: AbortSignal.timeout(10_000) });
        const text = await r.text();
        let parsed;
        try {
            parsed = JSON.parse(text);
        } catch {
            parsed = undefined;
        }
        return { status: r.status, headers: r.headers, text, json: parsed };
    }

    /** POST /api/conversations with an API key; returns the conversation id. */
    async createConversation(key, msg = "Fix the README") {
        const r = await this.api("POST", "/api/conversations", { key, json: { initial_user_msg: msg } });
        assert.equal(r.status, 200, `create conversation: ${r.status} ${r.text}`);
        assert.match(r.json.conversation_id, CONV_ID_RE);
        return r.json.conversation_id;
    }
}

// ---- the scripted LLM ----------------------------------------------------------------------

export class ScriptedLLM {
    async start() {
        const proc = track(
            spawn(PYTHON, [LLM_FIXTURE, "--port", "0", "--exit-on-stdin-eof"], { stdio: ["pipe", "pipe", "inherit"] }),
        );
        this.proc = proc;
        const lines = readline.createInterface({ input: proc.stdout });
        const first = await Promise.race([
            new Promise((resolve) => lines.once("line", resolve)),
            new Promise((resolve) => proc.once("exit", () => resolve(""))),
            sleep(10_000).then(() => ""),
        ]);
        lines.close();
        proc.stdout.resume(); // nothing else is printed, but never let a pipe fill up
        assert.match(first, /^PORT \d+$/, `scripted LLM did not start: ${JSON.stringify(first)}`);
        this.port = Number(first.split(" ")[1]);
        this.url = `http://127.0.0.1:${this.port}`;
        this.baseUrl = this.url + "/v1";
        return this;
    }

    async script(steps, options = {}) {
        const r = await fetch(this.url + "/_script", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ responses: steps, ...options }),
        });
        assert.equal(r.status, 200, await r.text());
    }

    async requests() {
        return (await fetch(this.url + "/_requests")).json();
    }

    async close() {
        const proc = this.proc;
        if (!proc) return;
        this.proc = null;
        proc.stdin.end();
        if (!(await exited(proc, 5000))) {
            proc.kill("SIGKILL");
            await exited(proc, 5000);
        }
    }
}

/** A scripted tool call. */
export const call = (name, args) => ({ name, arguments: args });

// ---- the browser ---------------------------------------------------------------------------

let browserPromise = null;

/** One headless chromium per test file, launched on first use and closed after the file's tests. */
export function browser() {
    if (!browserPromise) {
        browserPromise = chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            // root needs --no-sandbox; the rest keeps chromium off the (closed) network.
            args: [
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        });
    }
    return browserPromise;
}

after(async () => {
    if (browserPromise) {
        const b = await browserPromise.catch(() => null);
        browserPromise = null;
        if (b) await b.close();
    }
});

// ---- the per-test context ------------------------------------------------------------------

function fileName(name) {
    return name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 120) || "test";
}

export class WebTestContext {
    constructor(name, nodeTest) {
        this.name = name;
        this.nodeTest = nodeTest;
        this.cleanups = [];
        this.pages = [];
        this.pageErrors = [];
        this.consoleErrors = [];
        this.cspViolations = [];
        this.finalPage = null;
        this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cloudhands-web-"));
        this.servers = [];
    }

    /** A diagnostic line in the test's report. */
    note(message) {
        if (this.nodeTest) this.nodeTest.diagnostic(message);
    }

    /** Runs fn at the end of the test, after the screenshot, in reverse order of registration. */
    defer(fn) {
        this.cleanups.push(fn);
    }

    /** Starts a server with a fresh data directory; stopped (SIGTERM, sanitizer check) at the end. */
    async server({ args = [], env = {} } = {}) {
        const srv = new Server(path.join(this.tmp, `srv${this.servers.length}`), { args, env });
        this.servers.push(srv);
        this.defer(() => srv.stop());
        await srv.start();
        return srv;
    }

    /** Starts the scripted LLM; closed at the end. */
    async llm() {
        const llm = new ScriptedLLM();
        this.defer(() => llm.close());
        await llm.start();
        return llm;
    }

    /** A new browser context (its own cookies); closed at the end. */
    async context(options = {}) {
        const b = await browser();
        const ctx = await b.newContext({ viewport: { width: 1280, height: 860 }, ...options });
        this.defer(() => ctx.close());
        return ctx;
    }

    /** A new page (in a new context unless one is given); the last one made is the final page. */
    async page({ context, ...options } = {}) {
        const ctx = context || (await this.context(options));
        const page = await ctx.newPage();
        page.setDefaultTimeout(10_000);
        page.on("pageerror", (e) => this.pageErrors.push(`${page.url()}: ${e.message}`));
        page.on("console", (m) => {
            if (m.type() === "error") this.consoleErrors.push(`${page.url()}: ${m.text()}`);
            if (/Content Security Policy/i.test(m.text())) this.cspViolations.push(`${page.url()}: ${m.text()}`);
        });
        this.pages.push(page);
        this.finalPage = page;
        return page;
    }

    /** Saves a screenshot of the final page (and of any other open page, as <name>-N.png). */
    async screenshots() {
        fs.mkdirSync(OUT_DIR, { recursive: true });
        const base = fileName(this.name);
        const shots = [];
        const others = this.pages.filter((p) => p !== this.finalPage);
        const ordered = this.finalPage ? [this.finalPage, ...others] : others;
        for (const [i, page] of ordered.entries()) {
            if (page.isClosed()) continue;
            const file = path.join(OUT_DIR, i === 0 ? `${base}.png` : `${base}-${i + 1}.png`);
            try {
                await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
                shots.push(file);
            } catch (e) {
                shots.push(`${file} (failed: ${e.message.split("\n")[0]})`);
            }
        }
        return shots;
    }

    async finish(failed) {
        const shots = await this.screenshots();
        const errors = [];
        for (const fn of this.cleanups.reverse()) {
            try {
                await fn();
            } catch (e) {
                errors.push(e);
            }
        }
        if (failed) {
            // Leave the servers' output for the post-mortem.
            const notes = [`screenshots: ${shots.join(", ") || "none"}`, `server output kept in ${this.tmp}`];
            if (this.pageErrors.length) notes.push(`page errors:\n  ${this.pageErrors.join("\n  ")}`);
            if (this.consoleErrors.length) notes.push(`console errors:\n  ${this.consoleErrors.join("\n  ")}`);
            for (const srv of this.servers) {
                const tail = srv.stderr().split("\n").slice(-30).join("\n");
                if (tail.trim()) notes.push(`server stderr (${srv.stderrPath}), last lines:\n${tail}`);
            }
            console.error(`# ${this.name}:\n${notes.join("\n")}`);
        } else {
            fs.rmSync(this.tmp, { recursive: true, force: true });
        }
        if (errors.length) throw errors[0];
    }
}

/**
 * A browser test: fn(t) gets a WebTestContext. Uncaught errors of the pages (JavaScript
 * exceptions) and Content-Security-Policy violations reported on the console fail the test too.
 */
export function webTest(name, fn, { timeout = 40_000 } = {}) {
    test(name, { timeout }, async (nodeTest) => {
        const t = new WebTestContext(name, nodeTest);
        let failed = true;
        try {
            await fn(t);
            assert.deepEqual(t.pageErrors, [], "uncaught JavaScript errors on the pages");
            assert.deepEqual(t.cspViolations, [], "the pages break their own Content-Security-Policy");
            failed = false;
        } finally {
            await t.finish(failed);
        }
    });
}

// ---- the UI, as a person uses it -----------------------------------------------------------

/** Signs in through the form at /login (optionally at another path that redirects there). */
export async function signIn(page, server, { name, password }, { path: p = "/login" } = {}) {
    await page.goto(server.url(p));
    await page.getByLabel(/account name/i).fill(name);
    await page.getByLabel(/password/i).fill(password);
    await page.getByRole("button", { name: /sign in/i }).click();
    await page.waitForURL((u) => !u.pathname.startsWith("/login"));
}

/** fetch() from inside the page (same origin, the page's cookies): {status, json, text}. */
export async function pageFetch(page, p, { method = "GET", json, headers = {} } = {}) {
    return page.evaluate(
        async ({ p, method, json, headers }) => {
            const h = { ...headers };
            if (json !== undefined) h["Content-Type"] = "application/json";
            const r = await fetch(p, {
                method,
                headers: h,
                body: json === undefined ? undefined : JSON.stringify(json),
                credentials: "same-origin",
            });
            const text = await r.text();
            let parsed = null;
            try {
                parsed = JSON.parse(text);
            } catch {
                /* not JSON */
            }
            return { status: r.status, text, json: parsed };
        },
        { p, method, json, headers },
    );
}

/** document.scrollingElement.scrollWidth <= innerWidth + 1 (no horizontal scrolling). */
export async function horizontalOverflow(page) {
    return page.evaluate(() => {
        const el = document.scrollingElement || document.documentElement;
        const widest = [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5)
            .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : ""} (right ${Math.round(e.getBoundingClientRect().right)})`);
        return { scrollWidth: el.scrollWidth, innerWidth: window.innerWidth, widest };
    });
}
