// Tiny DOM helpers: build elements and SVG node by node, never by parsing markup (no injection).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs, isSvg) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") el.textContent = String(value);
    else if (name === "class") el.setAttribute("class", value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (!isSvg && name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("div", {class: "card", onclick: fn}, child, "text", [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs, false);
  return append(el, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, true);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** An icon from a few hand-drawn 24x24 paths. */
const ICONS = {
  refresh: "M20 12a8 8 0 1 1-2.34-5.66M20 4v5h-5",
  key: "M11 12a4 4 0 1 1-8 0 4 4 0 0 1 8 0zm0 0h10m-3 0v3m-3-3v2",
  close: "M6 6l12 12M18 6L6 18",
  logout: "M15 12H4m0 0 4-4m-4 4 4 4M13 5h5a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-5",
  arrow: "M5 12h14m-5-5 5 5-5 5",
  inbox: "M4 13h4l2 3h4l2-3h4M5 5h14l1 8v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1v-5z",
};

export function icon(name, cls = "icon") {
  return s("svg", {class: cls, viewBox: "0 0 24 24", "aria-hidden": "true"},
    s("path", {d: ICONS[name], fill: "none", stroke: "currentColor", "stroke-width": 2,
      "stroke-linecap": "round", "stroke-linejoin": "round"}));
}
