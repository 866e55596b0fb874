// Hand-written SVG charts: time series (bars, lines, areas; stacked or not), a cost-versus-quality
// scatter, a donut, and a stacked share bar. Each chart fills its container's width, redraws when
// the container is resized, and shows a tooltip on hover. Data values are mirrored in data-*
// attributes so that tests (and curious users) can read exactly what was drawn.

import {clear, h, s} from "./dom.js";

export const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#0284c7", "#7c3aed", "#65a30d", "#475569"];

/** Tick values from 0 (or min) to a round maximum that covers max; whole steps for counts. */
export function niceTicks(max, count = 4, min = 0, integer = false) {
  const span = max - min;
  if (!(span > 0)) return [min, min + 1];
  const raw = span / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((st) => st >= raw);
  const step = integer ? Math.max(1, Math.ceil(nice)) : nice;
  const ticks = [];
  for (let v = Math.floor(min / step) * step; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function textWidth(text) {
  return String(text).length * 6.6 + 6;
}

/** Keep one drawing per container: stop watching the old size, remember the redraw. */
function mount(container, draw) {
  if (container._chartObserver) container._chartObserver.disconnect();
  let lastWidth = 0;
  const redraw = () => {
    const width = Math.floor(container.clientWidth);
    if (width > 0 && width !== lastWidth) {
      lastWidth = width;
      draw(width);
    }
  };
  container._chartObserver = new ResizeObserver(redraw);
  container._chartObserver.observe(container);
  redraw();
}

function legend(series) {
  return h("div", {class: "legend"}, series.map((se) =>
    h("span", {class: "legend-item"}, h("i", {class: "swatch" + (se.dashed ? " dashed" : ""),
      style: {background: se.color}}), se.label)));
}

function tooltip(container) {
  const tip = h("div", {class: "tooltip", role: "status"});
  container.append(tip);
  return tip;
}

function showTip(tip, container, x, y, title, rows) {
  clear(tip).append(h("div", {class: "tooltip-title"}, title),
    ...rows.map(([color, label, value]) => h("div", {class: "tooltip-row"},
      h("i", {class: "swatch", style: {background: color}}), h("span", {}, label), h("b", {}, value))));
  tip.classList.add("visible");
  const box = container.getBoundingClientRect();
  const left = Math.min(Math.max(x + 14, 0), box.width - tip.offsetWidth - 4);
  tip.style.left = (x + 14 + tip.offsetWidth > box.width ? x - tip.offsetWidth - 14 : left) + "px";
  tip.style.top = Math.max(0, y - tip.offsetHeight / 2) + "px";
}

/**
 * A time series. opts: points [{t, ...}], bucket, bucketSeconds, series [{key, label, color,
 * value(point), dashed}], kind "bars" | "lines" | "area", stacked, yFormat, yMax, height, testid.
 */
export function timeChart(container, opts) {
  const {points, series, kind = "lines", stacked = false, yFormat = String, height = 220} = opts;
  clear(container).classList.add("chart");
  const values = points.map((p) => series.map((se) => se.value(p)));
  if (!values.flat().some((v) => v)) {
    container.append(h("div", {class: "chart-empty", "data-testid": opts.testid, style: {height: height + "px"}},
      "No data in this range"), legend(series));
    return;
  }
  const plot = h("div", {class: "chart-plot"});
  container.append(plot, legend(series));
  const tip = tooltip(plot);
  const totals = values.map((row) => row.reduce((a, v) => a + (v || 0), 0));
  const top = opts.yMax ?? Math.max(0, ...(stacked ? totals : values.flat().filter((v) => v !== null)));
  const ticks = niceTicks(top || 1, 4, 0, Boolean(opts.integer));
  const yMax = ticks[ticks.length - 1];
  const axisFormat = opts.axisFormat ? opts.axisFormat(ticks) : yFormat;
  mount(plot, (width) => {
    const left = Math.max(...ticks.map((t) => textWidth(axisFormat(t)))) + 4;
    const m = {left, right: 8, top: 10, bottom: 24};
    const w = width - m.left - m.right;
    const ht = height - m.top - m.bottom;
    const n = Math.max(points.length, 1);
    const band = w / n;
    const x = (i) => m.left + band * (i + 0.5);
    const y = (v) => m.top + ht - (v / yMax) * ht;
    const svg = s("svg", {class: "chart-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": opts.title || "chart", "data-testid": opts.testid, "data-points": points.length,
      "data-total": series.map((se) => points.reduce((a, p) => a + (se.value(p) || 0), 0)).join(",")});
    for (const t of ticks) {
      svg.append(s("line", {class: "grid", x1: m.left, x2: width - m.right, y1: y(t), y2: y(t)}),
        s("text", {class: "axis", x: m.left - 8, y: y(t) + 4, "text-anchor": "end"}, axisFormat(t)));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(w / 74))));
    points.forEach((p, i) => {
      if ((points.length - 1 - i) % every === 0) {
        svg.append(s("text", {class: "axis", x: x(i), y: height - 6, "text-anchor": "middle"},
          opts.tick ? opts.tick(p.t) : String(p.t)));
      }
    });
    if (kind === "bars") drawBars(svg, values, series, {x, y, band, stacked, ht, m});
    else drawLines(svg, values, series, {x, y, stacked, kind, base: m.top + ht, connect: Boolean(opts.connectGaps)});
    const guide = s("line", {class: "guide", y1: m.top, y2: m.top + ht, visibility: "hidden"});
    const overlay = s("rect", {x: m.left, y: m.top, width: w, height: ht, fill: "transparent"});
    svg.append(guide, overlay);
    overlay.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const i = Math.min(n - 1, Math.max(0, Math.floor((ev.clientX - box.left - m.left) / band)));
      guide.setAttribute("x1", x(i));
      guide.setAttribute("x2", x(i));
      guide.setAttribute("visibility", "visible");
      const rows = series.map((se, k) => [se.color, se.label, yFormat(values[i][k] ?? 0)]);
      showTip(tip, plot, x(i), ev.clientY - box.top, opts.label ? opts.label(points[i].t) : "", rows);
    });
    overlay.addEventListener("mouseleave", () => {
      guide.setAttribute("visibility", "hidden");
      tip.classList.remove("visible");
    });
    plot.querySelector("svg")?.remove();
    plot.prepend(svg);
  });
}

