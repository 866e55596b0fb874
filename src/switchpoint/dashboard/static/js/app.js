// The dashboard shell: hash routes (#/overview?since=24h&model=...), the filter bar, sign-in with
// the gateway's master key, and the empty and error states. Views render into <main>.

import * as api from "./api.js";
import {PALETTE} from "./charts.js";
import {clear, h, icon} from "./dom.js";
import * as fmt from "./format.js";
import * as models from "./models.js";
import * as overview from "./overview.js";
import * as requests from "./requests.js";
import * as routing from "./routing.js";

const VIEWS = {overview, models, routing, requests};
const RANGES = [["1h", "1H"], ["24h", "24H"], ["7d", "7D"], ["30d", "30D"]];
const FILTERS = [["model", "Model"], ["key", "Key"], ["tag", "Tag"], ["router", "Router"]];
const DIMENSIONS = {key: "keys", tag: "tags", router: "routers"};

const state = {renderId: 0, dimensions: null, dimensionsFor: null};

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [view, id] = path.split("/");
  return {
    view: VIEWS[view] ? view : "overview",
    id: id ? decodeURIComponent(id) : null,
    params: Object.fromEntries(new URLSearchParams(query)),
  };
}

export function hashFor(view, params, id = null) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  const qs = query.toString();
  return "#/" + view + (id ? "/" + encodeURIComponent(id) : "") + (qs ? "?" + qs : "");
}

function go(view, params, id = null) {
  location.hash = hashFor(view, params, id);
}

/** The filters every view shares, from the route; ``since`` defaults to the last 24 hours. */
function filtersOf(params) {
  const out = {since: params.since || "24h"};
  for (const [name] of FILTERS) if (params[name]) out[name] = params[name];
  return out;
}

function colorScale(dimensions) {
  const names = [...new Set([...(dimensions?.model_groups || [])])].sort();
  const map = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]]));
  return (name) => {
    if (!map.has(name)) map.set(name, PALETTE[map.size % PALETTE.length]);
    return map.get(name);
  };
}

async function dimensionsFor(since) {
  if (state.dimensionsFor !== since) {
    state.dimensions = await api.get("analytics/dimensions", {since});
    state.dimensionsFor = since;
  }
  return state.dimensions;
}

function renderTabs(route) {
  for (const link of document.querySelectorAll("#tabs a")) {
    const active = link.dataset.view === route.view;
    link.classList.toggle("active", active);
    link.setAttribute("aria-current", active ? "page" : "false");
    link.href = hashFor(link.dataset.view, filtersOf(route.params));
  }
}

function select(name, label, options, value, onChange) {
  const values = [...new Set([...(options || []), ...(value ? [value] : [])])];
  return h("label", {class: "select" + (value ? " set" : "")},
    h("span", {class: "select-label"}, label),
    h("select", {"data-filter": name, "aria-label": label, onchange: (ev) => onChange(ev.target.value)},
      h("option", {value: ""}, "All"),
      values.map((v) => h("option", {value: v, selected: v === value}, v))));
}

function renderFilters(route, dimensions) {
  const bar = clear(document.getElementById("filters"));
  const params = route.params;
  const filters = filtersOf(params);
  const update = (changes) => go(route.view, {...params, ...changes}, route.id);
  const range = h("div", {class: "segmented", role: "group", "aria-label": "Time range"},
    RANGES.map(([value, label]) => h("button", {type: "button", class: filters.since === value ? "active" : "",
      "data-range": value, onclick: () => update({since: value, cursor: null})}, label)));
  const modelOptions = [...new Set([...(dimensions?.model_groups || []), ...(dimensions?.models || [])])].sort();
  const pickers = FILTERS.filter(([name]) => name !== "router" || (dimensions?.routers || []).length || filters.router)
    .map(([name, label]) => select(name, label, name === "model" ? modelOptions : dimensions?.[DIMENSIONS[name]],
      filters[name], (value) => update({[name]: value || null, cursor: null})));
  const active = FILTERS.some(([name]) => filters[name]);
  bar.append(h("div", {class: "filters-left"}, range, ...pickers,
    active ? h("button", {type: "button", class: "link-button", onclick: () =>
      go(route.view, {since: filters.since}, route.id)}, "Clear filters") : null),
  h("div", {class: "filters-right"},
    h("span", {class: "updated", id: "updated"}),
    h("button", {type: "button", class: "icon-button", title: "Refresh", "aria-label": "Refresh",
      onclick: () => { state.dimensionsFor = null; render(); }}, icon("refresh"))));
}

