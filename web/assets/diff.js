/* diff: line diffs for people. diffLines(a, b) computes a minimal line diff (longest common
 * subsequence after trimming the common start and end); renderLineDiff shows it with a few lines
 * of context; renderUnifiedDiff colours a unified diff text (an edit observation's extras.diff).
 * Lines are text nodes in <span class="diff-line add|del|ctx|hunk|meta"> inside a <pre>. */
import { h } from "./dom.js";

/* Above this many cells (changed lines of one side times the other) the table would be too big:
 * the changed middle is shown as removed and added instead. */
const MAX_CELLS = 4_000_000;

export function splitLines(text) {
  if (!text) return [];
  const lines = String(text).split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/* -> [{op: " " | "-" | "+", text, a, b}] with 1-based line numbers (a in the old, b in the new). */
export function diffLines(oldText, newText) {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops = [];
  for (let i = 0; i < start; i++) ops.push({ op: " ", text: a[i], a: i + 1, b: i + 1 });

  const n = endA - start;
  const m = endB - start;
  if (n > 0 && m > 0 && n * m <= MAX_CELLS) {
    /* lcs[i][j] = length of the LCS of a[start+i..endA) and b[start+j..endB) */
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] =
          a[start + i] === b[start + j]
            ? lcs[(i + 1) * w + j + 1] + 1
            : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[start + i] === b[start + j]) {
        ops.push({ op: " ", text: a[start + i], a: start + i + 1, b: start + j + 1 });
        i++;
        j++;
      } else if (j >= m || (i < n && lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
        ops.push({ op: "-", text: a[start + i], a: start + i + 1, b: null });
        i++;
      } else {
        ops.push({ op: "+", text: b[start + j], a: null, b: start + j + 1 });
        j++;
      }
    }
  } else {
    for (let i = start; i < endA; i++) ops.push({ op: "-", text: a[i], a: i + 1, b: null });
    for (let j = start; j < endB; j++) ops.push({ op: "+", text: b[j], a: null, b: j + 1 });
  }

  for (let k = 0; k < a.length - endA; k++)
    ops.push({ op: " ", text: a[endA + k], a: endA + k + 1, b: endB + k + 1 });
  return ops;
}

const CLASS = { " ": "ctx", "-": "del", "+": "add" };

function line(cls, sign, text, numbers) {
  return h(
    "span",
    { class: `diff-line ${cls}` },
    numbers ? h("span", { class: "ln", "aria-hidden": "true" }, numbers[0] ?? "") : null,
    numbers ? h("span", { class: "ln", "aria-hidden": "true" }, numbers[1] ?? "") : null,
    h("span", { class: "sign" }, sign),
    text,
  );
}

/* The diff with `context` unchanged lines around each change; longer unchanged runs fold into
 * one "⋯ N unchanged lines" line. */
export function renderLineDiff(ops, { context = 3 } = {}) {
  const pre = h("pre", { class: "diff", tabindex: "0" });
  const changed = ops.map((o) => o.op !== " ");
  if (!changed.includes(true)) {
    pre.append(line("meta", " ", "No differences.", null));
    return pre;
  }
  const keep = new Array(ops.length).fill(false);
  ops.forEach((o, k) => {
    if (!changed[k]) return;
    for (let d = Math.max(0, k - context); d <= Math.min(ops.length - 1, k + context); d++) keep[d] = true;
  });
  let k = 0;
  while (k < ops.length) {
    if (keep[k]) {
      const o = ops[k];
      pre.append(line(CLASS[o.op], o.op, o.text, [o.a, o.b]));
      k++;
    } else {
      let end = k;
      while (end < ops.length && !keep[end]) end++;
      const count = end - k;
      pre.append(line("hunk", "⋯", ` ${count} unchanged line${count === 1 ? "" : "s"}`, ["", ""]));
      k = end;
    }
  }
  return pre;
}

export function countChanges(ops) {
  let added = 0;
  let removed = 0;
  for (const o of ops) {
    if (o.op === "+") added++;
    else if (o.op === "-") removed++;
  }
  return { added, removed };
}

/* A unified diff text, coloured line by line. Returns {pre, added, removed, lines}. */
export function renderUnifiedDiff(text) {
  const pre = h("pre", { class: "diff", tabindex: "0" });
  let added = 0;
  let removed = 0;
  const lines = splitLines(text);
  for (const l of lines) {
    let cls = "ctx";
    if (l.startsWith("+++ ") || l.startsWith("--- ") || l.startsWith("diff ") || l.startsWith("index ") || l.startsWith("\\"))
      cls = "meta";
    else if (l.startsWith("@@")) cls = "hunk";
    else if (l.startsWith("+")) {
      cls = "add";
      added++;
    } else if (l.startsWith("-")) {
      cls = "del";
      removed++;
    }
    pre.append(h("span", { class: `diff-line ${cls}` }, l.length ? l : " "));
  }
  return { pre, added, removed, lines: lines.length };
}
