// DOM helpers shared by the pages: an element builder and a few widgets. Text always goes in
// as text nodes, never as HTML, so task data cannot inject markup.

import { ago, fmtDate, fmtUtc, shortId } from "./format.js";

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

/** A queue's name, cut with an ellipsis where it does not fit (never wrapped mid-word); the
 * whole name in its title. */
export function queueLink(name) {
  return h("a", { href: queueHref(name), class: "clip", title: name }, name);
}

export function taskLink(id) {
  return h("a", { href: taskHref(id), class: "mono", title: id }, shortId(id));
}

/** A <time> showing the local date with its time zone (or, `relative`, how long ago), with
 * UTC in its tooltip. */
export function when(ts, { relative = false } = {}) {
  if (ts === null || ts === undefined) return h("span", { class: "muted" }, "—");
  const iso = new Date(ts * 1000).toISOString();
  return relative
    ? h("time", { datetime: iso, title: `${fmtDate(ts)} · ${fmtUtc(ts)}` }, ago(ts))
    : h("time", { datetime: iso, title: `${fmtUtc(ts)} · ${ago(ts)}` }, fmtDate(ts));
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

// The sort chosen on each table (by its `sort` name), kept while the site is open, so a table
// redrawn by a live update stays in the order the user chose.
const sorts = new Map();

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/**
 * A table inside a horizontally scrollable wrapper.
 * columns: [{label, cell: (row) => node|string, class?, sort?: (row) => value}]. With a `sort`
 * name, the columns that have a sort key get a header button ordering the rows (the ones
 * shown) by it, ascending then descending. On a narrow screen each row becomes a card of
 * label: value lines, unless `keep` (a table of few, short columns stays a table).
 */
export function table(columns, rows, { empty = "Nothing here.", caption, keep = false, sort } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const wrap = h("div", { class: "table-wrap" });
  const draw = () => {
    const chosen = sort ? sorts.get(sort) : null;
    const by = chosen ? columns.find((c) => c.label === chosen.label && c.sort) : null;
    const shown = by
      ? rows.map((row, i) => ({ row, i, key: by.sort(row) }))
        .sort((x, y) => compare(x.key, y.key) * chosen.dir || x.i - y.i)
        .map((x) => x.row)
      : rows;
    const header = (c) => {
      if (!sort || !c.sort) return h("th", { scope: "col", class: c.class }, c.label);
      const dir = by === c ? chosen.dir : 0;
      const button = h("button", {
        type: "button", class: "sort",
        onclick: () => {
          sorts.set(sort, { label: c.label, dir: dir === 1 ? -1 : 1 });
          draw();
          // The header was redrawn: keep the keyboard where it was.
          const again = [...wrap.querySelectorAll("button.sort")].find((b) => b.dataset.label === c.label);
          if (again) again.focus();
        },
        dataset: { label: c.label },
      }, c.label, h("span", { class: "arrow", "aria-hidden": "true" }, dir === 1 ? "▲" : dir === -1 ? "▼" : ""));
      const ariaSort = dir === 1 ? "ascending" : dir === -1 ? "descending" : "none";
      return h("th", { scope: "col", class: c.class, "aria-sort": ariaSort }, button);
    };
    const body = shown.map((row) =>
      h("tr", {}, columns.map((c) =>
        h("td", { class: c.class, "data-label": c.label }, h("div", { class: "cell" }, c.cell(row))))),
    );
    fill(wrap,
      h("table", { class: keep ? "keep" : null }, caption ? h("caption", { class: "sr-only" }, caption) : null,
        h("thead", {}, h("tr", {}, columns.map(header))), h("tbody", {}, body)));
  };
  draw();
  return wrap;
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
