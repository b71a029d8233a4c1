// Workers: each with its queues, the tasks it holds, when it was last seen; remove one.

import { gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { num, shortId } from "../format.js";
import { DELETE_WORKER, WORKERS } from "../queries.js";
import { canAct } from "../session.js";
import { fill, h, onLive, queueLink, section, table, taskLink, when } from "../ui.js";

const join = (nodes) => nodes.flatMap((node, i) => (i ? [", ", node] : [node]));

const COLUMNS = [
  {
    label: "Worker",
    cell: (w) => [
      h("strong", {}, w.name || "unnamed"), h("br"),
      h("code", { class: "mono muted", title: w.id }, w.id),
    ],
  },
  { label: "Queues", cell: (w) => join(w.queues.map(queueLink)) },
  {
    label: "Working on",
    cell: (w) => (w.tasks.length
      ? join(w.tasks.map((t) => [taskLink(t.id), h("span", { class: "muted" }, ` (${t.queue})`)]))
      : h("span", { class: "muted" }, "idle")),
  },
  { label: "Registered", cell: (w) => when(w.registeredAt, { relative: true }) },
  { label: "Last seen", cell: (w) => when(w.lastSeen, { relative: true }) },
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
    fill(list, table(columns, workers, { caption: "Workers", empty: "No worker is registered." }));
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
