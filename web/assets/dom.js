/* dom: small helpers that build the page safely. Elements are made with createElement, text goes
 * in with textContent (text nodes), attributes with setAttribute: never innerHTML, so anything a
 * user or an agent wrote shows as text. Also: times, badges, safe links and the confirmation
 * dialog every page uses. */

/* h("button", {class: "primary", testid: "send", onclick: fn}, "Send") -> <button>.
 * Props: class, text, testid (data-testid), dataset, on<event> (listener), value/checked (set
 * as properties); true sets an empty attribute; null/undefined/false leaves it out. Children:
 * strings (as text), nodes, arrays, null/false (skipped). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function")
      el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/* Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/* A link only when the URL is http(s); otherwise the text alone. */
export function safeHref(url) {
  if (typeof url !== "string") return null;
  return /^https?:\/\//i.test(url.trim()) ? url.trim() : null;
}

export function externalLink(url, text, props = {}) {
  const href = safeHref(url);
  if (!href) return h("span", props, text || String(url ?? ""));
  return h("a", { ...props, href, rel: "noopener noreferrer", target: "_blank" }, text || href);
}

/* ---- times ------------------------------------------------------------------------------- */

/* The API's times have microseconds ("2025-04-29T15:13:51.370706Z"): keep milliseconds. */
export function parseTime(iso) {
  if (typeof iso !== "string" || !iso) return null;
  const d = new Date(iso.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(d.getTime()) ? null : d;
}

export function localTime(iso) {
  const d = parseTime(iso);
  return d ? d.toLocaleString() : "";
}

export function relativeTime(iso, now = Date.now()) {
  const d = parseTime(iso);
  if (!d) return "";
  const s = Math.round((now - d.getTime()) / 1000);
  const future = s < 0;
  const a = Math.abs(s);
  let text;
  if (a < 45) return future ? "in a moment" : "just now";
  if (a < 3600) text = `${Math.round(a / 60)} min`;
  else if (a < 86400) text = `${Math.round(a / 3600)} h`;
  else if (a < 86400 * 30) {
    const days = Math.round(a / 86400);
    text = `${days} day${days === 1 ? "" : "s"}`;
  } else return d.toLocaleDateString();
  return future ? `in ${text}` : `${text} ago`;
}

/* <time> with the relative time as text and the local time as tooltip; "never" for null. */
export function timeEl(iso, { relative = true, never = "never" } = {}) {
  if (!iso) return h("span", { class: "muted" }, never);
  const text = relative ? relativeTime(iso) : localTime(iso);
  return h("time", { datetime: iso, title: localTime(iso) }, text || iso);
}

/* ---- badges ------------------------------------------------------------------------------ */

/* A badge for a status or agent state: the text is the value (underscores as spaces), the CSS
 * class badge--<value in lower case>, data-value the value exactly as the API gave it. */
export function badge(value, props = {}) {
  const v = String(value ?? "unknown");
  const key = v.toLowerCase().replace(/[^a-z0-9_-]/g, "");
  return h("span", { ...props, class: `badge badge--${key}`, dataset: { value: v } }, v.replace(/_/g, " "));
}

/* ---- the confirmation dialog -------------------------------------------------------------- */

/* A modal <dialog>; resolves true when the person confirms. Escape or Cancel resolve false.
 * The confirm button has data-testid="confirm". */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const cancel = h("button", { type: "button", class: "button", autofocus: true }, "Cancel");
    const confirm = h(
      "button",
      { type: "button", class: danger ? "button danger" : "button primary", testid: "confirm" },
      confirmLabel,
    );
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, title),
      message ? h("p", {}, message) : null,
      h("div", { class: "actions" }, cancel, confirm),
    );
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/* A status line that reads out changes (role="status"). */
export function statusLine(props = {}) {
  return h("p", { ...props, class: `status-line ${props.class || ""}`.trim(), role: "status" });
}

/* A form's error area (role="alert"), hidden while empty. */
export function errorBox(testid = "form-error") {
  const el = h("p", { class: "error-box", role: "alert", testid });
  el.hidden = true;
  return el;
}

export function showError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

/* Disables a button while an async job runs; returns the job's result. */
export async function busy(button, job, busyText) {
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  try {
    return await job();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busyText) button.textContent = text;
  }
}

/* Unique ids for label/for pairs. */
let idCounter = 0;
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/* A labelled field: returns {wrap, input}. kind "textarea" | "select" | an input type. */
export function field(label, { kind = "text", hint, id = uid(), ...props } = {}) {
  const tag = kind === "textarea" || kind === "select" ? kind : "input";
  const input = h(tag, { id, ...(tag === "input" ? { type: kind } : {}), ...props });
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
  return { wrap, input, hint: hintEl };
}

/* The fields of a form that shows stored values: disabled until they are loaded, so that nothing
 * typed is overwritten by the values arriving. */
export function lockedFieldset(...children) {
  return h("fieldset", { class: "plain", disabled: true }, children);
}
