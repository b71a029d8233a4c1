// Queue: counts, latency, throughput, pause / resume / clear / delete, its tasks (keyset
// pages), interests, settings.

import { ApiError, gql } from "../api.js";
import { buckets, ThroughputChart } from "../chart.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { age, num } from "../format.js";
import { DELETE_QUEUE, DELETE_TASKS, PAUSE_QUEUE, QUEUE, RESUME_QUEUE, STATS, TASKS } from "../queries.js";
import { COLUMNS_BY_STATE, STATES, taskTable } from "../tasks.js";
import {
  badge, field, fill, h, onLive, Pager, queueHref, replaceQuery, section,
} from "../ui.js";
import { interestsEditor } from "./queue_interests.js";
import { settingsForm } from "./queue_settings.js";

const PAGE_SIZE = 50;
const HOUR = 3600;
// The order the page looks for tasks in when no state is asked for: waiting ones first, as in
// resque-web, then the rest; a queue holding only scheduled tasks opens on those.
const FIRST_SHOWN = ["queued", "scheduled", "started", "failed", "completed"];

/** The first state of FIRST_SHOWN with a task in it ("queued" when the queue is empty). */
export function firstNonEmpty(counts) {
  return FIRST_SHOWN.find((key) => counts[key] > 0) || "queued";
}

export async function mount({ root, params, query, feed }) {
  const [name] = params;
  document.title = `${name} · CouchQueue`;
  // "all" lists every state in publish order; no state asked: the first non-empty one.
  const asked = STATES.includes(query.get("state")) ? query.get("state") : null;
  let state = asked || "queued";

  const heading = h("h1", {}, name);
  const actions = h("div", { class: "actions" });
  const tiles = h("div", { class: "tiles" });
  const problem = h("div");
  const list = h("div");
  const listProblem = h("div");
  const pager = new Pager(() => loadTasks());
  const stateSelect = h("select", { name: "state" },
    STATES.map((s) => h("option", { value: s, selected: s === state }, s)));
  stateSelect.addEventListener("change", () => {
    state = stateSelect.value;
    replaceQuery({ state });
    pager.reset();
    loadTasks();
  });
  const interests = interestsEditor(name);
  const settings = settingsForm(name);
  const chart = new ThroughputChart();
  const chartProblem = h("div");

  const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
    h("a", { href: "#/" }, "Overview"), " › ", name);
  fill(
    root,
    crumbs,
    h("div", { class: "title-row" }, heading, actions),
    problem,
    tiles,
    section("Tasks", { id: "tasks", actions: field("State", stateSelect) }, listProblem, list, pager.el),
    section("Throughput, last hour", { id: "queue-throughput" }, chartProblem, chart.el),
    h("div", { class: "columns" },
      section("Interests", { id: "interests" }, interests.el),
      section("Settings", { id: "settings" }, settings.el)),
  );

  function showQueue(q) {
    fill(heading, q.name, q.paused ? [" ", badge("paused")] : null);
    const toggle = q.paused
      ? actionButton("Resume", () => gql(RESUME_QUEUE, { name }), {
        kind: "primary", done: () => flash(`Queue ${name} resumed.`),
      })
      : actionButton("Pause", () => gql(PAUSE_QUEUE, { name }), {
        done: () => flash(`Queue ${name} paused: nothing is handed out until it is resumed.`),
      });
    fill(actions,
      toggle,
      actionButton("Clear", () => gql(DELETE_TASKS, { queue: name }), {
        kind: "danger",
        title: "Remove every waiting (queued and scheduled) task of this queue",
        confirm: () => `Remove all ${num(q.counts.waiting)} waiting tasks of queue “${name}”? This cannot be undone.`,
        confirmLabel: "Clear queue",
        done: (data) => flash(`${num(data.deleteTasks)} waiting tasks removed.`),
      }),
      actionButton("Delete queue", () => gql(DELETE_QUEUE, { name }), {
        kind: "danger",
        confirm: `Delete queue “${name}” with its interests and its waiting, scheduled and failed tasks?`,
        done: (data) => {
          flash(`Queue ${name} deleted (${num(data.deleteQueue)} tasks removed).`);
          location.hash = "#/";
        },
      }));
    const c = q.counts;
    fill(tiles,
      ["queued", "scheduled", "started", "failed", "completed"].map((key) =>
        h("a", {
          class: `tile ${key === "failed" && c.failed ? "tile-bad" : ""}`,
          href: `${queueHref(name)}?state=${key}`,
          title: `List the ${key} tasks`,
        },
          h("span", { class: "tile-value", "data-count": key }, num(c[key])),
          h("span", { class: "tile-label" }, key))),
      h("a", { class: "tile", href: "#/workers" }, h("span", { class: "tile-value" }, num(q.workers)),
        h("span", { class: "tile-label" }, "workers")),
      h("div", { class: "tile", title: "How long the oldest ready task has waited" },
        h("span", { class: "tile-value", "data-count": "latency" }, age(q.latencySeconds)),
        h("span", { class: "tile-label" }, "latency")),
      limitTiles(q.limits),
    );
  }

  async function loadQueue(first = false) {
    try {
      const { queue } = await gql(QUEUE, { name });
      // The server answers a deleted or unknown queue's (empty) view; the page says so.
      if (!queue.exists) throw new ApiError(`no queue '${name}'`, { code: "QUEUE_NOT_FOUND" });
      showQueue(queue);
      if (first) {
        interests.show(queue.interests);
        settings.show(queue.settings);
        if (!asked) {
          state = firstNonEmpty(queue.counts);
          stateSelect.value = state;
        }
      }
      fill(problem);
      return true;
    } catch (err) {
      fill(problem, errorBox(err));
      return false;
    }
  }

  async function loadTasks() {
    try {
      const filter = state === "all" ? null : state;
      const variables = { queue: name, state: filter, first: PAGE_SIZE, after: pager.after };
      const { tasks: page } = await gql(TASKS, variables);
      fill(list, taskTable(page.tasks, {
        columns: COLUMNS_BY_STATE[state],
        empty: state === "all" ? "No tasks." : `No ${state} tasks.`,
        sort: "queue-tasks",
      }));
      pager.update(page, page.tasks.length);
      fill(listProblem);
    } catch (err) {
      fill(listProblem, errorBox(err));
    }
  }

  async function loadStats() {
    const until = Date.now() / 1000;
    const since = until - HOUR;
    try {
      const data = await gql(STATS, { queue: name, since, until: until + 60 });
      chart.update(buckets(data.stats, since, until, 60), "per minute");
      fill(chartProblem);
    } catch (err) {
      fill(chartProblem, errorBox(err));
    }
  }

  // The counts come from counters and are quick: they choose the state shown first.
  const found = await loadQueue(true);
  if (!found) {
    chart.dispose();
    fill(root, crumbs, heading, problem); // no such queue: nothing else to show
    return undefined;
  }
  await Promise.all([loadTasks(), loadStats()]);
  const mine = (e) => e.queue === name || e.queue === null;
  const stops = [
    onLive(feed, mine, () => Promise.all([loadQueue(), loadTasks()])),
    onLive(feed, (e) => mine(e) && e.kind !== "started", loadStats, { wait: 1500, gap: 5000 }),
  ];
  const tick = setInterval(loadStats, 30000);
  return () => {
    stops.forEach((stop) => stop());
    clearInterval(tick);
    chart.dispose();
  };
}

