// Overview: every queue with its counts, workers online, and throughput over time.

import { gql } from "../api.js";
import { buckets, ThroughputChart } from "../chart.js";
import { errorBox } from "../feedback.js";
import { age, num } from "../format.js";
import { OVERVIEW, STATS } from "../queries.js";
import { badge, fill, h, onLive, queueLink, section, table } from "../ui.js";

const SPANS = {
  hour: { label: "Last hour", seconds: 3600, bucket: 60, unit: "per minute" },
  day: { label: "Last 24 h", seconds: 86400, bucket: 600, unit: "per 10 minutes" },
};

function tile(label, value, href, { kind = "", key, title } = {}) {
  const body = [
    h("span", { class: "tile-value", dataset: key ? { tile: key } : null }, value),
    h("span", { class: "tile-label" }, label),
  ];
  return href
    ? h("a", { class: `tile ${kind}`, href, title }, body)
    : h("div", { class: `tile ${kind}`, title }, body);
}

const countCell = (key) => ({
  label: key[0].toUpperCase() + key.slice(1),
  class: `n c-${key}`,
  cell: (q) => num(q.counts[key]),
  sort: (q) => q.counts[key],
});

const COLUMNS = [
  {
    label: "Queue",
    class: "c-name",
    cell: (q) => [queueLink(q.name), q.paused ? [" ", badge("paused")] : null],
    sort: (q) => q.name,
  },
  countCell("queued"),
  countCell("scheduled"),
  countCell("started"),
  countCell("failed"),
  {
    label: "Latency",
    class: "n c-latency wide-only",
    cell: (q) => h("span", { title: "How long the oldest ready task has waited" }, age(q.latencySeconds)),
    sort: (q) => q.latencySeconds,
  },
  { label: "Workers", class: "n c-workers wide-only", cell: (q) => num(q.workers), sort: (q) => q.workers },
];

export async function mount({ root, feed }) {
  document.title = "Overview · CouchQueue";
  // One grid of tiles: the lifetime totals (drawn with the chart) then the counts.
  const lifetime = h("div", { class: "contents", id: "lifetime" });
  const tiles = h("div", { class: "contents" });
  const queues = h("div", { "aria-live": "off" });
  const problem = h("div");
  const chart = new ThroughputChart();
  const chartProblem = h("div");
  let span = "hour";

  const spanButtons = Object.entries(SPANS).map(([key, s]) =>
    h("button", {
      type: "button", class: "btn btn-small", "aria-pressed": String(key === span),
      onclick: () => {
        span = key;
        for (const b of spanButtons) b.setAttribute("aria-pressed", String(b.dataset.span === key));
        loadStats();
      },
      dataset: { span: key },
    }, s.label),
  );

  fill(
    root,
    h("h1", {}, "Overview"),
    problem,
    h("div", { class: "tiles" }, lifetime, tiles),
    section("Throughput", { id: "throughput", actions: h("div", { class: "toggle", role: "group", "aria-label": "Time span" }, spanButtons) },
      chartProblem, chart.el),
    section("Queues", { id: "queues" }, queues),
  );

  async function load() {
    try {
      const data = await gql(OVERVIEW);
      // Totals are summed here: asking `status` too would count every task a second time.
      const c = {};
      for (const key of ["queued", "scheduled", "started", "failed"]) {
        c[key] = data.queues.reduce((sum, q) => sum + q.counts[key], 0);
      }
      fill(tiles,
        tile("Queues", num(data.queues.length)),
        tile("Workers online", num(data.workers.length), "#/workers"),
        tile("Queued", num(c.queued)),
        tile("Scheduled", num(c.scheduled), "#/scheduled"),
        tile("Started", num(c.started)),
        tile("Failed tasks", num(c.failed), "#/failed", {
          kind: c.failed ? "tile-bad" : "", key: "failed-tasks",
          title: "Tasks in the failed list now (retried and removed ones have left it)",
        }),
      );
      fill(queues, table(COLUMNS, data.queues, {
        caption: "Queues",
        keep: true,
        sort: "overview-queues",
        empty: "No queues yet: a queue is created when its interests are registered.",
      }));
      fill(problem);
    } catch (err) {
      fill(problem, errorBox(err));
    }
  }

  async function loadStats() {
    const s = SPANS[span];
    const until = Date.now() / 1000;
    const since = until - s.seconds;
    try {
      const data = await gql(STATS, { since, until: until + 60 });
      // Drawn from one answer: the chart's legend and these tiles count the same events.
      chart.update(buckets(data.stats, since, until, s.bucket), s.unit);
      const t = data.statsTotals;
      const ever = "since counting began";
      fill(lifetime,
        tile("Processed", num(t.processed), null, { key: "processed", title: `Tasks completed or failed ${ever}` }),
        tile("Failed", num(t.failed), "#/failed", { key: "failed", title: `Tasks that went to the failed list ${ever}` }));
      fill(chartProblem);
    } catch (err) {
      fill(chartProblem, errorBox(err));
    }
  }

  await Promise.all([load(), loadStats()]);
  const stops = [
    onLive(feed, () => true, load),
    onLive(feed, (e) => e.kind !== "started", loadStats, { wait: 1500, gap: 5000 }),
  ];
  const tick = setInterval(loadStats, 30000);
  return () => {
    stops.forEach((stop) => stop());
    clearInterval(tick);
    chart.dispose();
  };
}
