/* changes: the "Changed files" panel of a conversation. GET .../git/changes lists the files the
 * agent changed; a file's button loads GET .../git/diff?path= and shows original -> modified as a
 * line diff. refresh() reloads the list (the conversation page calls it when the agent stops). */
import { h, replace, errorBox, showError } from "./dom.js";
import { get, seg } from "./api.js";
import { diffLines, renderLineDiff, countChanges } from "./diff.js";

const STATUS_TEXT = { M: "modified", A: "added", D: "deleted", U: "unmerged", R: "renamed", "?": "untracked" };

export function createChanges(ctx, conversationId) {
  const base = `/api/conversations/${seg(conversationId)}`;
  const list = h("ul", { class: "file-list", testid: "changed-files" });
  const empty = h("p", { class: "muted small" }, "No changed files yet.");
  const error = errorBox("changes-error");
  const viewer = h("div", { class: "file-diff", testid: "file-diff", "aria-live": "polite" });
  const refreshButton = h("button", { type: "button", class: "button small", testid: "refresh-changes" }, "Refresh");
  let selected = null;
  let loading = false;

  async function show(file, button) {
    for (const b of list.querySelectorAll("button[aria-pressed]")) b.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-pressed", "true");
    selected = file.path;
    replace(viewer, h("p", { class: "muted small" }, "Loading the diff…"));
    try {
      const d = await get(`${base}/git/diff?path=${encodeURIComponent(file.path)}`);
      if (ctx.signal.aborted || selected !== file.path) return;
      const ops = diffLines(d && typeof d.original === "string" ? d.original : "", d && typeof d.modified === "string" ? d.modified : "");
      const { added, removed } = countChanges(ops);
      replace(
        viewer,
        h(
          "h3",
          { class: "file-diff-title" },
          h("code", {}, file.path),
          " ",
          h("span", { class: "diff-count add" }, `+${added}`),
          " ",
          h("span", { class: "diff-count del" }, `−${removed}`),
        ),
        renderLineDiff(ops),
      );
    } catch (e) {
      if (ctx.signal.aborted || e.redirected) return;
      replace(viewer, h("p", { class: "error-box" }, `${file.path}: ${e.message}`));
    }
  }

  function row(file) {
    const code = String(file.status || "?").charAt(0).toUpperCase();
    const button = h(
      "button",
      { type: "button", class: "file-button", "aria-pressed": "false", testid: "changed-file", dataset: { path: file.path || "" } },
      h("span", { class: `file-status file-status--${code === "?" ? "q" : code.toLowerCase()}`, title: STATUS_TEXT[code] || code }, code),
      h("span", { class: "visually-hidden" }, ` ${STATUS_TEXT[code] || ""} `),
      h("span", { class: "file-path" }, file.path || ""),
    );
    button.addEventListener("click", () => show(file, button));
    return h("li", {}, button);
  }

  async function refresh() {
    if (loading) return;
    loading = true;
    refreshButton.disabled = true;
    try {
      const files = await get(`${base}/git/changes`);
      if (ctx.signal.aborted) return;
      const rows = Array.isArray(files) ? files.filter((f) => f && typeof f.path === "string") : [];
      showError(error, "");
      replace(list, rows.map(row));
      empty.hidden = rows.length > 0;
      const again = rows.find((f) => f.path === selected);
      if (again) {
        const b = [...list.querySelectorAll("button")].find((x) => x.dataset.path === selected);
        if (b) show(again, b);
      } else if (selected) {
        selected = null;
        viewer.replaceChildren();
      }
    } catch (e) {
      if (!ctx.signal.aborted && !e.redirected) showError(error, `Cannot list the changes: ${e.message}`);
    } finally {
      loading = false;
      refreshButton.disabled = false;
    }
  }
  refreshButton.addEventListener("click", refresh);

  const el = h(
    "section",
    { class: "card changes", "aria-labelledby": "changes-title" },
    h("div", { class: "section-head" }, h("h2", { id: "changes-title" }, "Changed files"), refreshButton),
    error,
    list,
    empty,
    viewer,
  );
  return { el, refresh };
}
