// Task: everything about one task, and what can be done with it.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { duration, num, pretty, shortId } from "../format.js";
import { DELETE_TASK, RETRY_FAILED, RUN_TASK_NOW, TASK } from "../queries.js";
import { badge, fill, h, onLive, queueHref, queueLink, section, table, taskLink, when } from "../ui.js";

function details(t) {
  const rows = [
    ["Id", h("code", { class: "mono" }, t.id)],
    ["Event", h("code", { class: "mono" }, t.eventId)],
    ["Queue", queueLink(t.queue)],
    ["State", badge(t.state)],
    ["Publisher", t.publisher],
    ["Parent", t.parentTaskId ? taskLink(t.parentTaskId) : "—"],
    ["Worker", t.workerId ? h("a", { href: "#/workers", class: "mono" }, t.workerId) : "—"],
    ["Scope", t.scope],
    ["Singularly", [t.singularlyEnqueue ? "enqueue" : null, t.singularlyRun ? "run" : null].filter(Boolean).join(", ") || "—"],
    ["Attempts", num(t.attempts)],
    ["Published", when(t.createdAt)],
    ["Runs at", when(t.runAt)],
    ["Started", when(t.startedAt)],
    ["Finished", when(t.finishedAt)],
  ];
  if (t.leaseUntil) rows.push(["Lease until", when(t.leaseUntil)]);
  if (t.startedAt && t.finishedAt) rows.push(["Ran for", duration(t.finishedAt - t.startedAt)]);
  if (t.failReason) rows.push(["Fail reason", trace(t.failReason)]);
  return h("dl", { class: "details" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A fail reason as the worker wrote it (a traceback keeps its lines): monospaced, scrolling
 * inside its own box rather than stretching the page. */
function trace(reason) {
  return h("pre", { class: "trace", tabindex: "0" }, reason);
}

const CHILD_COLUMNS = [
  { label: "Task", class: "nowrap", cell: (c) => taskLink(c.id) },
  { label: "Queue", cell: (c) => queueLink(c.queue) },
  { label: "State", cell: (c) => badge(c.state) },
  { label: "Published", class: "nowrap", cell: (c) => when(c.createdAt) },
];

/** A JSON value a worker reported (a result, a progress report), or a dash for none. */
function reported(value) {
  return value === null || value === undefined
    ? h("p", { class: "muted" }, "—")
    : h("pre", { class: "json", tabindex: "0" }, pretty(value));
}

const FAILURE_COLUMNS = [
  { label: "#", class: "n", cell: (f) => f.n },
  { label: "Failed at", class: "nowrap", cell: (f) => when(f.at) },
  { label: "Reason", class: "reason", cell: (f) => (f.reason ? trace(f.reason) : h("span", { class: "muted" }, "no reason given")) },
];

export async function mount({ root, params, feed }) {
  const [id] = params;
  document.title = `Task ${shortId(id)} · CouchQueue`;
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" });
  const heading = h("h1", {}, `Task ${shortId(id)}`);
  const actions = h("div", { class: "actions" });
  const problem = h("div");
  const body = h("div");
  fill(root, crumbs, h("div", { class: "title-row" }, heading, actions), problem, body);

  function show(t) {
    fill(crumbs, h("a", { href: "#/" }, "Overview"), " › ", queueLink(t.queue), " › ", `Task ${shortId(t.id)}`);
    fill(heading, `Task ${shortId(t.id)} `, badge(t.state));
    const buttons = [];
    if (t.state === "failed") {
      buttons.push(actionButton("Retry", () => gql(RETRY_FAILED, { taskId: t.id }), {
        kind: "primary", done: () => flash("Task put back in its queue."),
      }));
    }
    if (t.state === "scheduled") {
      buttons.push(actionButton("Run now", () => gql(RUN_TASK_NOW, { id: t.id }), {
        kind: "primary", done: () => flash("Task is ready now."),
      }));
    }
    if (t.state !== "started") {
      buttons.push(actionButton("Remove", () => gql(DELETE_TASK, { id: t.id }), {
        kind: "danger",
        confirm: `Remove task ${t.id} (${t.state}) from queue “${t.queue}”? This cannot be undone.`,
        done: () => {
          flash(`Task ${shortId(t.id)} removed.`);
          location.hash = queueHref(t.queue);
        },
      }));
    }
    fill(actions, buttons);
    const failures = t.failures.map((f, i) => ({ ...f, n: i + 1 }));
    fill(body,
      h("div", { class: "columns" },
        section("Details", { id: "details" }, details(t)),
        section("Data", { id: "data" }, h("pre", { class: "json", tabindex: "0" }, pretty(t.data)))),
      h("div", { class: "columns" },
        section("Result", { id: "result" }, reported(t.result)),
        section("Progress", { id: "progress" }, reported(t.progress))),
      section(`Follow-ups (${t.children.length})`, { id: "children" },
        table(CHILD_COLUMNS, t.children, { empty: "No follow-up tasks.", caption: "Follow-up tasks" })),
      section(`Failures (${failures.length})`, { id: "failures" },
        table(FAILURE_COLUMNS, failures, { empty: "No failed deliveries.", caption: "Failures" })));
  }

  async function load() {
    try {
      const { task } = await gql(TASK, { id });
      show(task);
      fill(problem);
    } catch (err) {
      fill(problem, errorBox(err));
      if (err.code === "TASK_NOT_FOUND") {
        fill(actions);
        fill(body, h("p", {}, h("a", { href: "#/search" }, "Search for a task")));
      }
    }
  }

  await load();
  return onLive(feed, (e) => e.taskId === id, load);
}
