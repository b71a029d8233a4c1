// Telling the user what happened: notices, errors (never swallowed), confirmation of
// destructive actions, and buttons that run one action at a time.

import { canAct } from "./session.js";
import { h } from "./ui.js";

/** The server's message with its code: "no queue 'x' (QUEUE_NOT_FOUND)". */
export function errorText(err) {
  if (err && err.code) return `${err.message} (${err.code})`;
  return err && err.message ? err.message : String(err);
}

export function errorBox(err) {
  return h("div", { class: "alert alert-error", role: "alert" }, errorText(err));
}

/** A notice at the top of the page; errors stay until closed, the rest fade after a while. */
export function flash(message, kind = "info") {
  const area = document.getElementById("flash");
  const close = h("button", { type: "button", class: "close", "aria-label": "Dismiss" }, "×");
  const note = h(
    "div",
    { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    close,
  );
  close.addEventListener("click", () => note.remove());
  area.append(note);
  if (kind !== "error") setTimeout(() => note.remove(), 6000);
  return note;
}

export function flashError(err) {
  return flash(errorText(err), "error");
}

/** Ask before a destructive action, in an in-page modal dialog. Resolves true to go ahead. */
export function confirmAction(message, { confirmLabel = "Confirm", title = "Are you sure?" } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: "btn btn-danger", value: "ok" }, confirmLabel);
    const cancel = h("button", { type: "button", class: "btn", value: "cancel" }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text" }, message),
      h("div", { class: "actions" }, cancel, ok),
    );
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * A button that runs `run()` (async), disabled meanwhile; errors are shown, not swallowed.
 * With `confirm`, a destructive action asks first. `done(result)` follows a success. None at
 * all (null) for a user who may not act: a viewer sees no button rather than a dead one.
 */
export function actionButton(label, run, { kind = "", confirm, confirmLabel, title, done } = {}) {
  if (!canAct()) return null;
  const button = h("button", { type: "button", class: `btn ${kind ? `btn-${kind}` : ""}`, title }, label);
  button.addEventListener("click", async () => {
    if (confirm) {
      const message = typeof confirm === "function" ? confirm() : confirm;
      if (!(await confirmAction(message, { confirmLabel: confirmLabel || label }))) return;
    }
    button.disabled = true;
    try {
      const result = await run();
      if (done) done(result);
    } catch (err) {
      flashError(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
