// A queue's interests, edited as JSON; the server's verdict (e.g. an invalid regex) is shown
// right under the editor.

import { gql } from "../api.js";
import { confirmAction, errorText, flash } from "../feedback.js";
import { pretty } from "../format.js";
import { DELETE_INTERESTS, SET_INTERESTS } from "../queries.js";
import { canAct } from "../session.js";
import { fill, h } from "../ui.js";

function parse(text) {
  const trimmed = text.trim();
  if (trimmed === "*") return "*";
  return JSON.parse(trimmed);
}

export function interestsEditor(queue) {
  const editor = h("textarea", {
    id: "interests-json", class: "code", rows: 7, spellcheck: "false",
    "aria-describedby": "interests-hint interests-error", readonly: !canAct(),
  });
  const error = h("p", { id: "interests-error", class: "field-error", role: "alert" });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save interests");
  const remove = h("button", { type: "button", class: "btn btn-danger" }, "Remove interests");

  function showError(message) {
    fill(error, message);
    if (message) editor.setAttribute("aria-invalid", "true");
    else editor.removeAttribute("aria-invalid");
  }

  const form = h(
    "form",
    { class: "stack", novalidate: true },
    h("label", { for: "interests-json" }, "Interests (JSON)"),
    h("small", { id: "interests-hint", class: "hint" },
      "\"*\" for every event, or {\"field\": \"regex\", …}: the queue gets an event when any field matches (RE2; dotted paths reach nested fields)."),
    editor,
    error,
    canAct() ? h("div", { class: "actions" }, save, remove) : null,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let interests;
    try {
      interests = parse(editor.value);
    } catch (err) {
      showError(`Not valid JSON: ${err.message}`);
      return;
    }
    save.disabled = true;
    try {
      const { setInterests } = await gql(SET_INTERESTS, { queue, interests });
      editor.value = pretty(setInterests.interests);
      showError("");
      flash(`Interests of ${queue} saved.`);
    } catch (err) {
      showError(errorText(err));
    } finally {
      save.disabled = false;
    }
  });

  remove.addEventListener("click", async () => {
    if (!(await confirmAction(`Remove every interest of queue “${queue}”? It will get no new tasks until interests are set again.`, { confirmLabel: "Remove interests" }))) return;
    remove.disabled = true;
    try {
      await gql(DELETE_INTERESTS, { queue });
      editor.value = "";
      showError("");
      flash(`Interests of ${queue} removed.`);
    } catch (err) {
      showError(errorText(err));
    } finally {
      remove.disabled = false;
    }
  });

  return {
    el: form,
    show(interests) {
      editor.value = interests === null || interests === undefined ? "" : pretty(interests);
    },
  };
}
