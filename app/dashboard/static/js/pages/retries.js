// Retries: tasks that failed and wait for their retry backoff (attempts > 0, due later), apart
// from delayed publishes (the Scheduled page), as Sidekiq's Retries page; retry now or remove.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { shortId } from "../format.js";
import { DELETE_TASK, RUN_TASK_NOW, TASKS } from "../queries.js";
import { taskTable } from "../tasks.js";
import { fill, h, onLive, Pager, section } from "../ui.js";

const PAGE_SIZE = 50;

const retryActions = (t) => [
  actionButton("Retry now", () => gql(RUN_TASK_NOW, { id: t.id }), {
    kind: "primary", done: () => flash(`Task ${shortId(t.id)} is ready now.`),
  }),
  actionButton("Remove", () => gql(DELETE_TASK, { id: t.id }), {
    kind: "danger",
    confirm: `Remove task ${t.id} of queue “${t.queue}”, waiting for its retry? This cannot be undone.`,
    done: () => flash(`Task ${shortId(t.id)} removed.`),
  }),
];

export async function mount({ root, feed }) {
  document.title = "Retries · CouchQueue";
  const list = h("div");
  const problem = h("div");
  const pager = new Pager(() => load());
  fill(
    root,
    h("h1", {}, "Retries"),
    h("p", { class: "muted" }, "Tasks that failed and wait for their next try, by their queue's retry policy."),
    section("Waiting to be retried", { id: "retries" }, problem, list, pager.el),
  );

  async function load() {
    try {
      const variables = { state: "scheduled", retry: true, first: PAGE_SIZE, after: pager.after };
      const { tasks: page } = await gql(TASKS, variables);
      fill(list, taskTable(page.tasks, {
        columns: ["id", "queue", "retries", "nextRetry", "lastError"],
        actions: retryActions,
        empty: "No task is waiting for a retry.",
        sort: "retries",
      }));
      pager.update(page, page.tasks.length);
      fill(problem);
    } catch (err) {
      fill(problem, errorBox(err));
    }
  }

  await load();
  const wanted = (e) => e.kind !== "published" && e.kind !== "started";
  const stop = onLive(feed, wanted, load, { gap: 2000 });
  const tick = setInterval(load, 15000);
  return () => {
    stop();
    clearInterval(tick);
  };
}
