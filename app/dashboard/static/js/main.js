// The shell: hash routing between pages, the live feed, the header's counts and live state.

import { gql } from "./api.js";
import { EventFeed } from "./events.js";
import { errorBox, errorText, flashError } from "./feedback.js";
import { num } from "./format.js";
import * as failed from "./pages/failed.js";
import * as overview from "./pages/overview.js";
import * as queue from "./pages/queue.js";
import * as retries from "./pages/retries.js";
import * as scheduled from "./pages/scheduled.js";
import * as search from "./pages/search.js";
import * as task from "./pages/task.js";
import * as workers from "./pages/workers.js";
import { NAV } from "./queries.js";
import { loadSession, signOut } from "./session.js";
import { showSignIn } from "./signin.js";
import { fill, h, onLive } from "./ui.js";

const ROUTES = [
  { pattern: /^\/?$/, page: overview, nav: "overview" },
  { pattern: /^\/queue\/([^/]+)$/, page: queue, nav: "overview" },
  { pattern: /^\/task\/([^/]+)$/, page: task, nav: null },
  { pattern: /^\/workers$/, page: workers, nav: "workers" },
  { pattern: /^\/failed$/, page: failed, nav: "failed" },
  { pattern: /^\/retries$/, page: retries, nav: "retries" },
  { pattern: /^\/scheduled$/, page: scheduled, nav: "scheduled" },
  { pattern: /^\/search$/, page: search, nav: "search" },
];

const feed = new EventFeed();
let unmount = null;
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { raw, path, query: new URLSearchParams(query) };
}

function markNav(name) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route(focus) {
  const { raw, path, query } = parseHash();
  if (!path.startsWith("/")) return; // an in-page anchor, not a route
  const current = ++generation;
  if (unmount) unmount();
  unmount = null;
  const main = document.getElementById("main");
  const root = h("div", { class: "page", dataset: { route: raw } });
  main.replaceChildren(root);
  main.setAttribute("aria-busy", "true");
  const found = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
  if (!found) {
    markNav(null);
    document.title = "Not found · CouchQueue";
    fill(root, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, path), "."));
    main.removeAttribute("aria-busy");
    root.dataset.ready = "true";
    return;
  }
  markNav(found.r.nav);
  try {
    const params = found.m.slice(1).map(decodeURIComponent);
    const cleanup = await found.r.page.mount({ root, params, query, feed });
    if (current !== generation) {
      if (cleanup) cleanup();
    } else {
      unmount = cleanup || null;
    }
  } catch (err) {
    if (current === generation) fill(root, h("h1", {}, "Something went wrong"), errorBox(err));
  }
  if (current !== generation) return;
  main.removeAttribute("aria-busy");
  root.dataset.ready = "true";
  if (focus) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

async function refreshNav() {
  try {
    const { status } = await gql(NAV);
    fill(document.getElementById("nav-workers"), num(status.workers));
    const failedCount = document.getElementById("nav-failed");
    fill(failedCount, num(status.counts.failed));
    failedCount.classList.toggle("hot", status.counts.failed > 0);
    failedCount.title = "";
  } catch (err) {
    const failedCount = document.getElementById("nav-failed");
    fill(failedCount, "?");
    failedCount.title = `Counts unavailable: ${errorText(err)}`;
  }
}

function showLive(status, detail) {
  const el = document.getElementById("live");
  const text = { live: "Live", connecting: "Connecting…", offline: "Offline", error: "Feed error" };
  el.className = `live live-${status}`;
  el.title = detail || (status === "live" ? "Figures update as things happen" : "");
  fill(el, h("span", { class: "dot", "aria-hidden": "true" }), text[status] || status);
}

/** The signed-in user and the sign-out button, in the header (nothing while auth is off). */
function showUser(who) {
  if (!who.auth) return;
  const button = h("button", { type: "button", class: "btn btn-small", id: "signout" }, "Sign out");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await signOut();
      location.reload();
    } catch (err) {
      flashError(err);
      button.disabled = false;
    }
  });
  fill(document.getElementById("who"),
    h("span", { class: "muted", title: `roles: ${who.roles.join(", ")}` }, who.name), " ", button);
}

async function start() {
  window.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    flashError(event.reason);
  });
  document.getElementById("skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  const main = document.getElementById("main");
  let who;
  try {
    who = await loadSession();
  } catch (err) {
    fill(main, h("div", { class: "page", dataset: { route: "error", ready: "true" } }, errorBox(err)));
    return;
  }
  if (who === null) {
    showSignIn(main);
    return;
  }
  showUser(who);
  // The session ended (expired, signed out elsewhere, token revoked): back to the sign-in.
  window.addEventListener("cq:unauthenticated", () => location.reload(), { once: true });
  window.addEventListener("hashchange", () => route(true));
  feed.watch(showLive);
  feed.start();
  onLive(feed, (e) => !["published", "started", "progress"].includes(e.kind), refreshNav, { gap: 3000 });
  // The page's own data first: the header's counts can wait for it.
  route(false).then(refreshNav);
}

start();
