/* settings-providers: the "Git providers" section of /settings. A write-only token per provider
 * (github, gitlab, git) with "set"/"not set" from provider_tokens_set; Save sends only the tokens
 * typed (POST /api/add-git-providers, the provider checks each); "Remove all tokens" asks first
 * (POST /api/unset-provider-tokens). */
import { h, field, errorBox, showError, statusLine, confirmDialog, lockedFieldset } from "./dom.js";
import { post } from "./api.js";

const PROVIDERS = [
  ["github", "GitHub", "A personal access token with access to your repositories."],
  ["gitlab", "GitLab", "A personal access token with the api scope."],
  ["git", "Other git server", "The token for the server's own git provider, when it has one."],
];

export function providersSection(ctx, store) {
  const error = errorBox("providers-error");
  const status = statusLine();
  const rows = PROVIDERS.map(([id, label, hint]) => {
    const state = h("span", { class: "badge", testid: `token-state-${id}` }, "…");
    const f = field(`${label} token`, {
      kind: "password",
      name: `token_${id}`,
      autocomplete: "new-password",
      spellcheck: "false",
      testid: `token-${id}`,
      hint,
    });
    f.wrap.querySelector("label").append(" ", state);
    return { id, label, state, input: f.input, wrap: f.wrap };
  });
  const fields = lockedFieldset(rows.map((r) => r.wrap));
  const save = h("button", { type: "submit", class: "button primary", testid: "save-tokens" }, "Save tokens");
  const removeAll = h("button", { type: "button", class: "button danger-outline", testid: "remove-tokens", disabled: true }, "Remove all tokens");
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    fields,
    error,
    h("div", { class: "actions" }, save, removeAll),
    status,
  );

  store.subscribe((s) => {
    if (!s) return;
    fields.disabled = false;
    const set = s.provider_tokens_set && typeof s.provider_tokens_set === "object" ? s.provider_tokens_set : {};
    let any = false;
    for (const r of rows) {
      const has = Object.prototype.hasOwnProperty.call(set, r.id);
      any = any || has;
      const host = has && typeof set[r.id] === "string" && set[r.id] ? ` (${set[r.id]})` : "";
      r.state.textContent = has ? `set${host}` : "not set";
      r.state.className = `badge ${has ? "badge--set" : "badge--unset"}`;
      r.input.placeholder = has ? "set (type to replace)" : "not set";
      r.input.value = "";
    }
    removeAll.disabled = !any;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tokens = {};
    for (const r of rows) if (r.input.value.trim()) tokens[r.id] = { token: r.input.value.trim(), host: "" };
    showError(error, "");
    if (!Object.keys(tokens).length) {
      status.textContent = "Type a token to save.";
      return;
    }
    save.disabled = true;
    status.textContent = "Checking the token with its provider…";
    try {
      await post("/api/add-git-providers", { provider_tokens: tokens });
      status.textContent = "Saved.";
      await store.load();
    } catch (e) {
      status.textContent = "";
      if (!e.redirected) showError(error, e.message);
    } finally {
      save.disabled = false;
    }
  });

  removeAll.addEventListener("click", async () => {
    const yes = await confirmDialog({
      title: "Remove all git provider tokens?",
      message: "New conversations then use the server's tokens, if it has any.",
      confirmLabel: "Remove tokens",
      danger: true,
    });
    if (!yes) {
      removeAll.focus();
      return;
    }
    showError(error, "");
    try {
      await post("/api/unset-provider-tokens", {});
      status.textContent = "All tokens removed.";
      await store.load();
    } catch (e) {
      if (!e.redirected) showError(error, e.message);
    }
  });

  return h(
    "section",
    { class: "card", id: "git-providers", "aria-labelledby": "git-providers-title" },
    h("h2", { id: "git-providers-title" }, "Git providers"),
    h(
      "p",
      { class: "muted" },
      "Tokens let the server clone your repositories, push the agent's branch and open pull requests. They are checked with the provider, stored encrypted and never shown again.",
    ),
    form,
  );
}
