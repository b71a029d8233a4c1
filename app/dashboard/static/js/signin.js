// The sign-in screen shown while auth is on and this browser has no valid session.

import { errorText } from "./feedback.js";
import { signIn } from "./session.js";
import { fill, h } from "./ui.js";

const MESSAGES = {
  UNAUTHENTICATED: "That token is not known here (mistyped, or revoked). Check it and try again.",
};

export function showSignIn(main, reason) {
  document.title = "Sign in · CouchQueue";
  for (const hidden of document.querySelectorAll("[data-signed-in]")) hidden.hidden = true;
  const input = h("input", {
    id: "signin-token", type: "password", name: "token", required: true,
    autocomplete: "current-password", spellcheck: "false", "aria-describedby": "signin-hint signin-error",
  });
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert" }, reason || "");
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Sign in");
  const form = h(
    "form",
    { id: "signin", class: "stack card signin", novalidate: true },
    h("h1", {}, "Sign in"),
    h("label", { for: "signin-token" }, "Token"),
    input,
    h("small", { id: "signin-hint", class: "hint" },
      "A token made with “couchqueue token create”. A viewer token shows everything; an admin token can also act."),
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.value.trim()) {
      fill(error, "Enter a token.");
      return;
    }
    submit.disabled = true;
    try {
      await signIn(input.value);
      location.reload();
    } catch (err) {
      input.value = "";
      fill(error, MESSAGES[err.code] || errorText(err));
      submit.disabled = false;
      input.focus();
    }
  });
  const root = h("div", { class: "page", dataset: { route: "signin", ready: "true" } }, form);
  main.replaceChildren(root);
  main.removeAttribute("aria-busy");
  input.focus();
}
