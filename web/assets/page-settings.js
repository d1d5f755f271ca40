/* page-settings: /settings. Puts the sections together (API Keys, LLM, Git providers, Secrets,
 * Git identity, Webhooks) and owns the two that edit /api/settings directly: LLM (model, base URL, a
 * write-only key shown as "set"/"not set", max iterations) and Git identity. Saving sends only
 * the fields that changed. */
import { h, field, errorBox, showError, statusLine, lockedFieldset } from "./dom.js";
import { get, post } from "./api.js";
import { keysSection } from "./settings-keys.js";
import { providersSection } from "./settings-providers.js";
import { secretsSection } from "./settings-secrets.js";
import { webhooksSection } from "./settings-webhooks.js";

/* The account's settings, shared by the sections that show them. */
function settingsStore(ctx) {
  const subscribers = [];
  let value = null;
  return {
    get value() {
      return value;
    },
    subscribe(fn) {
      subscribers.push(fn);
      if (value) fn(value);
    },
    async load() {
      try {
        const s = await get("/api/settings");
        if (ctx.signal.aborted) return;
        value = s || {};
        for (const fn of subscribers) fn(value, null);
      } catch (e) {
        if (!e.redirected) for (const fn of subscribers) fn(null, e);
      }
    },
  };
}

const str = (v) => (v === null || v === undefined ? "" : String(v));

function llmSection(ctx, store) {
  const models = h("datalist", { id: "llm-models" });
  const model = field("Model", {
    name: "llm_model",
    list: "llm-models",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. gpt-4o or anthropic/claude-sonnet-4-20250514",
    testid: "llm-model",
  });
  const baseUrl = field("Base URL", {
    kind: "url",
    name: "llm_base_url",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "https://api.openai.com/v1",
    testid: "llm-base-url",
  });
  const keyState = h("span", { class: "badge", testid: "llm-key-state" }, "…");
  const apiKey = field("API key", {
    kind: "password",
    name: "llm_api_key",
    autocomplete: "new-password",
    spellcheck: "false",
    testid: "llm-api-key",
    hint: "Write-only: a stored key is never shown. Type a new one to replace it.",
  });
  apiKey.wrap.querySelector("label").append(" ", keyState);
  const removeKey = h("input", { type: "checkbox", id: "llm-remove-key", testid: "llm-remove-key" });
  const removeWrap = h("div", { class: "check" }, removeKey, h("label", { for: "llm-remove-key" }, "Remove the stored API key"));
  removeWrap.hidden = true;
  const maxIter = field("Max iterations", {
    kind: "number",
    name: "max_iterations",
    min: "1",
    step: "1",
    inputmode: "numeric",
    testid: "llm-max-iterations",
    hint: "Agent steps per task before it stops and asks.",
  });
  const error = errorBox("llm-error");
  const status = statusLine();
  const save = h("button", { type: "submit", class: "button primary", testid: "save-llm" }, "Save");
  const fields = lockedFieldset(model.wrap, models, baseUrl.wrap, apiKey.wrap, removeWrap, maxIter.wrap);
  const form = h("form", { class: "stack", novalidate: true }, fields, error, h("div", { class: "actions" }, save), status);

  store.subscribe((s, err) => {
    if (err) return showError(error, `Cannot load the settings: ${err.message}`);
    fields.disabled = false;
    model.input.value = str(s.llm_model);
    baseUrl.input.value = str(s.llm_base_url);
    maxIter.input.value = str(s.max_iterations);
    apiKey.input.value = "";
    removeKey.checked = false;
    const set = !!s.llm_api_key_set;
    keyState.textContent = set ? "set" : "not set";
    keyState.className = `badge ${set ? "badge--set" : "badge--unset"}`;
    apiKey.input.placeholder = set ? "set (type to replace)" : "not set";
    removeWrap.hidden = !set;
  });

  get("/api/options/models")
    .then((list) => {
      const names = Array.isArray(list) ? list : list && Array.isArray(list.models) ? list.models : [];
      models.replaceChildren(...names.filter((n) => typeof n === "string").map((n) => h("option", { value: n })));
    })
    .catch(() => {});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const s = store.value || {};
    const body = {};
    if (model.input.value.trim() !== str(s.llm_model)) body.llm_model = model.input.value.trim();
    if (baseUrl.input.value.trim() !== str(s.llm_base_url)) body.llm_base_url = baseUrl.input.value.trim();
    if (maxIter.input.value !== str(s.max_iterations)) {
      const n = Number(maxIter.input.value);
      if (maxIter.input.value === "") body.max_iterations = null;
      else if (!Number.isInteger(n) || n < 1) {
        showError(error, "Max iterations must be a whole number of at least 1.");
        maxIter.input.focus();
        return;
      } else body.max_iterations = n;
    }
    if (apiKey.input.value) body.llm_api_key = apiKey.input.value;
    else if (removeKey.checked) body.llm_api_key = "";
    showError(error, "");
    if (!Object.keys(body).length) {
      status.textContent = "Nothing changed.";
      return;
    }
    save.disabled = true;
    status.textContent = "Saving…";
    try {
      await post("/api/settings", body);
      status.textContent = "Saved.";
      await store.load();
    } catch (e) {
      status.textContent = "";
      if (!e.redirected) showError(error, e.message);
    } finally {
      save.disabled = false;
    }
  });

  return h(
    "section",
    { class: "card", id: "llm", "aria-labelledby": "llm-title" },
    h("h2", { id: "llm-title" }, "LLM"),
    h(
      "p",
      { class: "muted" },
      "The model your conversations use. Empty fields fall back to the server's defaults. Any OpenAI-compatible server works, and Anthropic for anthropic/… models.",
    ),
    form,
  );
}

