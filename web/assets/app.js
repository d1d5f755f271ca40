/* app: the entry point. Checks the session, routes on location.pathname (history.pushState for
 * in-app links), keeps the header (navigation, the signed-in account, Sign out) up to date, and
 * sends the person to /login?next=<where they were> whenever the API says the session is gone.
 * Each page module exports render(main, ctx); ctx.signal aborts when the page is left. */
import { h, replace } from "./dom.js";
import { onUnauthorized } from "./api.js";
import { currentAccount, forget, loadSession, onSessionChange, signOut } from "./session.js";
import * as loginPage from "./page-login.js";
import * as settingsPage from "./page-settings.js";
import * as listPage from "./page-conversations.js";
import * as conversationPage from "./page-conversation.js";

const APP_NAME = "cloudhands";

const routes = [
  { pattern: /^\/(?:conversations\/?)?$/, page: listPage, auth: true, nav: "/conversations" },
  { pattern: /^\/conversations\/([^/]+)\/?$/, page: conversationPage, auth: true, nav: "/conversations" },
  { pattern: /^\/settings\/?$/, page: settingsPage, auth: true, nav: "/settings" },
  { pattern: /^\/login\/?$/, page: loginPage, auth: false },
];

let current = null; /* {controller} of the page on screen */
let loginNotice = ""; /* why the person was sent to sign in (shown there once) */
let firstRender = true;

function findRoute(pathname) {
  for (const route of routes) {
    const m = pathname.match(route.pattern);
    if (m) return { route, params: m.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return null;
}

/* Only a same-origin path: "/x" but not "//host" or "/\host"; never back to /login. */
export function safeNext(next) {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\"))
    return "/conversations";
  try {
    const url = new URL(next, location.origin);
    if (url.origin !== location.origin || /^\/login\/?$/.test(url.pathname)) return "/conversations";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/conversations";
  }
}

export function navigate(url, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function goSignIn(message) {
  if (/^\/login\/?$/.test(location.pathname)) return;
  if (message && /session/i.test(message)) loginNotice = message;
  const here = location.pathname + location.search + location.hash;
  navigate(`/login?next=${encodeURIComponent(here)}`, { replace: true });
}

function setTitle(title) {
  document.title = title ? `${title} · ${APP_NAME}` : APP_NAME;
}

function render() {
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = { controller };
  const main = document.getElementById("app");
  const found = findRoute(location.pathname);
  updateHeader(found ? found.route.nav : null);

  if (found && found.route.auth && !currentAccount()) {
    goSignIn("");
    return;
  }
  main.replaceChildren();
  main.removeAttribute("aria-busy");
  const ctx = {
    params: found ? found.params : [],
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    navigate,
    setTitle,
    safeNext,
    takeNotice() {
      const n = loginNotice;
      loginNotice = "";
      return n;
    },
  };
  if (!found) {
    setTitle("Not found");
    replace(
      main,
      h("h1", { tabindex: "-1" }, "Page not found"),
      h("p", {}, "There is nothing at this address. ", h("a", { href: "/conversations" }, "Go to your conversations"), "."),
    );
  } else {
    try {
      found.route.page.render(main, ctx);
    } catch (e) {
      replace(main, h("h1", { tabindex: "-1" }, "Something went wrong"), h("p", { class: "error-box" }, String(e.message || e)));
    }
  }
  /* Move focus to the new page's heading (not on first load: the page may focus a field). */
  const focusInPage = main.contains(document.activeElement) && document.activeElement !== main;
  if (!firstRender && !focusInPage) {
    const heading = main.querySelector("h1");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
    window.scrollTo(0, 0);
  }
  firstRender = false;
}

/* ---- the header ------------------------------------------------------------------------- */

function updateHeader(activeNav) {
  const account = currentAccount();
  const nav = document.getElementById("site-nav");
  const who = document.getElementById("site-account");
  if (!nav || !who) return;
  nav.hidden = !account;
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === activeNav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!account) {
    who.replaceChildren();
    return;
  }
  const out = h("button", { type: "button", class: "button small", testid: "sign-out" }, "Sign out");
  out.addEventListener("click", async () => {
    out.disabled = true;
    try {
      await signOut();
    } catch {
      /* signed out locally all the same */
    }
    navigate("/login", { replace: false });
  });
  replace(
    who,
    h(
      "span",
      { class: "account-name", testid: "account-name", title: "Signed in" },
      account.name || "",
      account.is_admin ? h("span", { class: "badge badge--admin" }, "admin") : null,
    ),
    out,
  );
}

/* ---- in-app links ------------------------------------------------------------------------ */

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || a.target === "_blank" || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/assets/"))
    return;
  if (!findRoute(url.pathname)) return;
  const samePage = url.pathname + url.search === location.pathname + location.search;
  if (samePage && url.hash) return; /* an anchor on this page: the browser scrolls */
  event.preventDefault();
  navigate(url.pathname + url.search, { replace: samePage });
});

window.addEventListener("popstate", render);

/* Signed in a moment ago and now refused: the session ended (it expired, or was signed out
 * elsewhere), whatever the server could still tell (a browser drops an expired cookie). */
const EXPIRED = "Your session has expired: sign in again.";
onUnauthorized((message) => {
  const wasSignedIn = !!currentAccount();
  forget();
  goSignIn(message && /session/i.test(message) ? message : wasSignedIn ? EXPIRED : "");
});

onSessionChange(() => {
  const found = findRoute(location.pathname);
  updateHeader(found ? found.route.nav : null);
});

/* ---- start ------------------------------------------------------------------------------- */

async function start() {
  const main = document.getElementById("app");
  main.setAttribute("aria-busy", "true");
  try {
    const s = await loadSession();
    if (!s.account && s.message && /expired/i.test(s.message)) loginNotice = s.message;
    render();
  } catch (e) {
    main.removeAttribute("aria-busy");
    const retry = h("button", { type: "button", class: "button primary" }, "Try again");
    retry.addEventListener("click", () => start());
    replace(
      main,
      h("h1", {}, "Cannot reach the server"),
      h("p", { class: "error-box", role: "alert" }, e.message || String(e)),
      retry,
    );
  }
}

start();
