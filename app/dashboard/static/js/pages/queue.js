// Queue: counts, pause / resume / clear / delete, its tasks (keyset pages), interests, settings.

import { ApiError, gql } from "../api.js";
import { actionButton, errorBox, flash } from "../feedback.js";
import { num } from "../format.js";
import { DELETE_QUEUE, DELETE_TASKS, PAUSE_QUEUE, QUEUE, RESUME_QUEUE, TASKS } from "../queries.js";
import { STATES, taskTable } from "../tasks.js";
import {
  badge, field, fill, h, onLive, Pager, queueHref, replaceQuery, section,
} from "../ui.js";
import { interestsEditor } from "./queue_interests.js";
import { settingsForm } from "./queue_settings.js";

const PAGE_SIZE = 50;

export async function mount({ root, params, query, feed }) {
  const [name] = params;
  document.title = `${name} · CouchQueue`;
  // Waiting tasks first, as in resque-web; "all" lists every state in publish order.
  let state = STATES.includes(query.get("state")) ? query.get("state") : "queued";

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
    replaceQuery(state === "queued" ? {} : { state });
    pager.reset();
    loadTasks();
  });
  const interests = interestsEditor(name);
  const settings = settingsForm(name);

  const crumbs = h("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
    h("a", { href: "#/" }, "Overview"), " › ", name);
  fill(
    root,
    crumbs,
    h("div", { class: "title-row" }, heading, actions),
    problem,
    tiles,
    section("Tasks", { id: "tasks", actions: field("State", stateSelect) }, listProblem, list, pager.el),
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
      fill(list, taskTable(page.tasks, { empty: state === "all" ? "No tasks." : `No ${state} tasks.` }));
      pager.update(page, page.tasks.length);
      fill(listProblem);
    } catch (err) {
      fill(listProblem, errorBox(err));
    }
  }

  // The tasks come from an index and are quick; the counts may take longer on a huge queue.
  const [found] = await Promise.all([loadQueue(true), loadTasks()]);
  if (!found) {
    fill(root, crumbs, heading, problem); // no such queue: nothing else to show
    return undefined;
  }
  const mine = (e) => e.queue === name || e.queue === null;
  const stop = onLive(feed, mine, () => Promise.all([loadQueue(), loadTasks()]));
  return stop;
}