function renderActions() {
  const actions = clear(document.getElementById("actions"));
  if (api.key.get()) {
    actions.append(h("button", {type: "button", class: "ghost-button", "aria-label": "Sign out",
      onclick: () => { api.key.clear(); render(); }}, icon("logout"), h("span", {class: "wide-only"}, "Sign out")));
  }
}

function setState(value, view) {
  document.body.dataset.state = value;
  if (view) document.body.dataset.view = view;
}

function loginView(main, message) {
  setState("login");
  const input = h("input", {type: "password", id: "key-input", placeholder: "sk-…", autocomplete: "current-password",
    required: true, "aria-label": "Master key"});
  const submit = (ev) => {
    ev.preventDefault();
    api.key.set(input.value.trim());
    state.dimensionsFor = null;
    render();
  };
  main.append(h("div", {class: "center-card"}, h("form", {class: "login card", onsubmit: submit},
    h("div", {class: "login-icon"}, icon("key")),
    h("h2", {}, "Sign in to this gateway"),
    h("p", {class: "muted"}, "The gateway has a master key. It is kept in this tab only (sessionStorage)."),
    message ? h("p", {class: "form-error", role: "alert"}, message) : null,
    input, h("button", {type: "submit", class: "primary-button"}, "Continue"))));
  input.focus();
}

function messageView(main, title, text, kind) {
  setState(kind);
  main.append(h("div", {class: "center-card"}, h("div", {class: "card empty"},
    h("div", {class: "login-icon"}, icon("inbox")), h("h2", {}, title), h("p", {class: "muted"}, text),
    h("button", {type: "button", class: "ghost-button", onclick: () => render()}, icon("refresh"), "Try again"))));
}

export async function render() {
  const id = ++state.renderId;
  const route = parseHash();
  const main = clear(document.getElementById("main"));
  renderTabs(route);
  renderActions();
  setState("loading", route.view);
  main.append(h("div", {class: "loading"}, h("div", {class: "spinner"}), "Loading…"));
  const alive = () => id === state.renderId;
  try {
    const dimensions = await dimensionsFor(filtersOf(route.params).since);
    if (!alive()) return;
    renderFilters(route, dimensions);
    const filters = filtersOf(route.params);
    const ctx = {
      route, filters, alive, fmt,
      color: colorScale(dimensions),
      get: (path, extra = {}) => api.get(path, {...filters, ...extra}),
      go: (view, params = {}, itemId = null) => go(view, {...filters, ...params}, itemId),
      href: (view, params = {}, itemId = null) => hashFor(view, {...filters, ...params}, itemId),
    };
    const view = h("div", {class: "view"});
    await VIEWS[route.view].render(view, ctx);
    if (!alive()) return;
    clear(main).append(view);
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    setState("ready", route.view);
  } catch (err) {
    if (!alive()) return;
    clear(main);
    clear(document.getElementById("filters"));
    if (err instanceof api.ApiError && err.status === 401) {
      if (api.key.get()) api.key.clear();
      loginView(main, err.code === "invalid_api_key" ? "That key was not accepted." : null);
    } else if (err instanceof api.ApiError && err.code === "logs_unavailable") {
      messageView(main, "No request log to show", err.message, "empty");
    } else {
      console.error(err);
      messageView(main, "Something went wrong", err.message || String(err), "error");
    }
  }
}

window.addEventListener("hashchange", render);
render();