function identitySection(ctx, store) {
  const name = field("Author name", { name: "git_user_name", autocomplete: "name", testid: "git-user-name" });
  const email = field("Author email", { kind: "email", name: "git_user_email", autocomplete: "email", testid: "git-user-email" });
  const error = errorBox("identity-error");
  const status = statusLine();
  const save = h("button", { type: "submit", class: "button primary", testid: "save-identity" }, "Save");
  const fields = lockedFieldset(name.wrap, email.wrap);
  const form = h("form", { class: "stack", novalidate: true }, fields, error, h("div", { class: "actions" }, save), status);

  store.subscribe((s) => {
    if (!s) return;
    fields.disabled = false;
    name.input.value = str(s.git_user_name);
    email.input.value = str(s.git_user_email);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const s = store.value || {};
    const body = {};
    if (name.input.value.trim() !== str(s.git_user_name)) body.git_user_name = name.input.value.trim();
    if (email.input.value.trim() !== str(s.git_user_email)) body.git_user_email = email.input.value.trim();
    showError(error, "");
    if (!Object.keys(body).length) {
      status.textContent = "Nothing changed.";
      return;
    }
    if (body.git_user_email && !email.input.checkValidity()) {
      showError(error, "Enter an email address such as you@example.com.");
      email.input.focus();
      return;
    }
    save.disabled = true;
    status.textContent = "Saving…";
    try {
      await post("/api/settings", body);
      status.textContent = "Saved.";
      await store.load();
    } catch (e) {
      status.textContent = "";
      if (!e.redirected) showError(error, e.message);
    } finally {
      save.disabled = false;
    }
  });

  return h(
    "section",
    { class: "card", id: "git-identity", "aria-labelledby": "git-identity-title" },
    h("h2", { id: "git-identity-title" }, "Git identity"),
    h("p", { class: "muted" }, "The author of the commits the agent makes for you."),
    form,
  );
}

export function render(main, ctx) {
  ctx.setTitle("Settings");
  const store = settingsStore(ctx);
  const sections = [
    ["#api-keys", "API Keys"],
    ["#llm", "LLM"],
    ["#git-providers", "Git providers"],
    ["#secrets", "Secrets"],
    ["#git-identity", "Git identity"],
    ["#webhooks", "Webhooks"],
  ];
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Settings"),
      h(
        "nav",
        { class: "toc", "aria-label": "Settings sections" },
        h("ul", {}, sections.map(([href, label]) => h("li", {}, h("a", { href }, label)))),
      ),
    ),
    keysSection(ctx),
    llmSection(ctx, store),
    providersSection(ctx, store),
    secretsSection(ctx),
    identitySection(ctx, store),
    webhooksSection(ctx),
  );
  store.load();
}
