/* settings-secrets: the "Secrets" section of /settings. Lists the account's secrets (name and
 * description: values never come back), adds one (name, write-only value, description) and
 * deletes one after a <dialog> confirmation. */
import { h, replace, field, errorBox, showError, statusLine, confirmDialog } from "./dom.js";
import { get, post, del, seg } from "./api.js";

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function secretsSection(ctx) {
  const listError = errorBox("secrets-list-error");
  const status = statusLine();
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "table responsive", testid: "secret-table" },
    h("caption", { class: "visually-hidden" }, "Your secrets"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    tbody,
  );
  const empty = h("p", { class: "muted empty" }, "No secrets yet.");
  table.hidden = true;
  empty.hidden = true;

  const name = field("Secret name", {
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    class: "mono",
    placeholder: "e.g. NPM_TOKEN",
    testid: "secret-name",
    hint: "An environment variable name: letters, digits and _, not starting with a digit.",
  });
  const value = field("Secret value", {
    kind: "password",
    required: true,
    autocomplete: "new-password",
    spellcheck: "false",
    testid: "secret-value",
    hint: "Write-only: the agent's sandbox sees it as an environment variable; it is masked in events.",
  });
  const description = field("Description (optional)", { autocomplete: "off", testid: "secret-description" });
  const formError = errorBox("secrets-error");
  const add = h("button", { type: "submit", class: "button primary", testid: "add-secret" }, "Add secret");
  const form = h(
    "form",
    { class: "stack subpanel", novalidate: true },
    h("h3", {}, "Add a secret"),
    name.wrap,
    value.wrap,
    description.wrap,
    formError,
    h("div", { class: "actions" }, add),
  );

  function row(secret) {
    const remove = h(
      "button",
      { type: "button", class: "button small danger-outline", testid: "delete-secret", "aria-label": `Delete secret ${secret.name}` },
      "Delete",
    );
    remove.addEventListener("click", async () => {
      const yes = await confirmDialog({
        title: "Delete this secret?",
        message: `New runs will no longer see ${secret.name}.`,
        confirmLabel: "Delete secret",
        danger: true,
      });
      if (!yes) {
        remove.focus();
        return;
      }
      remove.disabled = true;
      try {
        await del(`/api/secrets/${seg(secret.name)}`);
        status.textContent = `Secret ${secret.name} deleted.`;
        await load();
        name.input.focus();
      } catch (e) {
        remove.disabled = false;
        if (!e.redirected) showError(listError, e.message);
      }
    });
    return h(
      "tr",
      { testid: "secret-row", dataset: { secretName: secret.name || "" } },
      h("th", { scope: "row", "data-label": "Name" }, h("code", {}, secret.name || "")),
      h("td", { "data-label": "Description" }, secret.description ? secret.description : h("span", { class: "muted" }, "—")),
      h("td", { class: "row-actions" }, remove),
    );
  }

  async function load() {
    try {
      const data = await get("/api/secrets");
      if (ctx.signal.aborted) return;
      const list = data && Array.isArray(data.custom_secrets) ? data.custom_secrets : [];
      showError(listError, "");
      replace(tbody, list.map(row));
      table.hidden = list.length === 0;
      empty.hidden = list.length !== 0;
    } catch (e) {
      if (!e.redirected) showError(listError, `Cannot load the secrets: ${e.message}`);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const n = name.input.value.trim();
    if (!NAME_RE.test(n)) {
      showError(formError, "The name must be an environment variable name, such as NPM_TOKEN.");
      name.input.focus();
      return;
    }
    if (!value.input.value) {
      showError(formError, "Enter the secret's value.");
      value.input.focus();
      return;
    }
    const body = { name: n, value: value.input.value };
    if (description.input.value.trim()) body.description = description.input.value.trim();
    showError(formError, "");
    add.disabled = true;
    try {
      await post("/api/secrets", body);
      form.reset();
      status.textContent = `Secret ${n} added.`;
      await load();
    } catch (e) {
      if (!e.redirected) showError(formError, e.message);
    } finally {
      add.disabled = false;
    }
  });

  load();
  return h(
    "section",
    { class: "card", id: "secrets", "aria-labelledby": "secrets-title" },
    h("h2", { id: "secrets-title" }, "Secrets"),
    h("p", { class: "muted" }, "Values the agent can use (tokens, passwords) without them showing up in its events."),
    status,
    listError,
    table,
    empty,
    form,
  );
}
