/* settings-webhooks: the "Webhooks" section of /settings. Lists the account's webhooks (URL,
 * events, description) with their last deliveries (status, attempts, answer), creates one (URL,
 * event checkboxes, optional description), shows its signing secret once with a Copy button and
 * a warning, and deletes one after a <dialog> confirmation. Test ids: add-webhook, webhook-url,
 * webhook-event (the checkboxes, data-event), webhook-description, create-webhook,
 * webhook-secret, copy-webhook-secret, webhook-row, webhook-deliveries, delivery-row,
 * delete-webhook, confirm (the dialog), webhook-form-error. */
import { h, replace, field, errorBox, showError, statusLine, timeEl, confirmDialog, badge, uid } from "./dom.js";
import { get, post, del, seg } from "./api.js";

const EVENTS = [
  ["conversation.finished", "Finished", "the agent finished its task"],
  ["conversation.awaiting_input", "Awaiting input", "the agent asks you something"],
  ["conversation.error", "Error", "the run stopped with an error"],
  ["conversation.status", "Status", "every status change (RUNNING, STOPPED)"],
];
const SHOWN_DELIVERIES = 5;

export function webhooksSection(ctx) {
  const status = statusLine();
  const listError = errorBox("webhooks-error");
  const list = h("ul", { class: "stack webhook-list", testid: "webhook-list" });
  const empty = h("p", { class: "muted empty" }, "No webhooks yet.");
  empty.hidden = true;

  /* ---- the form ---- */
  const addButton = h(
    "button",
    { type: "button", class: "button primary", testid: "add-webhook", "aria-expanded": "false", "aria-controls": "new-webhook-form" },
    "Add webhook",
  );
  const url = field("Payload URL", {
    kind: "url",
    required: true,
    maxlength: "2000",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "https://example.com/cloudhands-hook",
    testid: "webhook-url",
    hint: "Where the server POSTs each event, as JSON. http or https; addresses of private networks are refused unless the server's operator allows them.",
  });
  const checks = EVENTS.map(([name, label, what]) => {
    const id = uid("wh-event");
    const input = h("input", { type: "checkbox", id, value: name, testid: "webhook-event", dataset: { event: name } });
    if (name === "conversation.finished" || name === "conversation.error") input.checked = true;
    return {
      input,
      wrap: h("div", { class: "check" }, input, h("label", { for: id }, label, " ", h("span", { class: "muted" }, `— ${what}`))),
    };
  });
  const events = h("fieldset", { class: "plain" }, h("legend", {}, "Events"), checks.map((c) => c.wrap));
  const description = field("Description (optional)", {
    maxlength: "1000",
    autocomplete: "off",
    testid: "webhook-description",
  });
  const formError = errorBox("webhook-form-error");
  const create = h("button", { type: "submit", class: "button primary", testid: "create-webhook" }, "Create webhook");
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { class: "stack subpanel", id: "new-webhook-form", novalidate: true },
    h("h3", {}, "New webhook"),
    url.wrap,
    events,
    description.wrap,
    formError,
    h("div", { class: "actions" }, create, cancel),
  );
  form.hidden = true;

  /* ---- the secret, shown once ---- */
  const secretInput = h("input", {
    type: "text",
    id: "new-webhook-secret",
    readonly: true,
    class: "mono",
    testid: "webhook-secret",
    spellcheck: "false",
    autocomplete: "off",
  });
  const copy = h("button", { type: "button", class: "button primary", testid: "copy-webhook-secret" }, "Copy");
  const copyStatus = statusLine();
  const done = h("button", { type: "button", class: "button" }, "Done");
  const reveal = h(
    "div",
    { class: "subpanel new-key", testid: "webhook-secret-panel" },
    h("p", { class: "warning" }, h("strong", {}, "Copy this signing secret now: you will not see it again.")),
    h("label", { for: "new-webhook-secret" }, "Signing secret"),
    h("div", { class: "input-row" }, secretInput, copy),
    copyStatus,
    h(
      "p",
      { class: "hint" },
      "Each delivery carries ",
      h("code", {}, "X-Cloudhands-Signature: sha256=<HMAC-SHA256 of the body with this secret>"),
      ": check it before trusting the body.",
    ),
    h("div", { class: "actions" }, done),
  );
  reveal.hidden = true;

  function openForm(open) {
    form.hidden = !open;
    addButton.setAttribute("aria-expanded", String(open));
    if (open) {
      reveal.hidden = true;
      secretInput.value = "";
      showError(formError, "");
      url.input.focus();
    } else {
      form.reset();
    }
  }
  addButton.addEventListener("click", () => openForm(form.hidden));
  cancel.addEventListener("click", () => {
    openForm(false);
    addButton.focus();
  });
  done.addEventListener("click", () => {
    reveal.hidden = true;
    secretInput.value = "";
    copyStatus.textContent = "";
    addButton.focus();
  });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secretInput.value);
      copyStatus.textContent = "Copied to the clipboard.";
    } catch {
      secretInput.focus();
      secretInput.select();
      copyStatus.textContent = "The secret is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = url.input.value.trim();
    if (!/^https?:\/\/\S+$/i.test(target)) {
      showError(formError, "Enter an http or https URL, such as https://example.com/hook.");
      url.input.focus();
      return;
    }
    const chosen = checks.filter((c) => c.input.checked).map((c) => c.input.value);
    if (!chosen.length) {
      showError(formError, "Choose at least one event.");
      checks[0].input.focus();
      return;
    }
    const body = { url: target, events: chosen };
    if (description.input.value.trim()) body.description = description.input.value.trim();
    showError(formError, "");
    create.disabled = true;
    try {
      const made = await post("/api/webhooks", body);
      if (ctx.signal.aborted) return;
      openForm(false);
      secretInput.value = made && made.secret ? made.secret : "";
      copyStatus.textContent = "";
      reveal.hidden = false;
      secretInput.focus();
      secretInput.select();
      status.textContent = "Webhook created.";
      load();
    } catch (e) {
      if (!e.redirected) showError(formError, e.message);
    } finally {
      create.disabled = false;
    }
  });

  /* ---- the list ---- */
  function deliveryRow(d) {
    const answer = d.last_status_code ? String(d.last_status_code) : d.last_error ? "no answer" : "—";
    return h(
      "tr",
      { testid: "delivery-row", dataset: { deliveryId: d.id || "", status: d.status || "" } },
      h("td", { "data-label": "Event" }, h("code", {}, d.event || "")),
      h("td", { "data-label": "Status" }, badge(d.status)),
      h("td", { "data-label": "Attempts" }, String(d.attempts ?? 0)),
      h("td", { "data-label": "Answer", title: d.last_error || "" }, answer),
      h("td", { "data-label": "Made" }, timeEl(d.created_at)),
      h(
        "td",
        { "data-label": "Next attempt" },
        d.status === "pending" ? timeEl(d.next_attempt_at, { never: "—" }) : h("span", { class: "muted" }, "—"),
      ),
    );
  }

  function deliveriesFold(hook) {
    const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
    const fold = h("details", { class: "fold", testid: "webhook-deliveries" }, h("summary", {}, "Last deliveries"), body);
    let loaded = false;
    fold.addEventListener("toggle", async () => {
      if (!fold.open || loaded) return;
      loaded = true;
      try {
        const data = await get(`/api/webhooks/${seg(hook.id)}/deliveries?limit=${SHOWN_DELIVERIES}`);
        if (ctx.signal.aborted) return;
        const items = data && Array.isArray(data.deliveries) ? data.deliveries : [];
        if (!items.length) {
          replace(body, h("p", { class: "muted" }, "Nothing delivered yet."));
          return;
        }
        const errors = items.filter((d) => d.last_error).slice(0, 1);
        replace(
          body,
          h(
            "table",
            { class: "table responsive" },
            h("caption", { class: "visually-hidden" }, "Last deliveries"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Event", "Status", "Attempts", "Answer", "Made", "Next attempt"].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h("tbody", {}, items.map(deliveryRow)),
          ),
          errors.map((d) => h("p", { class: "hint" }, `Last error: ${d.last_error}`)),
        );
      } catch (e) {
        loaded = false;
        if (!e.redirected) replace(body, h("p", { class: "error-box", role: "alert" }, `Cannot load the deliveries: ${e.message}`));
      }
    });
    return fold;
  }

  function row(hook) {
    const remove = h(
      "button",
      { type: "button", class: "button small danger-outline", testid: "delete-webhook", "aria-label": `Delete the webhook to ${hook.url}` },
      "Delete",
    );
    remove.addEventListener("click", async () => {
      const yes = await confirmDialog({
        title: "Delete this webhook?",
        message: `${hook.url} will get no more events, and its pending deliveries are dropped. This cannot be undone.`,
        confirmLabel: "Delete webhook",
        danger: true,
      });
      if (!yes) {
        remove.focus();
        return;
      }
      remove.disabled = true;
      try {
        await del(`/api/webhooks/${seg(hook.id)}`);
        status.textContent = "Webhook deleted.";
        await load();
        addButton.focus();
      } catch (e) {
        remove.disabled = false;
        if (!e.redirected) showError(listError, e.message);
      }
    });
    const events = Array.isArray(hook.events) ? hook.events : [];
    return h(
      "li",
      { class: "subpanel", testid: "webhook-row", dataset: { webhookId: hook.id || "" } },
      h("div", { class: "toolbar" }, h("code", { class: "mono" }, hook.url || ""), remove),
      hook.description ? h("p", {}, hook.description) : null,
      h("p", { class: "badges" }, events.map((e) => h("span", { class: "badge" }, e))),
      h("p", { class: "muted" }, "Created ", timeEl(hook.created_at)),
      deliveriesFold(hook),
    );
  }

  async function load() {
    try {
      const data = await get("/api/webhooks");
      if (ctx.signal.aborted) return;
      showError(listError, "");
      const hooks = data && Array.isArray(data.webhooks) ? data.webhooks : [];
      replace(list, hooks.map(row));
      list.hidden = hooks.length === 0;
      empty.hidden = hooks.length !== 0;
    } catch (e) {
      if (!e.redirected) showError(listError, `Cannot load the webhooks: ${e.message}`);
    }
  }
  load();

  return h(
    "section",
    { class: "card", id: "webhooks", "aria-labelledby": "webhooks-title" },
    h("h2", { id: "webhooks-title" }, "Webhooks"),
    h(
      "p",
      { class: "muted" },
      "The server POSTs conversation events to your URL, signed with a secret shown once. Failed deliveries are retried with backoff for a day.",
    ),
    h("div", { class: "toolbar" }, addButton),
    form,
    reveal,
    status,
    listError,
    list,
    empty,
  );
}
