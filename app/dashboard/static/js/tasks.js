// The task table the pages share, with a choice of columns.

import { num, preview } from "./format.js";
import { canAct } from "./session.js";
import { badge, h, queueLink, table, taskLink, when } from "./ui.js";

export const STATES = ["queued", "scheduled", "started", "completed", "failed", "all"];

const TITLE_MAX = 2000;

/** A fail reason clamped to two lines; the first of it in the tooltip, all of it on the task
 * page. */
function reasonCell(t) {
  if (!t.failReason) return h("span", { class: "muted" }, "—");
  const title = t.failReason.length > TITLE_MAX ? `${t.failReason.slice(0, TITLE_MAX)}…` : t.failReason;
  return h("span", { class: "clamp", title }, t.failReason);
}

const COLUMNS = {
  id: { label: "Task", class: "nowrap", cell: (t) => taskLink(t.id), sort: (t) => t.id },
  queue: { label: "Queue", class: "c-queue", cell: (t) => queueLink(t.queue), sort: (t) => t.queue },
  state: { label: "State", cell: (t) => badge(t.state), sort: (t) => t.state },
  publisher: { label: "Publisher", class: "wide-only", cell: (t) => t.publisher, sort: (t) => t.publisher },
  data: { label: "Data", class: "data", cell: (t) => h("code", { title: preview(t.data, 2000) }, preview(t.data, 60)) },
  created: { label: "Published", cell: (t) => when(t.createdAt), sort: (t) => t.createdAt },
  runAt: { label: "Runs at", cell: (t) => when(t.runAt), sort: (t) => t.runAt },
  runIn: { label: "Runs", cell: (t) => when(t.runAt, { relative: true }), sort: (t) => t.runAt },
  nextRetry: { label: "Next retry", cell: (t) => when(t.runAt, { relative: true }), sort: (t) => t.runAt },
  startedAt: { label: "Running since", cell: (t) => when(t.startedAt, { relative: true }), sort: (t) => t.startedAt },
  failedAt: { label: "Failed at", cell: (t) => when(t.finishedAt), sort: (t) => t.finishedAt },
  reason: { label: "Reason", class: "reason", cell: reasonCell, sort: (t) => t.failReason },
  lastError: { label: "Last error", class: "reason", cell: reasonCell, sort: (t) => t.failReason },
  attempts: { label: "Attempts", class: "n wide-only", cell: (t) => num(t.attempts), sort: (t) => t.attempts },
  retries: { label: "Attempts", class: "n", cell: (t) => num(t.attempts), sort: (t) => t.attempts },
};

const DEFAULT = ["id", "state", "publisher", "data", "created", "attempts"];

/** The columns that suit a list of tasks in one state ("all": any state). */
export const COLUMNS_BY_STATE = {
  queued: ["id", "publisher", "data", "created", "attempts"],
  scheduled: ["id", "publisher", "data", "runAt", "runIn", "attempts"],
  started: ["id", "publisher", "data", "startedAt", "attempts"],
  completed: ["id", "publisher", "data", "created", "attempts"],
  failed: ["id", "publisher", "failedAt", "reason", "attempts"],
  all: DEFAULT,
};

/** A table of tasks; `actions(task)` adds a last column of buttons (for those who may act).
 * `sort` names the table, whose columns then sort (see ui.table). */
export function taskTable(tasks, { columns = DEFAULT, actions, empty = "No tasks.", sort } = {}) {
  const chosen = columns.map((key) => COLUMNS[key]);
  if (actions && canAct()) chosen.push({ label: "Actions", class: "row-actions", cell: actions });
  return table(chosen, tasks, { empty, caption: "Tasks", sort });
}
