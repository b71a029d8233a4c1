// A queue's delivery settings: lease, deliveries before failing, retry policy, flow limits.

import { gql } from "../api.js";
import { errorText, flash } from "../feedback.js";
import { CONFIGURE_QUEUE } from "../queries.js";
import { canAct } from "../session.js";
import { field, fill, h } from "../ui.js";

const NUMBERS = [
  ["leaseSeconds", "Lease (seconds)", "How long a started task is held before it goes back (1–86400).", { min: 1, max: 86400 }],
  ["maxDeliveries", "Max deliveries", "Expired leases after which a task is failed (1–1000).", { min: 1, max: 1000, step: 1 }],
  ["retryLimit", "Retry limit", "Retries of a reported failure before the failed queue (0: none).", { min: 0, max: 1000, step: 1 }],
  ["backoffBase", "Backoff base (s)", "Seconds before the first retry.", { min: 0 }],
  ["backoffFactor", "Backoff factor", "Growth from one retry to the next.", { min: 1 }],
  ["backoffMax", "Backoff max (s)", "Ceiling of the delay.", { min: 0 }],
  ["backoffJitter", "Backoff jitter", "Spread, a fraction from 0 to 1.", { min: 0, max: 1 }],
];
// Flow limits: empty means no limit (sent as null, which removes it).
const LIMITS = [
  ["maxStarted", "Max started", "At most this many of its tasks started at once, on every node (empty: no limit).", { min: 1, max: 10000, step: 1 }],
  ["rateLimit", "Rate limit", "At most this many claims per rate period, on every node (empty: no limit).", { min: 1, max: 1000000, step: 1 }],
  ["ratePeriodSeconds", "Rate period (s)", "The rate limit's window, 0.1–86400 (empty: 1 s).", { min: 0.1, max: 86400 }],
];

function current(settings) {
  const r = settings.retry;
  return {
    leaseSeconds: settings.leaseSeconds, maxDeliveries: settings.maxDeliveries,
    retryLimit: r.limit, backoffBase: r.base, backoffFactor: r.factor, backoffMax: r.max,
    backoffJitter: r.jitter, retryDelays: r.delays ? r.delays.join(", ") : "",
    maxStarted: settings.maxStarted ?? "", rateLimit: settings.rateLimit ?? "",
    ratePeriodSeconds: settings.ratePeriodSeconds,
  };
}

function readDelays(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const delays = parts.map(Number);
  const bad = parts.find((p, i) => !Number.isFinite(delays[i]));
  if (bad !== undefined) throw new Error(`Retry delays: “${bad}” is not a number.`);
  return delays;
}

export function settingsForm(queue) {
  const inputs = {};
  for (const [key, , , limits] of NUMBERS) {
    inputs[key] = h("input", { type: "number", name: key, step: "any", ...limits, required: true, readonly: !canAct() });
  }
  for (const [key, , , limits] of LIMITS) {
    inputs[key] = h("input", { type: "number", name: key, step: "any", ...limits, readonly: !canAct() });
  }
  inputs.retryDelays = h("input", { type: "text", name: "retryDelays", inputmode: "decimal", placeholder: "e.g. 10, 60, 600", readonly: !canAct() });
  const error = h("p", { id: "settings-error", class: "field-error", role: "alert" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save settings");
  const form = h(
    "form",
    { class: "settings", novalidate: true },
    h("div", { class: "grid" },
      NUMBERS.slice(0, 3).map(([key, label, hint]) => field(label, inputs[key], hint)),
      field("Retry delays (s)", inputs.retryDelays, "Seconds before each retry, the last repeating; empty: exponential backoff below."),
      NUMBERS.slice(3).map(([key, label, hint]) => field(label, inputs[key], hint)),
      LIMITS.map(([key, label, hint]) => field(label, inputs[key], hint))),
    error,
    canAct() ? h("div", { class: "actions" }, save) : null,
  );

  function show(settings) {
    for (const [key, value] of Object.entries(current(settings))) inputs[key].value = value;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const variables = { name: queue };
    try {
      for (const [key, label] of NUMBERS) {
        const raw = inputs[key].value.trim();
        if (raw === "") throw new Error(`${label}: a number is needed.`);
        variables[key] = Number(raw);
      }
      variables.retryDelays = readDelays(inputs.retryDelays.value);
      for (const [key, label] of LIMITS) {
        const raw = inputs[key].value.trim();
        variables[key] = raw === "" ? null : Number(raw);
        if (raw !== "" && !Number.isFinite(variables[key])) throw new Error(`${label}: a number is needed.`);
      }
    } catch (err) {
      fill(error, err.message);
      return;
    }
    save.disabled = true;
    try {
      const { configureQueue } = await gql(CONFIGURE_QUEUE, variables);
      show(configureQueue.settings);
      fill(error);
      flash(`Settings of ${queue} saved.`);
    } catch (err) {
      fill(error, errorText(err));
    } finally {
      save.disabled = false;
    }
  });

  return { el: form, show };
}
