/* session: who is signed in. Asks /api/auth/session on page load, signs in and out, keeps the
 * account in memory and hands the CSRF token to api.js. Listeners (the header) hear changes. */
import { get, post, setCsrfToken } from "./api.js";

let account = null;
const listeners = new Set();

export function currentAccount() {
  return account;
}

export function onSessionChange(fn) {
  listeners.add(fn);
}

function set(data) {
  account = data && data.account ? data.account : null;
  setCsrfToken(data && data.csrf_token);
  for (const fn of listeners) fn(account);
}

/* Resolves {account} when signed in, or {account: null, message} with the server's reason. */
export async function loadSession() {
  try {
    const data = await get("/api/auth/session", { quiet401: true });
    set(data);
    return { account };
  } catch (e) {
    set(null);
    if (e.status === 401) return { account: null, message: e.message };
    throw e;
  }
}

export async function signIn(username, password) {
  const data = await post("/api/auth/login", { username, password }, { quiet401: true });
  set(data);
  return account;
}

export async function signOut() {
  try {
    await post("/api/auth/logout", {}, { quiet401: true });
  } finally {
    set(null);
  }
}

/* Forgets the session locally (after a 401). */
export function forget() {
  set(null);
}