function drawBars(svg, values, series, {x, y, band, stacked, m, ht}) {
  const barWidth = Math.max(1, Math.min(28, band * (stacked ? 0.68 : 0.8) / (stacked ? 1 : series.length)));
  values.forEach((row, i) => {
    let base = 0;
    row.forEach((v, k) => {
      if (!v) return;
      const start = stacked ? base : 0;
      const x0 = stacked ? x(i) - barWidth / 2 : x(i) - (barWidth * series.length) / 2 + k * barWidth;
      const top = y(start + v);
      svg.append(s("rect", {class: "bar", x: x0, y: top, width: barWidth, height: Math.max(0.5, y(start) - top),
        rx: Math.min(3, barWidth / 3), fill: series[k].color, "data-series": series[k].key, "data-value": v}));
      base += v;
    });
  });
  svg.append(s("line", {class: "baseline", x1: m.left, x2: m.left + band * values.length, y1: m.top + ht,
    y2: m.top + ht}));
}

function drawLines(svg, values, series, {x, y, stacked, kind, base, connect}) {
  const cumulative = values.map(() => 0);
  const layers = series.map((se, k) => values.map((row, i) => {
    const v = row[k];
    if (v === null || v === undefined) return null;
    const low = stacked ? cumulative[i] : 0;
    if (stacked) cumulative[i] += v;
    return [low, low + v];
  }));
  layers.forEach((layer, k) => {
    const se = series[k];
    const segments = [];
    let current = [];
    layer.forEach((pair, i) => {
      if (pair === null) {
        if (connect) return;  // an empty bucket: join its neighbours rather than break the line
        if (current.length) segments.push(current);
        current = [];
      } else current.push([i, pair]);
    });
    if (current.length) segments.push(current);
    for (const seg of segments) {
      const line = seg.map(([i, [, hi]], j) => `${j ? "L" : "M"}${x(i).toFixed(1)},${y(hi).toFixed(1)}`).join("");
      if (kind === "area") {
        const back = seg.slice().reverse().map(([i, [lo]]) => `L${x(i).toFixed(1)},${(stacked ? y(lo) : base).toFixed(1)}`);
        svg.append(s("path", {class: "area", d: line + back.join("") + "Z", fill: se.color}));
      }
      svg.append(s("path", {class: "line" + (se.dashed ? " dashed" : ""), d: line, stroke: se.color,
        "data-series": se.key}));
      if (seg.length === 1) {
        const [i, [, hi]] = seg[0];
        svg.append(s("circle", {cx: x(i), cy: y(hi), r: 2.5, fill: se.color}));
      }
    }
  });
}

