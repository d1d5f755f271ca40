/* timeline: a conversation's events as a person reads them. createTimeline() gives an <ol> and
 * add(event), which dedupes by id, keeps id order, and pairs each observation with the action
 * that caused it (a command and its output, an edit and its diff, a read and the file). Every
 * item is <li data-testid="event" data-event-id="N" data-kind="...">; a paired observation's id
 * is on its action's item as data-observation-id. Everything is text: nothing is parsed as HTML. */
import { h, localTime, externalLink } from "./dom.js";
import { renderUnifiedDiff } from "./diff.js";

const OPEN_LINES = 12; /* outputs up to this many lines start unfolded */

const STATE_TEXT = {
  loading: "The agent is starting.",
  init: "The agent is starting.",
  running: "The agent is working.",
  awaiting_user_input: "The agent is waiting for your reply.",
  finished: "The agent finished.",
  stopped: "The agent was stopped.",
  paused: "The agent is paused.",
  error: "The agent stopped with an error.",
  rate_limited: "The agent is waiting: rate limited.",
};

/* One sentence for an agent state ("The agent finished."). */
export function describeState(s) {
  const key = String(s || "");
  return STATE_TEXT[key] || `Agent state: ${key.replace(/_/g, " ")}`;
}

function lineCount(text) {
  if (!text) return 0;
  return String(text).split("\n").length;
}