// Flow limits: each limit's use now, and the ready tasks it holds back (cluster-wide).
function limitTiles(limits) {
  if (!limits) return null;
  const tiles = [];
  if (limits.maxStarted !== null) {
    const held = limits.heldBack.maxStarted;
    tiles.push(h("div", {
      class: `tile ${held ? "tile-warn" : ""}`,
      title: `At most ${num(limits.maxStarted)} started at once; ${num(held)} ready tasks held back`,
    },
      h("span", { class: "tile-value", "data-count": "max-started" }, `${num(limits.started)} / ${num(limits.maxStarted)}`),
      h("span", { class: "tile-label" }, held ? `max started · ${num(held)} held` : "max started")));
  }
  if (limits.rateLimit !== null) {
    const held = limits.heldBack.rate;
    tiles.push(h("div", {
      class: `tile ${held ? "tile-warn" : ""}`,
      title: `At most ${num(limits.rateLimit)} claims per ${limits.ratePeriodSeconds} s; ${num(held)} ready tasks held back`,
    },
      h("span", { class: "tile-value", "data-count": "rate" }, `${num(limits.rateUsed)} / ${num(limits.rateLimit)}`),
      h("span", { class: "tile-label" }, `per ${limits.ratePeriodSeconds} s${held ? ` · ${num(held)} held` : ""}`)));
  }
  return tiles;
}
