// Number, money, duration and time formatting, in the browser's locale.

const intFmt = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const compactFmt = new Intl.NumberFormat(undefined, {notation: "compact", maximumFractionDigits: 1});

export const dash = "—";

export function int(n) {
  return n === null || n === undefined ? dash : intFmt.format(n);
}

export function compact(n) {
  if (n === null || n === undefined) return dash;
  return Math.abs(n) < 10000 ? intFmt.format(n) : compactFmt.format(n);
}

/** US dollars with enough digits to be useful for tiny per-request amounts. */
export function cost(n) {
  if (n === null || n === undefined) return dash;
  const abs = Math.abs(n);
  if (abs === 0) return "$0.00";
  if (abs >= 100) return "$" + n.toLocaleString(undefined, {maximumFractionDigits: 0});
  if (abs >= 1) return "$" + n.toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  if (abs >= 0.01) return "$" + n.toFixed(3);
  if (abs >= 0.0001) return "$" + n.toFixed(4);
  return "$" + n.toPrecision(2);
}

export function ms(n) {
  if (n === null || n === undefined) return dash;
  if (n >= 10000) return (n / 1000).toFixed(1) + " s";
  if (n >= 1000) return (n / 1000).toFixed(2) + " s";
  return Math.round(n) + " ms";
}

export function pct(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return dash;
  if (x > 0 && x < 0.001) return "<0.1%";
  return (x * 100).toFixed(digits) + "%";
}

export function score(x) {
  return x === null || x === undefined ? dash : x.toFixed(2);
}

const pad = (n) => String(n).padStart(2, "0");

/** A bucket start for an axis: clock time for minute/hour buckets, a date for days. */
export function tick(t, bucket) {
  const d = new Date(t * 1000);
  if (bucket === "day") return d.toLocaleDateString(undefined, {month: "short", day: "numeric"});
  return pad(d.getHours()) + ":" + pad(d.getMinutes());
}

export function bucketLabel(t, bucket) {
  const d = new Date(t * 1000);
  const day = d.toLocaleDateString(undefined, {weekday: "short", month: "short", day: "numeric"});
  return bucket === "day" ? day : day + ", " + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

export function dateTime(t) {
  if (!t) return dash;
  const d = new Date(t * 1000);
  return d.toLocaleDateString(undefined, {month: "short", day: "numeric"}) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

export function ago(t, now = Date.now() / 1000) {
  const s = Math.max(0, now - t);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return Math.round(s / 86400) + "d ago";
}

/** A dollar formatter for axis ticks: the fewest decimals (2 to 8) that tell every tick apart. */
export function costTicks(ticks) {
  for (let digits = 2; digits <= 8; digits++) {
    const labels = ticks.map((t) => t.toFixed(digits));
    if (new Set(labels).size === ticks.length && ticks.every((t, i) => Math.abs(Number(labels[i]) - t) < 1e-12)) {
      return (t) => "$" + t.toFixed(digits);
    }
  }
  return cost;
}

/** "1 key", "2 keys". */
export function plural(n, word) {
  return `${int(n)} ${word}${n === 1 ? "" : "s"}`;
}
