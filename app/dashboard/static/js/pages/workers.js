// Workers: each with its queues, the tasks it holds, when it was last seen; remove one.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { num, shortId } from "../format.js";
import { DELETE_WORKER, WORKERS } from "../queries.js";
import { canAct } from "../session.js";
import { fill, h, onLive, queueLink, section, table, taskLink, when } from "../ui.js";

const join = (nodes) => nodes.flatMap((node, i) => (i ? [", ", node] : [node]));

/** One task a worker holds: its id, queue and since when it runs. */
const running = (t) => h("li", {},
  taskLink(t.id), " ", h("span", { class: "muted" }, "in "), queueLink(t.queue),
  h("span", { class: "muted" }, " · running since "), when(t.startedAt, { relative: true }));

const COLUMNS = [
  {
    label: "Worker",
    cell: (w) => [
      h("strong", {}, w.name || "unnamed"), h("br"),
      h("code", { class: "mono muted clip", title: w.id }, w.id),
    ],
    sort: (w) => w.name,
  },
  { label: "Queues", cell: (w) => join(w.queues.map(queueLink)), sort: (w) => w.queues.join(",") },
  {
    label: "Working on",
    class: "c-running",
    cell: (w) => (w.tasks.length
      ? h("ul", { class: "running" }, w.tasks.map(running))
      : h("span", { class: "muted" }, "idle")),
    // Busiest first when sorted descending; among them, the longest running.
    sort: (w) => w.tasks.length,
  },
  { label: "Registered", cell: (w) => when(w.registeredAt, { relative: true }), sort: (w) => w.registeredAt },
  { label: "Last seen", cell: (w) => when(w.lastSeen, { relative: true }), sort: (w) => w.lastSeen },
  {
    label: "Actions",
    class: "row-actions",
    cell: (w) => actionButton("Remove", () => gql(DELETE_WORKER, { id: w.id }), {
      kind: "danger",
      confirm: `Remove worker ${w.name || shortId(w.id)}? Its started tasks go back to their queues, and it gets nothing more.`,
      done: () => flash(`Worker ${w.name || shortId(w.id)} removed.`),
    }),
  },
];

export async function mount({ root, feed }) {
  document.title = "Workers · CouchQueue";
  const problem = h("div");
  const list = h("div");
  const title = h("h1", {}, "Workers");
  fill(root, title, problem, section("Online", { id: "workers" }, list));
  let workers = [];

  const render = () => {
    fill(title, "Workers ", h("span", { class: "muted" }, `(${num(workers.length)})`));
    const columns = canAct() ? COLUMNS : COLUMNS.filter((c) => c.label !== "Actions");
    fill(list, table(columns, workers, { caption: "Workers", empty: "No worker is registered.", sort: "workers" }));
  };

  async function load() {
    try {
      ({ workers } = await gql(WORKERS));
      render();
      fill(problem);
    } catch (err) {
      fill(problem, errorBox(err));
    }
  }

  await load();
  const stop = onLive(feed, (e) => e.kind !== "published", load);
  const tick = setInterval(load, 10000);
  return () => {
    stop();
    clearInterval(tick);
  };
}
