// Building blocks shared by the views: cards, KPI tiles, tables, pills, empty states.

import {h} from "./dom.js";

export function card(title, opts, ...body) {
  const {subtitle, actions, testid, cls = ""} = opts || {};
  return h("section", {class: "card " + cls, "data-testid": testid},
    title ? h("header", {class: "card-header"},
      h("div", {}, h("h3", {}, title), subtitle ? h("p", {class: "card-sub"}, subtitle) : null),
      actions ? h("div", {class: "card-actions"}, actions) : null) : null,
    ...body);
}

export function kpi({label, value, raw, sub, testid, tone}) {
  return h("div", {class: "kpi" + (tone ? " " + tone : ""), "data-testid": testid, "data-value": raw},
    h("div", {class: "kpi-label"}, label),
    h("div", {class: "kpi-value"}, value),
    h("div", {class: "kpi-sub"}, sub || "\u00a0"));
}

export function pill(text, tone = "neutral") {
  return h("span", {class: "pill " + tone}, text);
}

export function statusPill(row) {
  const failed = row.status >= 400 || row.error_class;
  return pill(failed ? String(row.status) : (row.incomplete ? "incomplete" : String(row.status)),
    failed ? "bad" : row.incomplete ? "warn" : "good");
}

export function empty(text) {
  return h("div", {class: "empty-inline"}, text);
}

/** columns: [{label, num, render(row)}]; opts: {testid, onclick(row), rowTestid(row)} */
export function table(columns, rows, opts = {}) {
  if (!rows.length) return empty(opts.emptyText || "Nothing in this range.");
  return h("div", {class: "table-wrap"}, h("table", {class: "table" + (opts.onclick ? " clickable" : ""),
    "data-testid": opts.testid},
  h("thead", {}, h("tr", {}, columns.map((c) => h("th", {class: c.num ? "num" : ""}, c.label)))),
  h("tbody", {}, rows.map((row) => h("tr", {
    "data-testid": opts.rowTestid ? opts.rowTestid(row) : null,
    tabindex: opts.onclick ? 0 : null,
    onclick: opts.onclick ? () => opts.onclick(row) : null,
    onkeydown: opts.onclick ? (ev) => { if (ev.key === "Enter") opts.onclick(row); } : null,
  }, columns.map((c) => h("td", {class: c.num ? "num" : "", "data-col": c.key}, c.render(row))))))));
}

/** A thin inline bar for a share in a table cell. */
export function meter(fraction, color) {
  return h("span", {class: "meter"}, h("span", {class: "meter-fill",
    style: {width: Math.max(0, Math.min(1, fraction)) * 100 + "%", background: color}}));
}

export function swatch(color) {
  return h("i", {class: "swatch", style: {background: color}});
}
