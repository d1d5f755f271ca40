/* page-conversations: / and /conversations. The form that starts a conversation (task,
 * repository, branch; API errors shown in data-testid "form-error") and the account's
 * conversations, newest first, 20 at a time with a "More" button (next_page_id). */
import { h, field, errorBox, showError, badge, timeEl, statusLine } from "./dom.js";
import { get, post, seg } from "./api.js";

const PAGE = 20;
const REPO_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/;

/* "owner/repo"; a pasted https://host/owner/repo(.git) URL becomes owner/repo. */
function repoName(text) {
  const t = text.trim();
  const m = t.match(/^https?:\/\/[^/]+\/(.+?)(?:\.git)?\/?$/i);
  return m ? m[1] : t;
}

function startForm(ctx) {
  const task = field("Task", {
    kind: "textarea",
    name: "task",
    rows: "4",
    required: true,
    testid: "task",
    placeholder: "What should the agent do? e.g. Check the README for incorrect information",
  });
  const repository = field("Repository (optional)", {
    name: "repository",
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
    placeholder: "owner/repo",
    testid: "repository",
  });
  const branch = field("Branch (optional)", {
    name: "branch",
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
    placeholder: "the default branch",
    testid: "branch",
  });
  const error = errorBox("form-error");
  const start = h("button", { type: "submit", class: "button primary", testid: "start" }, "Start conversation");
  const form = h(
    "form",
    { class: "stack", novalidate: true },
    task.wrap,
    h("div", { class: "field-row" }, repository.wrap, branch.wrap),
    error,
    h("div", { class: "actions" }, start, h("span", { class: "hint" }, "Ctrl+Enter starts it too.")),
  );

  task.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = task.input.value;
    const repo = repoName(repository.input.value);
    const br = branch.input.value.trim();
    if (!text.trim()) {
      showError(error, "Describe the task for the agent.");
      task.input.focus();
      return;
    }
    if (repo && !REPO_RE.test(repo)) {
      showError(error, "Write the repository as owner/repo.");
      repository.input.focus();
      return;
    }
    const body = { initial_user_msg: text };
    if (repo) body.repository = repo;
    if (br) body.selected_branch = br;
    showError(error, "");
    start.disabled = true;
    start.textContent = "Starting…";
    try {
      const made = await post("/api/conversations", body);
      if (ctx.signal.aborted) return;
      const id = made && (made.conversation_id || made.id);
      if (id) ctx.navigate(`/conversations/${seg(id)}`);
    } catch (e) {
      if (!e.redirected) showError(error, e.message);
    } finally {
      start.disabled = false;
      start.textContent = "Start conversation";
    }
  });

  return h(
    "section",
    { class: "card", "aria-labelledby": "start-title" },
    h("h2", { id: "start-title" }, "Start a conversation"),
    form,
  );
}

function listSection(ctx) {
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "table responsive conversations", testid: "conversation-table" },
    h("caption", { class: "visually-hidden" }, "Your conversations, newest first"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Title"),
        h("th", { scope: "col" }, "Repository"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Agent"),
        h("th", { scope: "col" }, "Updated"),
      ),
    ),
    tbody,
  );
  const empty = h("p", { class: "muted empty" }, "No conversations yet: start one above.");
  const error = errorBox("list-error");
  const status = statusLine();
  const more = h("button", { type: "button", class: "button", testid: "more" }, "More");
  const refresh = h("button", { type: "button", class: "button small", testid: "refresh" }, "Refresh");
  table.hidden = true;
  empty.hidden = true;
  more.hidden = true;
  let nextPage = null;
  let shown = 0;

  function row(c) {
    const id = c.conversation_id || c.id || "";
    const title = c.title || "Untitled conversation";
    return h(
      "tr",
      { testid: "conversation-row", dataset: { conversationId: id } },
      h("th", { scope: "row", "data-label": "Title", class: "title-cell" }, h("a", { href: `/conversations/${seg(id)}` }, title)),
      h(
        "td",
        { "data-label": "Repository" },
        c.selected_repository
          ? h("span", { class: "mono" }, c.selected_repository, c.selected_branch ? h("span", { class: "muted" }, ` @ ${c.selected_branch}`) : null)
          : h("span", { class: "muted" }, "—"),
      ),
      h("td", { "data-label": "Status" }, badge(c.status)),
      h("td", { "data-label": "Agent" }, c.agent_state ? badge(c.agent_state) : h("span", { class: "muted" }, "—")),
      h("td", { "data-label": "Updated" }, timeEl(c.last_updated_at || c.created_at, { never: "—" })),
    );
  }

  async function load(reset) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (!reset && nextPage) params.set("page_id", nextPage);
    more.disabled = true;
    refresh.disabled = true;
    try {
      const data = await get(`/api/conversations?${params}`);
      if (ctx.signal.aborted) return;
      const results = data && Array.isArray(data.results) ? data.results : [];
      if (reset) {
        tbody.replaceChildren();
        shown = 0;
      }
      tbody.append(...results.map(row));
      shown += results.length;
      nextPage = data && data.next_page_id ? data.next_page_id : null;
      showError(error, "");
      table.hidden = shown === 0;
      empty.hidden = shown !== 0;
      more.hidden = !nextPage;
      status.textContent = reset ? "" : `${shown} conversations shown.`;
    } catch (e) {
      if (!e.redirected) showError(error, `Cannot load the conversations: ${e.message}`);
    } finally {
      more.disabled = false;
      refresh.disabled = false;
    }
  }

  more.addEventListener("click", () => load(false));
  refresh.addEventListener("click", () => load(true));
  load(true);

  return h(
    "section",
    { class: "card", "aria-labelledby": "list-title" },
    h("div", { class: "section-head" }, h("h2", { id: "list-title" }, "Your conversations"), refresh),
    error,
    table,
    empty,
    h("div", { class: "actions center" }, more),
    status,
  );
}

export function render(main, ctx) {
  ctx.setTitle("Conversations");
  main.append(h("h1", {}, "Conversations"), startForm(ctx), listSection(ctx));
}
