/* api: the one way the pages talk to the server. fetch with the session cookie
 * (credentials: "same-origin"), JSON in and out, the X-CSRF-Token header on every request that
 * is not a GET, and error bodies turned into a readable message (ApiError). A 401 from any
 * endpoint but the auth ones calls the handler app.js registers (it sends the person to the
 * sign-in page and back). The CSRF token lives here, in memory only. */

let csrfToken = null;
let unauthorizedHandler = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

function locText(loc) {
  if (!Array.isArray(loc)) return "";
  const parts = loc.filter((p) => p !== "body" && p !== "query");
  return parts.join(".");
}

/* The message of an error body: {"error": "..."}, {"detail": "..."},
 * {"detail": [{"loc", "msg"}]}, {"detail": {"message" | "error" ...}}. */
export function errorMessage(status, body, fallback) {
  if (body && typeof body === "object") {
    if (typeof body.error === "string" && body.error) return body.error;
    const d = body.detail;
    if (typeof d === "string" && d) return d;
    if (Array.isArray(d) && d.length) {
      return d
        .map((item) => {
          if (!item || typeof item !== "object") return String(item);
          const where = locText(item.loc);
          return where ? `${where}: ${item.msg || "invalid"}` : item.msg || "invalid";
        })
        .join("; ");
    }
    if (d && typeof d === "object") {
      if (typeof d.message === "string" && d.message) return d.message;
      if (typeof d.error === "string" && d.error) return d.error;
      return JSON.stringify(d);
    }
    if (typeof body.message === "string" && body.message) return body.message;
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  return fallback || `The server answered ${status}.`;
}

function isAuthPath(path) {
  return path.startsWith("/api/auth/");
}

/* api("GET", "/api/keys") -> parsed JSON (null for an empty body).
 * Options: body (sent as JSON), quiet401 (no redirect on 401), headers. */
export async function api(method, path, { body, quiet401 = false, headers = {}, retried = false } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const sentToken = csrfToken;
  if (method !== "GET" && method !== "HEAD" && sentToken) h["X-CSRF-Token"] = sentToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      credentials: "same-origin",
      cache: "no-store",
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.", null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (res.ok) return data;

  /* A stale CSRF token (signed in again in another tab): fetch the current one, retry once. */
  if (res.status === 403 && !retried && method !== "GET" && !isAuthPath(path)) {
    const fresh = await refreshCsrf();
    if (fresh && fresh !== sentToken) return api(method, path, { body, quiet401, headers, retried: true });
  }
  const message = errorMessage(res.status, data, res.status === 404 ? "Not found." : undefined);
  const err = new ApiError(res.status, message, data);
  /* A 401 is not always the session: a repository the account cannot reach or a git token its
   * provider refused answer 401 too. Ask the session; only when it is gone, go to sign-in. */
  if (res.status === 401 && !quiet401 && !isAuthPath(path) && unauthorizedHandler) {
    const session = await checkSession();
    if (session.status === 401) {
      unauthorizedHandler(session.message || message);
      err.redirected = true;
    }
  }
  throw err;
}

async function checkSession() {
  try {
    const res = await fetch("/api/auth/session", {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.ok && data && data.csrf_token) csrfToken = data.csrf_token;
    return { status: res.status, message: res.ok ? "" : errorMessage(res.status, data), data };
  } catch {
    return { status: 0, message: "", data: null };
  }
}

async function refreshCsrf() {
  const s = await checkSession();
  return s.status === 200 ? csrfToken : null;
}

export const get = (path, opts) => api("GET", path, opts);
export const post = (path, body, opts) => api("POST", path, { ...opts, body: body ?? {} });
export const patch = (path, body, opts) => api("PATCH", path, { ...opts, body });
export const del = (path, opts) => api("DELETE", path, opts);

/* Encodes one path segment (ids, secret names). */
export const seg = (s) => encodeURIComponent(String(s));
