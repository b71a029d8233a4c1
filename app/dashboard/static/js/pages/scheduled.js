// Scheduled: delayed publishes (run now / remove) and recurring cron schedules. Retries
// waiting for their backoff are on the Retries page.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { preview, shortId } from "../format.js";
import {
  DELETE_SCHEDULE, DELETE_TASK, RUN_TASK_NOW, SCHEDULES, SET_SCHEDULE_ENABLED, TASKS,
} from "../queries.js";
import { canAct } from "../session.js";
import { taskTable } from "../tasks.js";
import { badge, fill, h, onLive, Pager, section, table, when } from "../ui.js";
import { scheduleForm } from "./schedule_form.js";

const PAGE_SIZE = 50;

const delayedActions = (t) => [
  actionButton("Run now", () => gql(RUN_TASK_NOW, { id: t.id }), {
    kind: "primary", done: () => flash(`Task ${shortId(t.id)} is ready now.`),
  }),
  actionButton("Remove", () => gql(DELETE_TASK, { id: t.id }), {
    kind: "danger",
    confirm: `Remove scheduled task ${t.id} of queue “${t.queue}”? This cannot be undone.`,
    done: () => flash(`Task ${shortId(t.id)} removed.`),
  }),
];

const SCHEDULE_COLUMNS = [
  { label: "Name", cell: (s) => h("strong", {}, s.name), sort: (s) => s.name },
  { label: "Cron", cell: (s) => [h("code", {}, s.cron), h("br"), h("span", { class: "muted" }, s.timezone)] },
  {
    label: "Publishes",
    class: "data",
    cell: (s) => [s.publisher, h("br"), h("code", { title: preview(s.data, 2000) }, preview(s.data, 50))],
  },
  {
    label: "Next run",
    cell: (s) => (s.enabled ? when(s.nextRunAt) : h("span", { class: "muted" }, "—")),
    sort: (s) => (s.enabled ? s.nextRunAt : null),
  },
  { label: "Last run", cell: (s) => when(s.lastRunAt), sort: (s) => s.lastRunAt },
  { label: "State", cell: (s) => (s.enabled ? badge("enabled") : badge("disabled")) },
  {
    label: "Actions",
    class: "row-actions",
    cell: (s) => [
      actionButton(s.enabled ? "Disable" : "Enable",
        () => gql(SET_SCHEDULE_ENABLED, { name: s.name, enabled: !s.enabled }),
        { done: () => flash(`Schedule ${s.name} ${s.enabled ? "disabled" : "enabled"}.`) }),
      actionButton("Delete", () => gql(DELETE_SCHEDULE, { name: s.name }), {
        kind: "danger",
        confirm: `Delete schedule “${s.name}”? Tasks it already published stay.`,
        done: (d) => flash(`Schedule ${s.name} ${d.deleteSchedules ? "deleted" : "was already gone"}.`),
      }),
    ],
  },
];

export async function mount({ root, feed }) {
  document.title = "Scheduled · CouchQueue";
  const delayed = h("div");
  const delayedProblem = h("div");
  const schedules = h("div");
  const schedulesProblem = h("div");
  const pager = new Pager(() => loadDelayed());
  fill(
    root,
    h("h1", {}, "Scheduled"),
    section("Delayed tasks", { id: "delayed" }, delayedProblem, delayed, pager.el),
    section("Recurring schedules", { id: "schedules" }, schedulesProblem, schedules),
    canAct() ? section("New schedule", { id: "new-schedule" }, scheduleForm().el) : null,
  );

  async function loadDelayed() {
    try {
      const variables = { state: "scheduled", retry: false, first: PAGE_SIZE, after: pager.after };
      const { tasks: page } = await gql(TASKS, variables);
      fill(delayed, taskTable(page.tasks, {
        columns: ["id", "queue", "publisher", "data", "runAt", "runIn"],
        actions: delayedActions,
        empty: "No delayed tasks.",
        sort: "delayed",
      }));
      pager.update(page, page.tasks.length);
      fill(delayedProblem);
    } catch (err) {
      fill(delayedProblem, errorBox(err));
    }
  }

  async function loadSchedules() {
    try {
      const data = await gql(SCHEDULES);
      const columns = canAct() ? SCHEDULE_COLUMNS : SCHEDULE_COLUMNS.filter((c) => c.label !== "Actions");
      fill(schedules, table(columns, data.schedules, {
        caption: "Recurring schedules", empty: "No recurring schedules yet.", sort: "schedules",
      }));
      fill(schedulesProblem);
    } catch (err) {
      fill(schedulesProblem, errorBox(err));
    }
  }

  await Promise.all([loadDelayed(), loadSchedules()]);
  const stop = onLive(feed, () => true, () => Promise.all([loadDelayed(), loadSchedules()]), {
    gap: 2000,
  });
  const tick = setInterval(loadDelayed, 15000);
  return () => {
    stop();
    clearInterval(tick);
  };
}
