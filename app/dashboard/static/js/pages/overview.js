// Overview: every queue with its counts, workers online, and throughput over time.

import { gql } from "../api.js";
import { buckets, ThroughputChart } from "../chart.js";
import { errorBox } from "../feedback.js";
import { num } from "../format.js";
import { OVERVIEW, STATS } from "../queries.js";
import { badge, fill, h, onLive, queueLink, section, table } from "../ui.js";

const SPANS = {
  hour: { label: "Last hour", seconds: 3600, bucket: 60, unit: "per minute" },
  day: { label: "Last 24 h", seconds: 86400, bucket: 600, unit: "per 10 minutes" },
};

function tile(label, value, href, kind = "") {
  const body = [h("span", { class: "tile-value" }, value), h("span", { class: "tile-label" }, label)];
  return href ? h("a", { class: `tile ${kind}`, href }, body) : h("div", { class: `tile ${kind}` }, body);
}

const countCell = (key) => ({
  label: key[0].toUpperCase() + key.slice(1),
  class: `n c-${key}`,
  cell: (q) => num(q.counts[key]),
});

const COLUMNS = [
  {
    label: "Queue",
    class: "c-name",
    cell: (q) => [queueLink(q.name), q.paused ? [" ", badge("paused")] : null],
  },
  countCell("queued"),
  countCell("scheduled"),
  countCell("started"),
  countCell("failed"),
  { label: "Workers", class: "n c-workers wide-only", cell: (q) => num(q.workers) },
];

export async function mount({ root, feed }) {
  document.title = "Overview · CouchQueue";
  const tiles = h("div", { class: "tiles" });
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
    tiles,
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
        tile("Failed", num(c.failed), "#/failed", c.failed ? "tile-bad" : ""),
      );
      fill(queues, table(COLUMNS, data.queues, {
        caption: "Queues",
        keep: true,
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
      chart.update(buckets(data.stats, since, until, s.bucket), s.unit);
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
