// Search: a task by its id, or tasks by a field of their data (following the server's cursor
// to search further, since each call reads a bounded number of tasks).

import { gql } from "../api.js";
import { errorText } from "../feedback.js";
import { num } from "../format.js";
import { FIND_TASK, QUEUE_NAMES, SEARCH } from "../queries.js";
import { taskTable } from "../tasks.js";
import { field, fill, h, replaceQuery, section, taskHref } from "../ui.js";

const PAGE_SIZE = 100;

function byId() {
  const input = h("input", { type: "text", name: "id", required: true, autocomplete: "off", class: "code", placeholder: "32 hex digits" });
  const error = h("p", { class: "field-error", role: "alert" });
  const form = h("form", { class: "inline-form", role: "search", "aria-label": "Find a task by id" },
    field("Task id", input), h("button", { type: "submit", class: "btn btn-primary" }, "Open"), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (!id) {
      fill(error, "Enter a task id.");
      return;
    }
    try {
      const { task } = await gql(FIND_TASK, { id });
      location.hash = taskHref(task.id);
    } catch (err) {
      fill(error, errorText(err));
    }
  });
  return form;
}

export async function mount({ root, query }) {
  document.title = "Search · CouchQueue";
  const inputs = {
    field: h("input", { type: "text", name: "field", required: true, placeholder: "email or user.email", value: query.get("field") || "" }),
    value: h("input", { type: "search", name: "value", required: true, value: query.get("value") || "" }),
    queue: h("input", { type: "text", name: "queue", list: "search-queues", placeholder: "any", value: query.get("queue") || "" }),
  };
  const queues = h("datalist", { id: "search-queues" });
  const error = h("p", { class: "field-error", role: "alert" });
  const summary = h("p", { class: "muted", role: "status" });
  const results = h("div");
  const further = h("button", { type: "button", class: "btn", hidden: true }, "Search further");
  const form = h("form", { class: "filters", role: "search", "aria-label": "Search task data" },
    field("Field", inputs.field, "A name or dotted path"),
    field("Value contains", inputs.value, "Any case"),
    field("Queue", inputs.queue, "Optional"),
    queues,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Search")),
    error);

  let found = [];
  let cursor = null;
  let asked = null;

  async function run(more) {
    if (!more) {
      asked = {
        field: inputs.field.value.trim(), value: inputs.value.value, queue: inputs.queue.value.trim() || null,
      };
      if (!asked.field || !asked.value) {
        fill(error, "Enter a field and a value.");
        return;
      }
      replaceQuery(asked);
      found = [];
      cursor = null;
    }
    further.disabled = true;
    try {
      const { searchTasks: page } = await gql(SEARCH, { ...asked, first: PAGE_SIZE, after: cursor });
      found = found.concat(page.tasks);
      cursor = page.hasNextPage ? page.nextCursor : null;
      fill(error);
      fill(summary, `${num(found.length)} found`, cursor ? " so far: more tasks remain to be searched." : ": every task was searched.");
      fill(results, taskTable(found, {
        columns: ["id", "queue", "state", "publisher", "data", "created"],
        empty: "No task matches yet.",
      }));
      further.hidden = !cursor;
    } catch (err) {
      fill(error, errorText(err));
    } finally {
      further.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(false);
  });
  further.addEventListener("click", () => run(true));

  fill(root,
    h("h1", {}, "Search"),
    section("Find a task by id", { id: "by-id" }, byId()),
    section("Search task data", { id: "by-data" }, form, summary, results, further));

  try {
    const data = await gql(QUEUE_NAMES);
    fill(queues, data.queues.map((q) => h("option", { value: q.name })));
  } catch (err) {
    fill(error, errorText(err));
  }
  if (inputs.field.value && inputs.value.value) await run(false);
  return undefined;
}