/**
 * Cost against quality. opts: points [{label, x, y, color, kind: "router" | "model", note}],
 * arrow {from, to, label}, xFormat, yFormat, xLabel, yLabel, height, testid.
 */
export function scatterChart(container, opts) {
  const {points, xFormat = String, yFormat = String, height = 260} = opts;
  clear(container).classList.add("chart");
  const plot = h("div", {class: "chart-plot"});
  container.append(plot);
  const tip = tooltip(plot);
  const xs = points.map((p) => p.x);
  const ys = points.filter((p) => p.y !== null).map((p) => p.y);
  const xTicks = niceTicks(Math.max(...xs, 0) * 1.12 || 1, 4);
  const yLow = ys.length && Math.min(...ys) >= 0 && Math.max(...ys) <= 1 ? 0 : Math.min(0, ...ys);
  const yTicks = niceTicks(ys.length && Math.max(...ys) <= 1 && yLow === 0 ? 1 : Math.max(...ys, 1), 4, yLow);
  mount(plot, (width) => {
    const m = {left: Math.max(...yTicks.map((t) => textWidth(yFormat(t)))) + 22, right: 16, top: 14, bottom: 40};
    const w = width - m.left - m.right;
    const ht = height - m.top - m.bottom;
    const xMax = xTicks[xTicks.length - 1];
    const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
    const px = (v) => m.left + (v / xMax) * w;
    const py = (v) => m.top + ht - ((v - y0) / (y1 - y0)) * ht;
    const svg = s("svg", {class: "chart-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": opts.title || "cost versus quality", "data-testid": opts.testid});
    for (const t of yTicks) {
      svg.append(s("line", {class: "grid", x1: m.left, x2: width - m.right, y1: py(t), y2: py(t)}),
        s("text", {class: "axis", x: m.left - 8, y: py(t) + 4, "text-anchor": "end"}, yFormat(t)));
    }
    for (const t of xTicks) {
      svg.append(s("text", {class: "axis", x: px(t), y: m.top + ht + 16, "text-anchor": "middle"}, xFormat(t)));
    }
    svg.append(s("text", {class: "axis-title", x: m.left + w / 2, y: height - 4, "text-anchor": "middle"}, opts.xLabel),
      s("text", {class: "axis-title", x: 12, y: m.top + ht / 2, "text-anchor": "middle",
        transform: `rotate(-90 12 ${m.top + ht / 2})`}, opts.yLabel));
    const at = (p) => [px(p.x), p.y === null ? m.top + ht : py(p.y)];
    if (opts.arrow) {
      const [fx, fy] = at(opts.arrow.from);
      const [tx, ty] = at(opts.arrow.to);
      svg.append(s("defs", {}, s("marker", {id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"}, s("path", {d: "M0,0L10,5L0,10z",
        class: "arrowhead"}))));
      const shorten = 12 / Math.max(1, Math.hypot(tx - fx, ty - fy));
      svg.append(s("path", {class: "saving-arrow", d: `M${fx},${fy}L${tx - (tx - fx) * shorten},${ty - (ty - fy) * shorten}`,
        "marker-end": "url(#arrowhead)"}));
      svg.append(s("text", {class: "saving-label", x: (fx + tx) / 2, y: Math.min(fy, ty) - 10,
        "text-anchor": "middle"}, opts.arrow.label));
    }
    const placed = [];  // label boxes drawn so far: a label tries the right, the left, above, below
    const label = (cx, cy, text, right) => {
      const width = textWidth(text) + 4;
      const options = [[right ? "start" : "end", cx + (right ? 13 : -13), cy + 4],
        [right ? "end" : "start", cx + (right ? -13 : 13), cy + 4],
        ["middle", cx, cy - 13], ["middle", cx, cy + 21]];
      const box = ([anchor, x, y]) => {
        const x0 = anchor === "start" ? x : anchor === "end" ? x - width : x - width / 2;
        return [x0, y - 11, x0 + width, y + 3];
      };
      const free = (b) => placed.every((o) => b[2] <= o[0] || b[0] >= o[2] || b[3] <= o[1] || b[1] >= o[3]);
      const pick = options.find((o) => free(box(o))) || options[0];
      placed.push(box(pick));
      return s("text", {class: "point-label", x: pick[1], y: pick[2], "text-anchor": pick[0]}, text);
    };
    for (const p of points) {
      const [cx, cy] = at(p);
      placed.push([cx - 9, cy - 9, cx + 9, cy + 9]);
    }
    for (const p of points) {
      const [cx, cy] = at(p);
      const mark = p.kind === "router"
        ? s("path", {class: "point router", d: `M${cx},${cy - 9}L${cx + 9},${cy}L${cx},${cy + 9}L${cx - 9},${cy}Z`,
          fill: p.color})
        : s("circle", {class: "point" + (p.y === null ? " unrated" : ""), cx, cy, r: 7, fill: p.color});
      mark.setAttribute("data-label", p.label);
      mark.setAttribute("data-x", p.x);
      if (p.y !== null) mark.setAttribute("data-y", p.y);
      const right = cx < m.left + w * 0.72;
      svg.append(mark, label(cx, cy, p.label, right));
      mark.addEventListener("mouseenter", () => showTip(tip, plot, cx, cy, p.label, [
        [p.color, opts.xLabel, xFormat(p.x)], [p.color, opts.yLabel, p.y === null ? "no feedback" : yFormat(p.y)],
        ...(p.note ? [[p.color, "", p.note]] : [])]));
      mark.addEventListener("mouseleave", () => tip.classList.remove("visible"));
    }
    plot.querySelector("svg")?.remove();
    plot.prepend(svg);
  });
}

