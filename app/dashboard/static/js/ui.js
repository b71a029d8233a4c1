// DOM helpers shared by the pages: an element builder and a few widgets. Text always goes in
// as text nodes, never as HTML, so task data cannot inject markup.

import { ago, fmtDate, shortId } from "./format.js";

/** h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more]) */
export function h(tag, props = {}, ...children) {
  const el = tag.includes(":")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.split(":")[1])
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.setAttribute("class", value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function link(href, ...children) {
  return h("a", { href }, ...children);
}

export const queueHref = (name) => `#/queue/${encodeURIComponent(name)}`;
export const taskHref = (id) => `#/task/${encodeURIComponent(id)}`;

export function queueLink(name) {
  return link(queueHref(name), name);
}

export function taskLink(id) {
  return h("a", { href: taskHref(id), class: "mono", title: id }, shortId(id));
}

/** A <time> showing the local date, with the relative time as its tooltip. */
export function when(ts, { relative = false } = {}) {
  if (ts === null || ts === undefined) return h("span", { class: "muted" }, "—");
  const iso = new Date(ts * 1000).toISOString();
  return relative
    ? h("time", { datetime: iso, title: fmtDate(ts) }, ago(ts))
    : h("time", { datetime: iso, title: ago(ts) }, fmtDate(ts));
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** A titled card. */
export function section(title, { actions = [], id, headingLevel = 2 } = {}, ...body) {
  const headingId = id ? `${id}-title` : undefined;
  return h(
    "section",
    { class: "card", id, "aria-labelledby": headingId },
    h("div", { class: "card-head" }, h(`h${headingLevel}`, { id: headingId }, title), actions),
    ...body,
  );
}

/**
 * A table inside a horizontally scrollable wrapper.
 * columns: [{label, cell: (row) => node|string, class?}]. On a narrow screen each row becomes a
 * card of label: value lines, unless `keep` (a table of few, short columns stays a table).
 */
export function table(columns, rows, { empty = "Nothing here.", caption, keep = false } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = rows.map((row) =>
    h("tr", {}, columns.map((c) =>
      h("td", { class: c.class, "data-label": c.label }, h("div", { class: "cell" }, c.cell(row))))),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h("table", { class: keep ? "keep" : null }, caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, head), h("tbody", {}, body)),
  );
}

/** A labelled form control: field("Lease (s)", h("input", {...}), "hint"). */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("small", { id: hintId, class: "hint" }, hint) : null,
  );
}

/** Keyset pager: a stack of cursors; never an offset. */
export class Pager {
  constructor(onChange) {
    this.cursors = [null];
    this.next = null;
    this.moved = false;
    this.onChange = onChange;
    this.el = h("nav", { class: "pager", "aria-label": "Pages", hidden: true });
  }

  get after() {
    return this.cursors[this.cursors.length - 1];
  }

  reset() {
    this.cursors = [null];
  }

  go(cursors) {
    this.cursors = cursors;
    this.moved = true;
    this.onChange();
  }

  /** Show the controls for a page just loaded. */
  update(page, shown) {
    this.next = page.hasNextPage ? page.nextCursor : null;
    const number = this.cursors.length;
    this.el.hidden = number === 1 && !this.next;
    const button = (label, disabled, cursors) =>
      h("button", { type: "button", class: "btn", disabled, onclick: () => this.go(cursors) }, label);
    fill(
      this.el,
      h("span", { class: "actions" },
        button("« First", number === 1, [null]),
        button("← Previous", number === 1, this.cursors.slice(0, -1))),
      h("span", { class: "muted" }, `Page ${number}${shown ? ` · ${shown} shown` : ""}`),
      button("Next →", !this.next, [...this.cursors, this.next]),
    );
    if (this.moved) {
      this.moved = false;
      (this.el.closest("section") || this.el).scrollIntoView({ block: "start" });
    }
  }
}

/**
 * Run `refresh` (async) after events that `wanted(event)` accepts, and at once after the
 * user's own changes (mutations). Bursts are merged: one run `wait` ms after the first event,
 * never two at a time, and at least `gap` ms (or twice the last run's time, on a slow or busy
 * server) between the end of one run and the start of the next. Returns the function that
 * stops listening.
 */
export function onLive(feed, wanted, refresh, { wait = 300, gap = 1000 } = {}) {
  let timer = null;
  let running = false;
  let again = false;
  let ended = 0;
  let took = 0;
  let stopped = false;

  const run = async () => {
    clearTimeout(timer);
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    const started = Date.now();
    try {
      await refresh();
    } finally {
      running = false;
      ended = Date.now();
      took = ended - started;
      if (again && !stopped) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer || stopped) return;
    timer = setTimeout(run, Math.max(wait, ended + Math.max(gap, 2 * took) - Date.now()));
  };
  const poke = (event) => {
    if (event.kind !== "changed" && !wanted(event)) return;
    if (running) again = true;
    else schedule();
  };
  const stop = feed.on(poke);
  const mutated = () => run();
  window.addEventListener("cq:mutated", mutated);
  return () => {
    stopped = true;
    stop();
    window.removeEventListener("cq:mutated", mutated);
    clearTimeout(timer);
  };
}

/** Put the page's filters in the address (shareable, kept on reload) without a navigation. */
export function replaceQuery(values) {
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) query.set(key, value);
  const text = query.toString();
  history.replaceState(null, "", `#${path}${text ? `?${text}` : ""}`);
}
