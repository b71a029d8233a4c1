// Plain formatting: dates, durations, numbers, ids, JSON.

const pad = (n) => String(n).padStart(2, "0");

const ZONE = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" });

/** The browser's short name for its time zone at that moment: "CET", "GMT+2", "UTC". */
export function zoneName(d) {
  const part = ZONE.formatToParts(d).find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

/** Unix seconds as a local "YYYY-MM-DD HH:MM:SS ZONE". */
export function fmtDate(ts) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneName(d)}`
  );
}

/** Unix seconds as "YYYY-MM-DD HH:MM:SS UTC". */
export function fmtUtc(ts) {
  if (ts === null || ts === undefined) return "—";
  return `${new Date(ts * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Unix seconds relative to now: "3 min ago", "in 2 h". */
export function ago(ts, now = Date.now() / 1000) {
  if (ts === null || ts === undefined) return "—";
  const delta = ts - now;
  const span = Math.abs(delta);
  let text;
  if (span < 1) return "now";
  // Each unit up to where it would round to the next one: 3,599 s is "1 h", not "60 min".
  if (span < 59.5) text = `${Math.round(span)} s`;
  else if (span < 3570) text = `${Math.round(span / 60)} min`;
  else if (span < 84600) text = `${Math.round(span / 3600)} h`;
  else text = `${Math.round(span / 86400)} d`;
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** Seconds as a short duration: 90 -> "1 min 30 s". */
export function duration(seconds) {
  if (seconds < 60) return `${+seconds.toFixed(2)} s`;
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60);
    const s = Math.round(seconds % 60);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const hours = seconds / 3600;
  return `${+hours.toFixed(2)} h`;
}

/** Seconds as a short age, "—" for none: a queue's latency. */
export function age(seconds) {
  return seconds > 0 ? duration(Math.round(seconds * 10) / 10) : "—";
}

export function num(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "—";
}

/** Compact one-line JSON, cut to `max` characters. */
export function preview(value, max = 80) {
  const text = JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