/** A donut of shares with its total in the middle. items [{label, value, color}]. */
export function donutChart(container, {items, center, caption, size = 168, testid}) {
  clear(container).classList.add("donut");
  const total = items.reduce((a, it) => a + it.value, 0);
  const r = size / 2 - 12;
  const c = 2 * Math.PI * r;
  const svg = s("svg", {width: size, height: size, viewBox: `0 0 ${size} ${size}`, role: "img",
    "aria-label": caption || "shares", "data-testid": testid});
  svg.append(s("circle", {class: "donut-track", cx: size / 2, cy: size / 2, r, "stroke-width": 18, fill: "none"}));
  let offset = 0;
  for (const it of items) {
    const len = total ? (it.value / total) * c : 0;
    svg.append(s("circle", {cx: size / 2, cy: size / 2, r, fill: "none", stroke: it.color, "stroke-width": 18,
      "stroke-dasharray": `${Math.max(0, len - 1.5)} ${c}`, "stroke-dashoffset": -offset,
      transform: `rotate(-90 ${size / 2} ${size / 2})`, "data-label": it.label, "data-value": it.value}));
    offset += len;
  }
  svg.append(s("text", {class: "donut-value", x: size / 2, y: size / 2 + 4, "text-anchor": "middle"}, center.value),
    s("text", {class: "donut-label", x: size / 2, y: size / 2 + 22, "text-anchor": "middle"}, center.label));
  container.append(svg, h("ul", {class: "donut-legend"}, items.map((it) =>
    h("li", {}, h("i", {class: "swatch", style: {background: it.color}}), h("span", {}, it.label),
      h("b", {}, total ? ((it.value / total) * 100).toFixed(1) + "%" : "—")))));
}

/** A horizontal bar split into shares. items [{label, value, color}]. */
export function shareBar(items, testid) {
  const total = items.reduce((a, it) => a + it.value, 0) || 1;
  return h("div", {class: "share-bar", "data-testid": testid}, items.map((it) =>
    h("span", {class: "share-seg", title: `${it.label}: ${((it.value / total) * 100).toFixed(1)}%`,
      "data-label": it.label, "data-value": it.value,
      style: {width: (it.value / total) * 100 + "%", background: it.color}})));
}
