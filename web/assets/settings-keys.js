/* settings-keys: the "API Keys" section of /settings. Lists the account's keys, "Generate new
 * key" (a name and an optional expiry date), shows a new key once with a Copy button, and revokes
 * a key after a <dialog> confirmation. Test ids: generate-key, key-name, key-expires,
 * create-key, new-key, copy-key, key-row, revoke-key, confirm (the dialog), form-error. */
import { h, replace, field, errorBox, showError, statusLine, timeEl, confirmDialog, parseTime, localTime } from "./dom.js";
import { get, post, del, seg } from "./api.js";

function dateOnly(iso) {
  const d = parseTime(iso);
  return d ? d.toLocaleDateString() : "";
}

function todayPlus(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export function keysSection(ctx) {
  const status = statusLine();
  const listError = errorBox("keys-error");
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "table responsive", testid: "key-table" },
    h("caption", { class: "visually-hidden" }, "Your API keys"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Created"),
        h("th", { scope: "col" }, "Last used"),
        h("th", { scope: "col" }, "Expires"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    tbody,
  );
  const empty = h("p", { class: "muted empty" }, "No API keys yet.");
  empty.hidden = true;
  table.hidden = true;

  /* ---- the form ---- */
  const generate = h(
    "button",
    { type: "button", class: "button primary", testid: "generate-key", "aria-expanded": "false", "aria-controls": "new-key-form" },
    "Generate new key",
  );
  const name = field("Name", {
    required: true,
    maxlength: "100",
    autocomplete: "off",
    placeholder: "e.g. CI, laptop, nightly job",
    testid: "key-name",
    hint: "A name that tells you where the key is used.",
  });
  const expires = field("Expires (optional)", {
    kind: "date",
    min: todayPlus(1),
    testid: "key-expires",
    hint: "The key stops working at the end of that day (UTC). Leave empty for a key that does not expire.",
  });
  const formError = errorBox("form-error");
  const create = h("button", { type: "submit", class: "button primary", testid: "create-key" }, "Create key");
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { class: "stack subpanel", id: "new-key-form", novalidate: true },
    h("h3", {}, "New API key"),
    name.wrap,
    expires.wrap,
    formError,
    h("div", { class: "actions" }, create, cancel),
  );
  form.hidden = true;

  /* ---- the key, shown once ---- */
  const keyInput = h("input", {
    type: "text",
    id: "new-key-value",
    readonly: true,
    class: "mono",
    testid: "new-key",
    spellcheck: "false",
    autocomplete: "off",
  });
  const copy = h("button", { type: "button", class: "button primary", testid: "copy-key" }, "Copy");
  const copyStatus = statusLine({ testid: "copy-status" });
  const done = h("button", { type: "button", class: "button" }, "Done");
  const reveal = h(
    "div",
    { class: "subpanel new-key", testid: "new-key-panel" },
    h("p", { class: "warning", testid: "new-key-warning" }, h("strong", {}, "Copy this key now: you will not see it again.")),
    h("label", { for: "new-key-value" }, "Your new key"),
    h("div", { class: "input-row" }, keyInput, copy),
    copyStatus,
    h(
      "p",
      { class: "hint" },
      "Use it as ",
      h("code", {}, "Authorization: Bearer <key>"),
      " in requests to this server's API.",
    ),
    h("div", { class: "actions" }, done),
  );
  reveal.hidden = true;

  function openForm(open) {
    form.hidden = !open;
    generate.setAttribute("aria-expanded", String(open));
    if (open) {
      reveal.hidden = true;
      keyInput.value = "";
      showError(formError, "");
      name.input.focus();
    } else {
      form.reset();
    }
  }
  generate.addEventListener("click", () => openForm(form.hidden));
  cancel.addEventListener("click", () => {
    openForm(false);
    generate.focus();
  });
  done.addEventListener("click", () => {
    reveal.hidden = true;
    keyInput.value = "";
    copyStatus.textContent = "";
    generate.focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const keyName = name.input.value.trim();
    if (!keyName) {
      showError(formError, "Give the key a name.");
      name.input.focus();
      return;
    }
    const body = { name: keyName };
    if (expires.input.value) body.expires_at = `${expires.input.value}T23:59:59Z`;
    showError(formError, "");
    create.disabled = true;
    try {
      const made = await post("/api/keys", body);
      if (ctx.signal.aborted) return;
      openForm(false);
      keyInput.value = made && made.key ? made.key : "";
      copyStatus.textContent = "";
      reveal.hidden = false;
      keyInput.focus();
      keyInput.select();
      status.textContent = `Key “${keyName}” created.`;
      load();
    } catch (e) {
      if (!e.redirected) showError(formError, e.message);
    } finally {
      create.disabled = false;
    }
  });

  copy.addEventListener("click", async () => {
    const key = keyInput.value;
    try {
      await navigator.clipboard.writeText(key);
      copyStatus.textContent = "Copied to the clipboard.";
    } catch {
      keyInput.focus();
      keyInput.select();
      let ok = false;
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
      copyStatus.textContent = ok ? "Copied to the clipboard." : "The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
    }
  });

  /* ---- the list ---- */
  function row(key) {
    const revoke = h(
      "button",
      { type: "button", class: "button small danger-outline", testid: "revoke-key", "aria-label": `Revoke key ${key.name}` },
      "Revoke",
    );
    revoke.addEventListener("click", async () => {
      const yes = await confirmDialog({
        title: "Revoke this API key?",
        message: `Programs that use “${key.name}” will be refused at once. This cannot be undone.`,
        confirmLabel: "Revoke key",
        danger: true,
      });
      if (!yes) {
        revoke.focus();
        return;
      }
      revoke.disabled = true;
      try {
        await del(`/api/keys/${seg(key.id)}`);
        status.textContent = `Key “${key.name}” revoked.`;
        await load();
        generate.focus();
      } catch (e) {
        revoke.disabled = false;
        if (!e.redirected) showError(listError, e.message);
      }
    });
    const expired = key.expires_at && parseTime(key.expires_at) && parseTime(key.expires_at).getTime() < Date.now();
    return h(
      "tr",
      { testid: "key-row", dataset: { keyId: String(key.id), keyName: key.name || "" } },
      h("th", { scope: "row", "data-label": "Name", class: "key-name" }, key.name || ""),
      h("td", { "data-label": "Created" }, timeEl(key.created_at)),
      h("td", { "data-label": "Last used" }, timeEl(key.last_used_at)),
      h(
        "td",
        { "data-label": "Expires" },
        key.expires_at
          ? h("time", { datetime: key.expires_at, title: localTime(key.expires_at) }, dateOnly(key.expires_at))
          : h("span", { class: "muted" }, "never"),
        expired ? h("span", { class: "badge badge--error" }, "expired") : null,
      ),
      h("td", { class: "row-actions" }, revoke),
    );
  }

  async function load() {
    try {
      const keys = await get("/api/keys");
      if (ctx.signal.aborted) return;
      showError(listError, "");
      const list = Array.isArray(keys) ? keys : [];
      replace(tbody, list.map(row));
      table.hidden = list.length === 0;
      empty.hidden = list.length !== 0;
    } catch (e) {
      if (!e.redirected) showError(listError, `Cannot load the keys: ${e.message}`);
    }
  }
  load();

  return h(
    "section",
    { class: "card", id: "api-keys", "aria-labelledby": "api-keys-title" },
    h("h2", { id: "api-keys-title" }, "API Keys"),
    h(
      "p",
      { class: "muted" },
      "Programs call this server's API with a key. A key is shown only once, when it is made; a lost key cannot be shown again, only replaced.",
    ),
    h("div", { class: "toolbar" }, generate),
    form,
    reveal,
    status,
    listError,
    table,
    empty,
  );
}
