/* page-conversation: /conversations/{id}. The header (editable title, status and agent_state
 * badges, repository, branches, pull requests, error), Stop and Delete, the event timeline
 * (timeline.js) loaded page by page and then followed live over the SSE stream, the follow-up
 * box, and the changed files (changes.js). The stream: EventSource from the last event id; when
 * it ends or fails, the conversation is fetched again and, while it is STARTING or RUNNING, the
 * stream is opened again after a short delay. */
import { h, replace, badge, timeEl, externalLink, errorBox, showError, statusLine, confirmDialog, uid } from "./dom.js";
import { get, post, patch, del, seg } from "./api.js";
import { createTimeline, describeState } from "./timeline.js";
import { createChanges } from "./changes.js";

const ACTIVE = new Set(["STARTING", "RUNNING"]);
const WORKING_STATES = new Set(["loading", "init", "running"]);
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

const isActive = (c) => !!c && ACTIVE.has(String(c.status || "").toUpperCase());

function notFound(main, ctx) {
  ctx.setTitle("Conversation not found");
  replace(
    main,
    h("p", {}, h("a", { href: "/conversations", class: "back" }, "← Conversations")),
    h("h1", { tabindex: "-1" }, "Conversation not found"),
    h("p", {}, "There is no such conversation in your account. It may have been deleted."),
  );
}