/* Plain text with ``` fences as code blocks and `inline code`; no other markup. */
export function richText(text, cls = "rich") {
  const box = h("div", { class: cls });
  const parts = String(text ?? "").split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const body = part.replace(/^[\w+-]*\n/, "");
      box.append(h("pre", { class: "code" }, body.replace(/\n$/, "")));
      return;
    }
    const trimmed = part.replace(/^\n+|\n+$/g, "");
    if (!trimmed) return;
    for (const para of trimmed.split(/\n{2,}/)) {
      const p = h("p");
      para.split(/(`[^`\n]+`)/).forEach((chunk, k) => {
        if (k % 2 === 1) p.append(h("code", {}, chunk.slice(1, -1)));
        else if (chunk) p.append(chunk);
      });
      box.append(p);
    }
  });
  return box;
}

function timeOf(ev) {
  if (!ev.timestamp) return null;
  const t = localTime(ev.timestamp);
  const short = (() => {
    const d = new Date(String(ev.timestamp).replace(/(\.\d{3})\d+/, "$1"));
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString();
  })();
  return h("time", { class: "event-time", datetime: ev.timestamp, title: t }, short);
}

function item(ev, kind, label, icon, ...body) {
  return h(
    "li",
    { class: `event event--${kind}`, testid: "event", dataset: { eventId: String(ev.id), kind } },
    h(
      "div",
      { class: "event-head" },
      h("span", { class: "event-icon", "aria-hidden": "true" }, icon),
      h("span", { class: "event-label" }, label),
      timeOf(ev),
    ),
    ...body,
  );
}

function thought(ev) {
  const t = ev.args && typeof ev.args.thought === "string" ? ev.args.thought.trim() : "";
  return t ? h("div", { class: "thought" }, h("span", { class: "visually-hidden" }, "Thought: "), richText(t)) : null;
}

function fold(summary, content, { open = false, cls = "output" } = {}) {
  const details = h("details", { class: `fold ${cls}` }, h("summary", {}, summary), content);
  if (open) details.open = true;
  return details;
}

function outputPre(text) {
  return text ? h("pre", { class: "output-text", tabindex: "0" }, text) : h("p", { class: "muted small" }, "(no output)");
}

/* ---- actions ------------------------------------------------------------------------------ */

function renderAction(ev, state) {
  const args = ev.args || {};
  switch (ev.action) {
    case "message": {
      if (ev.source === "user") {
        const first = !state.taskShown;
        state.taskShown = true;
        return first
          ? item(ev, "task", "Task", "✎", richText(args.content ?? ev.message))
          : item(ev, "user", "You", "›", richText(args.content ?? ev.message));
      }
      return item(ev, "answer", "Agent", "◆", richText(args.content ?? ev.message));
    }
    case "run": {
      const setup = ev.source === "environment";
      const li = item(
        ev,
        "command",
        setup ? "Setup script" : "Command",
        "$",
        thought(ev),
        h("pre", { class: "command-line" }, h("span", { class: "prompt", "aria-hidden": "true" }, "$ "), args.command || ""),
        h("p", { class: "pending-note muted small" }, "Running…"),
      );
      li.classList.add("pending");
      return li;
    }
    case "edit": {
      const verb = args.command === "create" ? "Created" : "Edited";
      const li = item(ev, "edit", `${verb} `, "✚", thought(ev), h("p", { class: "pending-note muted small" }, "Editing…"));
      li.querySelector(".event-label").append(h("code", { class: "path" }, args.path || ""));
      li.classList.add("pending");
      return li;
    }
    case "read": {
      const li = item(ev, "read", "Read ", "≡", thought(ev));
      li.querySelector(".event-label").append(h("code", { class: "path" }, args.path || ""));
      li.classList.add("pending");
      return li;
    }
    case "think":
      return item(ev, "think", "Thought", "…", richText(args.thought ?? ev.message));
    case "finish": {
      const text = args.final_thought ?? ev.message ?? "";
      return item(ev, "final", "Finished", "✓", thought(ev), richText(text || "The task is done."));
    }
    default:
      return item(ev, "other", ev.action || "Action", "•", thought(ev), ev.message ? richText(ev.message) : null);
  }
}

/* ---- observations --------------------------------------------------------------------------- */

function exitBadge(code) {
  const ok = code === 0;
  const known = typeof code === "number";
  return h(
    "span",
    { class: `exit ${ok ? "exit--ok" : "exit--fail"}`, testid: "exit-code" },
    known ? `exit ${code}` : "exit ?",
  );
}

/* What an observation adds to its action's item. */
function observationBody(ev) {
  const extras = ev.extras || {};
  switch (ev.observation) {
    case "run": {
      const code = extras.metadata && typeof extras.metadata.exit_code === "number" ? extras.metadata.exit_code : null;
      const n = lineCount(ev.content);
      const summary = h("span", {}, "Output ", h("span", { class: "muted" }, n ? `(${n} line${n === 1 ? "" : "s"})` : "(none)"), " ", exitBadge(code));
      return fold(summary, outputPre(ev.content), { open: n > 0 && n <= OPEN_LINES });
    }
    case "edit": {
      if (typeof extras.diff === "string" && extras.diff) {
        const d = renderUnifiedDiff(extras.diff);
        const summary = h(
          "span",
          {},
          "Diff ",
          h("span", { class: "diff-count add" }, `+${d.added}`),
          " ",
          h("span", { class: "diff-count del" }, `−${d.removed}`),
        );
        return fold(summary, d.pre, { open: d.lines <= 60, cls: "diff-fold" });
      }
      return fold("Result", outputPre(ev.content), { open: lineCount(ev.content) <= OPEN_LINES });
    }
    case "read": {
      const n = lineCount(ev.content);
      return fold(h("span", {}, "Contents ", h("span", { class: "muted" }, `(${n} line${n === 1 ? "" : "s"})`)), outputPre(ev.content));
    }
    case "think":
      return null;
    case "error":
      return h("div", { class: "event-error", role: "note" }, h("strong", {}, "Error: "), richText(ev.content || ev.message || ""));
    default:
      return ev.content ? fold(ev.observation || "Result", outputPre(ev.content)) : null;
  }
}

function renderObservation(ev) {
  const extras = ev.extras || {};
  switch (ev.observation) {
    case "agent_state_changed": {
      const s = String(extras.agent_state || "");
      const li = item(ev, "state", describeState(s), "●");
      li.classList.add(`state--${s.toLowerCase().replace(/[^a-z0-9_-]/g, "")}`);
      if (extras.reason) li.append(h("p", { class: s === "error" ? "event-error" : "muted small" }, extras.reason));
      return li;
    }
    case "recall":
      return item(
        ev,
        "info",
        ev.message || "Added workspace context",
        "ℹ",
        ev.content ? fold("Context given to the agent", outputPre(ev.content)) : null,
      );
    case "git": {
      const pr = extras.pull_request;
      return item(
        ev,
        "git",
        "Git",
        "⎇",
        richText(ev.content || ev.message || ""),
        extras.branch ? h("p", { class: "small" }, "Branch ", h("code", {}, extras.branch)) : null,
        pr && pr.url
          ? h("p", { class: "small" }, externalLink(pr.url, `Pull request${pr.number ? ` #${pr.number}` : ""}`, { testid: "pr-link" }))
          : null,
      );
    }
    case "error":
      return item(ev, "error", "Error", "!", richText(ev.content || ev.message || ""));
    case "run":
    case "edit":
    case "read": {
      const li = item(ev, "observation", ev.observation === "run" ? "Command output" : ev.observation === "edit" ? "File edit" : "File read", "·");
      const body = observationBody(ev);
      if (body) li.append(body);
      return li;
    }
    case "think":
      return null;
    default:
      return item(ev, "other", ev.observation || "Event", "·", ev.content ? fold("Details", outputPre(ev.content)) : null);
  }
}

/* ---- the list ---------------------------------------------------------------------------- */

export function createTimeline({ onEvent } = {}) {
  const el = h("ol", { class: "timeline", testid: "timeline", "aria-label": "Events" });
  const seen = new Set();
  const actionItems = new Map(); /* action id -> its <li> */
  const state = { taskShown: false };
  let lastId = -1;

  function place(li, id) {
    const last = el.lastElementChild;
    if (!last || Number(last.dataset.eventId) < id) {
      el.append(li);
      return;
    }
    for (const other of el.children) {
      if (Number(other.dataset.eventId) > id) {
        el.insertBefore(li, other);
        return;
      }
    }
    el.append(li);
  }

  /* Adds one event; false when it was seen before (or has no id). */
  function add(ev) {
    if (!ev || typeof ev !== "object" || ev.id === null || ev.id === undefined) return false;
    const id = Number(ev.id);
    if (!Number.isFinite(id) || seen.has(id)) return false;
    seen.add(id);
    if (id > lastId) lastId = id;

    if (ev.action) {
      const li = renderAction(ev, state);
      if (li) {
        actionItems.set(id, li);
        place(li, id);
      }
    } else if (ev.observation) {
      const cause = ev.cause === null || ev.cause === undefined ? null : Number(ev.cause);
      const target = cause !== null ? actionItems.get(cause) : null;
      if (target && ev.observation !== "agent_state_changed") {
        target.classList.remove("pending");
        const note = target.querySelector(".pending-note");
        if (note) note.remove();
        if (ev.observation === "error") target.classList.add("has-error");
        const body = observationBody(ev);
        if (body) target.append(body);
        target.dataset.observationId = String(id);
      } else {
        const li = renderObservation(ev);
        if (li) place(li, id);
      }
    }
    if (onEvent) onEvent(ev);
    return true;
  }

  /* Actions still waiting for their observation once the agent stopped: not running any more. */
  function settle() {
    for (const li of el.querySelectorAll(".pending")) {
      li.classList.remove("pending");
      const note = li.querySelector(".pending-note");
      if (note) note.textContent = "No result.";
    }
  }

  return {
    el,
    add,
    settle,
    get lastId() {
      return lastId;
    },
    get size() {
      return seen.size;
    },
  };
}
