// Failed: the failed queue, filtered by queue, publisher and reason text; retry or remove one
// task, the filtered set, or all.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { num, shortId } from "../format.js";
import { FAILED, QUEUE_NAMES, REMOVE_FAILED, RETRY_FAILED } from "../queries.js";
import { taskTable } from "../tasks.js";
import { field, fill, h, onLive, Pager, replaceQuery, section } from "../ui.js";

const PAGE_SIZE = 50;
const FILTERS = ["queue", "publisher", "reason"];

export async function mount({ root, query, feed }) {
  document.title = "Failed · CouchQueue";
  const filters = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
  const active = () => FILTERS.some((k) => filters[k]);
  const given = () => Object.fromEntries(FILTERS.map((k) => [k, filters[k] || null]));

  const title = h("h1", {}, "Failed tasks");
  const problem = h("div");
  const list = h("div");
  const bulk = h("div", { class: "actions" });
  const pager = new Pager(() => load());
  const queues = h("datalist", { id: "failed-queues" });
  const inputs = {
    queue: h("input", { type: "text", name: "queue", list: "failed-queues", value: filters.queue, autocomplete: "off" }),
    publisher: h("input", { type: "text", name: "publisher", value: filters.publisher }),
    reason: h("input", { type: "search", name: "reason", value: filters.reason }),
  };
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter failed tasks" },
    field("Queue", inputs.queue), field("Publisher", inputs.publisher),
    field("Reason contains", inputs.reason), queues,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Filter"),
      h("button", { type: "reset", class: "btn" }, "Clear filters")));

  const apply = () => {
    for (const k of FILTERS) filters[k] = inputs[k].value.trim();
    replaceQuery(filters);
    pager.reset();
    load();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  form.addEventListener("reset", () => setTimeout(apply));

  fill(root, title, form, problem, section("Tasks", { id: "failed", actions: bulk }, list, pager.el));

  const rowActions = (t) => [
    actionButton("Retry", () => gql(RETRY_FAILED, { taskId: t.id }), {
      kind: "primary", done: () => flash(`Task ${shortId(t.id)} put back in ${t.queue}.`),
    }),
    actionButton("Remove", () => gql(REMOVE_FAILED, { taskId: t.id }), {
      kind: "danger",
      confirm: `Remove failed task ${t.id} of queue “${t.queue}”? This cannot be undone.`,
      done: () => flash(`Task ${shortId(t.id)} removed.`),
    }),
  ];

  function showBulk() {
    const buttons = [];
    if (active()) {
      buttons.push(
        actionButton("Retry matching", () => gql(RETRY_FAILED, given()), {
          kind: "primary", confirm: "Put every failed task matching these filters back in its queue?",
          done: (d) => flash(`${num(d.retryFailed)} tasks put back in their queues.`),
        }),
        actionButton("Remove matching", () => gql(REMOVE_FAILED, given()), {
          kind: "danger", confirm: "Remove every failed task matching these filters? This cannot be undone.",
          done: (d) => flash(`${num(d.removeFailed)} failed tasks removed.`),
        }),
      );
    }
    buttons.push(
      actionButton("Retry all", () => gql(RETRY_FAILED, {}), {
        kind: active() ? "" : "primary",
        confirm: "Put every failed task, of every queue, back in its queue?",
        done: (d) => flash(`${num(d.retryFailed)} tasks put back in their queues.`),
      }),
      actionButton("Remove all", () => gql(REMOVE_FAILED, {}), {
        kind: "danger",
        confirm: "Remove every failed task of every queue? This cannot be undone.",
        done: (d) => flash(`${num(d.removeFailed)} failed tasks removed.`),
      }),
    );
    fill(bulk, buttons);
  }

  async function load() {
    try {
      const data = await gql(FAILED, { ...given(), first: PAGE_SIZE, after: pager.after });
      const page = data.failedTasks;
      showBulk();
      fill(list, taskTable(page.tasks, {
        columns: ["id", "queue", "publisher", "failedAt", "reason", "attempts"],
        actions: rowActions,
        empty: active() ? "No failed task matches these filters." : "No failed tasks.",
        sort: "failed",
      }));
      pager.update(page, page.tasks.length);
      fill(problem);
    } catch (err) {
      fill(problem, errorBox(err));
    }
  }

  async function loadQueues() {
    try {
      const data = await gql(QUEUE_NAMES);
      fill(queues, data.queues.map((q) => h("option", { value: q.name })));
    } catch (err) {
      fill(problem, errorBox(err));
    }
  }

  await Promise.all([load(), loadQueues()]);
  const wanted = (e) => ["failed", "retried", "changed"].includes(e.kind);
  return onLive(feed, wanted, load);
}
