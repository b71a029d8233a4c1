// The task table the pages share, with a choice of columns.

import { num, preview } from "./format.js";
import { canAct } from "./session.js";
import { badge, h, queueLink, table, taskLink, when } from "./ui.js";

export const STATES = ["queued", "scheduled", "started", "completed", "failed", "all"];

const COLUMNS = {
  id: { label: "Task", cell: (t) => taskLink(t.id) },
  queue: { label: "Queue", cell: (t) => queueLink(t.queue) },
  state: { label: "State", cell: (t) => badge(t.state) },
  publisher: { label: "Publisher", class: "wide-only", cell: (t) => t.publisher },
  data: { label: "Data", class: "data", cell: (t) => h("code", { title: preview(t.data, 2000) }, preview(t.data, 60)) },
  created: { label: "Published", cell: (t) => when(t.createdAt) },
  runAt: { label: "Runs at", cell: (t) => when(t.runAt) },
  runIn: { label: "Runs", cell: (t) => when(t.runAt, { relative: true }) },
  failedAt: { label: "Failed at", cell: (t) => when(t.finishedAt) },
  reason: { label: "Reason", class: "reason", cell: (t) => t.failReason || h("span", { class: "muted" }, "—") },
  attempts: { label: "Attempts", class: "n wide-only", cell: (t) => num(t.attempts) },
};

const DEFAULT = ["id", "state", "publisher", "data", "created", "attempts"];

/** A table of tasks; `actions(task)` adds a last column of buttons (for those who may act). */
export function taskTable(tasks, { columns = DEFAULT, actions, empty = "No tasks." } = {}) {
  const chosen = columns.map((key) => COLUMNS[key]);
  if (actions && canAct()) chosen.push({ label: "Actions", class: "row-actions", cell: actions });
  return table(chosen, tasks, { empty, caption: "Tasks" });
}