export function render(main, ctx) {
  const id = ctx.params[0];
  const base = `/api/conversations/${seg(id)}`;
  let conv = null;
  ctx.setTitle("Conversation");

  /* ---- header ---- */
  const title = h("h1", { class: "conv-title", testid: "title", tabindex: "-1" }, "Loading…");
  const editButton = h("button", { type: "button", class: "button small", testid: "edit-title", "aria-label": "Edit the title" }, "Edit");
  const titleInputId = uid("title");
  const titleInput = h("input", { type: "text", id: titleInputId, maxlength: "200", required: true, testid: "title-input" });
  const titleSave = h("button", { type: "submit", class: "button primary small", testid: "save-title" }, "Save");
  const titleCancel = h("button", { type: "button", class: "button small" }, "Cancel");
  const titleError = errorBox("title-error");
  const titleForm = h(
    "form",
    { class: "title-form", novalidate: true },
    h("label", { for: titleInputId, class: "visually-hidden" }, "Title"),
    titleInput,
    titleSave,
    titleCancel,
    titleError,
  );
  titleForm.hidden = true;
  const titleRow = h("div", { class: "title-row" }, title, editButton);

  const statusSlot = h("span", { class: "badge-slot" });
  const agentSlot = h("span", { class: "badge-slot" });
  const live = h("span", { class: "live", testid: "live", role: "status" });
  const facts = h("dl", { class: "facts" });
  const convError = h("div", { class: "error-box conv-error", role: "alert", testid: "conversation-error" });
  convError.hidden = true;
  const stopButton = h("button", { type: "button", class: "button", testid: "stop" }, "Stop");
  const deleteButton = h("button", { type: "button", class: "button danger-outline", testid: "delete" }, "Delete");
  const actionError = errorBox("action-error");
  const actionStatus = statusLine();

  const head = h(
    "header",
    { class: "conv-head" },
    h("p", { class: "crumbs" }, h("a", { href: "/conversations", class: "back" }, "← Conversations")),
    titleRow,
    titleForm,
    h("div", { class: "badges" }, h("span", { class: "visually-hidden" }, "Status: "), statusSlot, h("span", { class: "visually-hidden" }, " Agent: "), agentSlot, live),
    facts,
    convError,
    h("div", { class: "actions" }, stopButton, deleteButton),
    actionError,
    actionStatus,
  );

  /* ---- timeline, follow-up, changes ---- */
  const changes = createChanges(ctx, id);
  let refreshTimer = null;
  /* Live news for screen readers: the agent's replies and state changes, not every event. */
  const announcer = h("p", { class: "visually-hidden", role: "status" });
  let announce = false; /* set once the existing events are shown */
  const timeline = createTimeline({
    onEvent(ev) {
      if (ev.observation === "agent_state_changed") scheduleRefresh();
      if (!announce) return;
      if (ev.observation === "agent_state_changed") announcer.textContent = describeState(ev.extras && ev.extras.agent_state);
      else if (ev.action === "message" && ev.source === "agent") announcer.textContent = "The agent replied.";
      else if (ev.action === "finish") announcer.textContent = "The agent finished the task.";
    },
  });
  const working = h("p", { class: "working", testid: "working", "aria-hidden": "true" }, h("span", { class: "dots" }), " The agent is working…");
  working.hidden = true;
  const loadError = errorBox("events-error");

  const followupId = uid("followup");
  const followup = h("textarea", {
    id: followupId,
    rows: "3",
    testid: "followup",
    placeholder: "Ask a follow-up, answer a question, or give more instructions",
  });
  const send = h("button", { type: "submit", class: "button primary", testid: "send" }, "Send");
  const followError = errorBox("followup-error");
  const followStatus = statusLine();
  const followForm = h(
    "form",
    { class: "followup stack", novalidate: true },
    h("label", { for: followupId }, "Message the agent"),
    followup,
    followError,
    h("div", { class: "actions" }, send, h("span", { class: "hint" }, "Ctrl+Enter sends.")),
    followStatus,
  );

  const layout = h(
    "div",
    { class: "conv-layout" },
    h(
      "section",
      { class: "conv-main", "aria-labelledby": "timeline-title" },
      h("h2", { id: "timeline-title", class: "visually-hidden" }, "Timeline"),
      loadError,
      timeline.el,
      working,
      announcer,
      followForm,
    ),
    h("aside", { class: "conv-side" }, changes.el),
  );
  main.append(head, layout);

  /* ---- the conversation's facts ---- */
  function fact(label, ...value) {
    return [h("dt", {}, label), h("dd", {}, ...value)];
  }

  function show(c) {
    conv = c;
    const t = c.title || "Untitled conversation";
    title.textContent = t;
    ctx.setTitle(t);
    replace(statusSlot, badge(c.status, { testid: "status" }));
    replace(agentSlot, c.agent_state ? badge(c.agent_state, { testid: "agent-state" }) : h("span", { class: "badge badge--unknown", testid: "agent-state", dataset: { value: "" } }, "—"));

    const rows = [];
    if (c.selected_repository) rows.push(fact("Repository", h("span", { class: "mono" }, c.selected_repository)));
    if (c.selected_branch) rows.push(fact("Base branch", h("code", {}, c.selected_branch)));
    if (c.branch) rows.push(fact("Work branch", h("code", {}, c.branch)));
    const prs = Array.isArray(c.pull_requests) ? c.pull_requests.filter((p) => p && p.url) : [];
    if (prs.length)
      rows.push(
        fact(
          prs.length === 1 ? "Pull request" : "Pull requests",
          prs.map((p, i) => [i ? ", " : "", externalLink(p.url, `#${p.number ?? "?"}`, { testid: "pr-link", class: "pr-link" })]),
        ),
      );
    rows.push(fact("Started", timeEl(c.created_at, { never: "—" })));
    rows.push(fact("Updated", timeEl(c.last_updated_at, { never: "—" })));
    const m = c.metrics;
    if (m && typeof m === "object" && m.llm_calls) {
      const tokens = (Number(m.prompt_tokens) || 0) + (Number(m.completion_tokens) || 0);
      let text = `${m.llm_calls} model call${m.llm_calls === 1 ? "" : "s"}, ${tokens.toLocaleString()} tokens`;
      if (Number(m.cost_usd) > 0) text += `, $${Number(m.cost_usd).toFixed(4)}`;
      rows.push(fact("Usage", text));
    }
    replace(facts, rows);

    showError(convError, c.error || "");
    stopButton.disabled = !isActive(c);
    const state = String(c.agent_state || "").toLowerCase();
    working.hidden = !(isActive(c) && (WORKING_STATES.has(state) || !state));
  }

  async function refresh() {
    try {
      const c = await get(base);
      if (ctx.signal.aborted) return null;
      if (c === null) {
        closeStream();
        notFound(main, ctx);
        return null;
      }
      show(c);
      return c;
    } catch (e) {
      if (!ctx.signal.aborted && !e.redirected) showError(actionError, `Cannot load the conversation: ${e.message}`);
      return conv;
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      const c = await refresh();
      if (c && !isActive(c)) changes.refresh();
    }, 250);
  }

  /* ---- events ---- */
  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 160;
  }

  function addLive(ev) {
    const follow = nearBottom();
    if (timeline.add(ev) && follow) working.scrollIntoView({ block: "nearest" });
  }

  /* Every event after the last one shown, page by page. */
  async function catchUp() {
    let start = timeline.lastId + 1;
    for (let pages = 0; pages < 10000; pages++) {
      const data = await get(`${base}/events?start_id=${start}&limit=100`);
      if (ctx.signal.aborted) return;
      const events = data && Array.isArray(data.events) ? data.events : [];
      for (const ev of events) timeline.add(ev);
      if (!data || !data.has_more || !events.length) return;
      start = Math.max(timeline.lastId + 1, start + 1);
    }
  }

  /* ---- the live stream ---- */
  let source = null;
  let retryTimer = null;
  let retryMs = RETRY_MIN_MS;

  function setLive(mode) {
    live.dataset.mode = mode;
    live.textContent = mode === "live" ? "Live" : mode === "reconnecting" ? "Reconnecting…" : "";
  }

  function closeStream() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (source) {
      source.close();
      source = null;
    }
  }

  function connect() {
    if (source || ctx.signal.aborted) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    const last = timeline.lastId;
    const url = `${base}/events/stream${last >= 0 ? `?last_event_id=${last}` : ""}`;
    const es = new EventSource(url);
    source = es;
    setLive("live");
    es.addEventListener("open", () => {
      retryMs = RETRY_MIN_MS;
      setLive("live");
    });
    es.addEventListener("message", (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      if (ev && (ev.id === undefined || ev.id === null) && m.lastEventId !== "") ev.id = Number(m.lastEventId);
      addLive(ev);
    });
    es.addEventListener("error", () => {
      if (source !== es) return;
      es.close();
      source = null;
      streamEnded();
    });
  }

  async function streamEnded() {
    if (ctx.signal.aborted) return;
    try {
      await catchUp();
    } catch (e) {
      /* the stream comes back with what is missing */
    }
    const c = await refresh();
    if (ctx.signal.aborted || !c) return;
    if (isActive(c)) {
      setLive("reconnecting");
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    } else {
      setLive("idle");
      timeline.settle();
      changes.refresh();
    }
  }

  ctx.signal.addEventListener("abort", () => {
    closeStream();
    clearTimeout(refreshTimer);
  });

  /* ---- title editing ---- */
  function editTitle(open) {
    titleForm.hidden = !open;
    titleRow.hidden = open;
    showError(titleError, "");
    if (open) {
      titleInput.value = conv && conv.title ? conv.title : "";
      titleInput.focus();
      titleInput.select();
    } else {
      editButton.focus();
    }
  }
  editButton.addEventListener("click", () => editTitle(true));
  titleCancel.addEventListener("click", () => editTitle(false));
  titleInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") editTitle(false);
  });
  titleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = titleInput.value.trim();
    if (!t) {
      showError(titleError, "The title cannot be empty.");
      return;
    }
    titleSave.disabled = true;
    try {
      const ok = await patch(base, { title: t });
      if (ok === false) throw new Error("This conversation no longer exists.");
      if (conv) conv.title = t;
      title.textContent = t;
      ctx.setTitle(t);
      editTitle(false);
      actionStatus.textContent = "Title saved.";
    } catch (e) {
      if (!e.redirected) showError(titleError, e.message);
    } finally {
      titleSave.disabled = false;
    }
  });

  /* ---- stop, delete ---- */
  stopButton.addEventListener("click", async () => {
    showError(actionError, "");
    stopButton.disabled = true;
    try {
      await post(`${base}/stop`, {});
      actionStatus.textContent = "Stopping the agent…";
    } catch (e) {
      if (!e.redirected) showError(actionError, e.message);
    }
    const c = await refresh();
    if (c && !isActive(c)) actionStatus.textContent = "The agent is stopped.";
  });

  deleteButton.addEventListener("click", async () => {
    const yes = await confirmDialog({
      title: "Delete this conversation?",
      message: "Its events and workspace are deleted for good. Pushed branches and pull requests stay.",
      confirmLabel: "Delete",
      danger: true,
    });
    if (!yes) {
      deleteButton.focus();
      return;
    }
    showError(actionError, "");
    deleteButton.disabled = true;
    try {
      await del(base);
      closeStream();
      ctx.navigate("/conversations");
    } catch (e) {
      deleteButton.disabled = false;
      if (!e.redirected) showError(actionError, e.message);
    }
  });

  /* ---- follow-up ---- */
  followup.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      followForm.requestSubmit();
    }
  });
  followForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = followup.value;
    if (!text.trim()) {
      showError(followError, "Write a message first.");
      followup.focus();
      return;
    }
    showError(followError, "");
    send.disabled = true;
    followStatus.textContent = "Sending…";
    try {
      await post(`${base}/message`, { message: text });
      followup.value = "";
      followStatus.textContent = "Sent.";
      setTimeout(() => {
        if (followStatus.textContent === "Sent.") followStatus.textContent = "";
      }, 4000);
      retryMs = RETRY_MIN_MS;
      await refresh();
      connect();
    } catch (e) {
      followStatus.textContent = "";
      if (!e.redirected) showError(followError, e.message);
    } finally {
      send.disabled = false;
    }
  });

  /* ---- start ---- */
  (async () => {
    const c = await refresh();
    if (!c || ctx.signal.aborted) return;
    try {
      await catchUp();
    } catch (e) {
      if (ctx.signal.aborted || e.redirected) return;
      showError(loadError, `Cannot load the events: ${e.message}`);
    }
    if (ctx.signal.aborted) return;
    announce = true;
    if (isActive(conv)) connect();
    else {
      setLive("idle");
      timeline.settle();
    }
    changes.refresh();
  })();
}
