// The form that creates (or replaces) a recurring schedule.

import { gql } from "../api.js";
import { errorText, flash } from "../feedback.js";
import { CREATE_SCHEDULE } from "../queries.js";
import { field, fill, h } from "../ui.js";

function timezones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

export function scheduleForm() {
  const inputs = {
    name: h("input", { type: "text", name: "name", required: true, autocomplete: "off" }),
    cron: h("input", { type: "text", name: "cron", required: true, placeholder: "*/5 * * * *", class: "code" }),
    timezone: h("input", { type: "text", name: "timezone", list: "timezones", value: "UTC" }),
    publisher: h("input", { type: "text", name: "publisher", required: true, value: "dashboard" }),
    data: h("textarea", { name: "data", rows: 4, class: "code", spellcheck: "false", value: "{}" }),
    scope: h("select", { name: "scope" }, h("option", { value: "any" }, "any"), h("option", { value: "all" }, "all")),
    uniqueKey: h("input", { type: "text", name: "uniqueKey" }),
    singularlyEnqueue: h("input", { type: "checkbox", name: "singularlyEnqueue" }),
    singularlyRun: h("input", { type: "checkbox", name: "singularlyRun" }),
    enabled: h("input", { type: "checkbox", name: "enabled", checked: true }),
  };
  const check = (key, label) => h("label", { class: "check" }, inputs[key], ` ${label}`);
  const error = h("p", { class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create schedule");
  const form = h(
    "form",
    { class: "settings", novalidate: true },
    h("div", { class: "grid" },
      field("Name", inputs.name, "A schedule of the same name is replaced."),
      field("Cron", inputs.cron, "minute hour day month weekday (an optional sixth field: seconds)"),
      field("Time zone", inputs.timezone, "IANA name, e.g. Europe/Paris"),
      field("Publisher", inputs.publisher),
      field("Scope", inputs.scope, "any: one copy per queue; all: one per worker"),
      field("Unique key", inputs.uniqueKey, "Optional identity for singular enqueue / run")),
    field("Data (JSON object)", inputs.data, "Published on every tick; queues' interests are matched against it."),
    h("div", { class: "checks" },
      check("singularlyEnqueue", "Singularly enqueue"), check("singularlyRun", "Singularly run"),
      check("enabled", "Enabled")),
    h("datalist", { id: "timezones" }, timezones().map((tz) => h("option", { value: tz }))),
    error,
    h("div", { class: "actions" }, submit),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let data;
    try {
      data = JSON.parse(inputs.data.value);
    } catch (err) {
      fill(error, `Data is not valid JSON: ${err.message}`);
      return;
    }
    const input = {
      name: inputs.name.value.trim(),
      cron: inputs.cron.value.trim(),
      timezone: inputs.timezone.value.trim() || null,
      publisher: inputs.publisher.value.trim(),
      data,
      scope: inputs.scope.value,
      uniqueKey: inputs.uniqueKey.value.trim() || null,
      singularlyEnqueue: inputs.singularlyEnqueue.checked,
      singularlyRun: inputs.singularlyRun.checked,
      enabled: inputs.enabled.checked,
    };
    submit.disabled = true;
    try {
      const { createSchedule } = await gql(CREATE_SCHEDULE, { input });
      fill(error);
      flash(`Schedule ${createSchedule.name} saved.`);
    } catch (err) {
      fill(error, errorText(err));
    } finally {
      submit.disabled = false;
    }
  });
  return { el: form };
}
