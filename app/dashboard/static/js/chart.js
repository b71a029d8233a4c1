// The throughput chart: published / completed / failed per bucket, drawn by hand in SVG.

import { num, zoneName } from "./format.js";
import { fill, h } from "./ui.js";

const SERIES = [
  { key: "published", label: "Published" },
  { key: "completed", label: "Completed" },
  { key: "failed", label: "Failed" },
];
const HEIGHT = 220;
const PAD = { top: 12, right: 12, bottom: 26, left: 44 };

const pad2 = (n) => String(n).padStart(2, "0");
const clock = (ts) => {
  const d = new Date(ts * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
};

/** Sum the per-minute, per-queue rows into buckets of `bucket` seconds from since to until. */
export function buckets(rows, since, until, bucket) {
  const start = Math.floor(since / bucket) * bucket;
  const count = Math.max(1, Math.ceil((until - start) / bucket));
  const out = Array.from({ length: count }, (_, i) => ({
    at: start + i * bucket, published: 0, completed: 0, failed: 0,
  }));
  for (const row of rows) {
    const i = Math.floor((row.minute - start) / bucket);
    if (i < 0 || i >= count) continue;
    for (const { key } of SERIES) out[i][key] += row[key];
  }
  return out;
}

function niceMax(value) {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  // Even steps, so the middle gridline is a whole number too.
  for (const step of [1, 2, 4, 6, 8, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

export class ThroughputChart {
  constructor() {
    this.figure = h("div", { class: "chart" });
    this.legend = h("ul", { class: "legend" });
    this.el = h("figure", { class: "chart-figure" }, this.figure, h("figcaption", {}, this.legend));
    this.data = null;
    this.drawnWidth = 0;
    // Redraw when the width changes, in the next frame (never inside the observer's callback).
    this.observer = new ResizeObserver(() => {
      if (this.figure.clientWidth !== this.drawnWidth) requestAnimationFrame(() => this.draw());
    });
    this.observer.observe(this.figure);
  }

  /** Show `points` (from buckets()); `unit` names the bucket, e.g. "per minute". */
  update(points, unit) {
    this.data = { points, unit };
    this.draw();
  }

  dispose() {
    this.observer.disconnect();
  }

  draw() {
    if (!this.data) return;
    const { points, unit } = this.data;
    this.drawnWidth = this.figure.clientWidth;
    const width = Math.max(200, this.figure.clientWidth || 600);
    const innerW = width - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const peak = niceMax(Math.max(0, ...points.flatMap((p) => SERIES.map((s) => p[s.key]))));
    const step = points.length > 1 ? innerW / (points.length - 1) : innerW;
    const x = (i) => PAD.left + i * step;
    const y = (v) => PAD.top + innerH - (v / peak) * innerH;
    const totals = Object.fromEntries(
      SERIES.map((s) => [s.key, points.reduce((sum, p) => sum + p[s.key], 0)]),
    );
    const summary = SERIES.map((s) => `${s.label.toLowerCase()} ${totals[s.key]}`).join(", ");

    const svg = h("svg:svg", {
      viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: "img",
      "aria-label": `Tasks ${unit}: ${summary}`,
    });
    for (const frac of [0, 0.5, 1]) {
      const gy = y(peak * frac);
      svg.append(
        h("svg:line", { x1: PAD.left, x2: width - PAD.right, y1: gy, y2: gy, class: "gridline" }),
        h("svg:text", { x: PAD.left - 6, y: gy + 4, class: "axis", "text-anchor": "end" },
          num(peak * frac)),
      );
    }
    const ticks = Math.max(2, Math.min(7, points.length, Math.floor(innerW / 80)));
    for (let t = 0; t < ticks; t += 1) {
      const i = Math.round((t * (points.length - 1)) / Math.max(1, ticks - 1));
      const anchor = t === 0 ? "start" : t === ticks - 1 ? "end" : "middle";
      svg.append(h("svg:text", { x: x(i), y: HEIGHT - 8, class: "axis", "text-anchor": anchor },
        clock(points[i].at)));
    }
    // Published last, on top: where every line lies at zero, the baseline is not red.
    for (const s of [...SERIES].reverse()) {
      const path = points.map((p, i) => `${x(i).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(" ");
      svg.append(h("svg:polyline", { points: path, class: `line s-${s.key}` }));
    }
    points.forEach((p, i) => {
      const label = `${clock(p.at)}: ` + SERIES.map((s) => `${s.key} ${p[s.key]}`).join(", ");
      svg.append(h("svg:rect", {
        x: x(i) - step / 2, y: PAD.top, width: Math.max(1, step), height: innerH, class: "hover",
      }, h("svg:title", {}, label)));
    });
    fill(this.figure, svg);
    fill(this.legend, SERIES.map((s) =>
      h("li", {}, h("span", { class: `swatch s-${s.key}`, "aria-hidden": "true" }),
        `${s.label} `, h("strong", {}, num(totals[s.key])))),
      h("li", { class: "muted", title: "The times on the axis are in this time zone" },
        `${unit} · ${zoneName(new Date())}`));
  }
}
