// Requests: the explorer. A paged list of requests (newest first) and, for the selected one,
// its routing decision, the features it was made from, its attempts and its feedback.

import {h, icon, s} from "./dom.js";
import {card, pill, statusPill, table} from "./ui.js";

const PAGE = 50;

function route(r) {
  if (!r.router) return h("span", {class: "muted"}, "direct");
  return h("span", {class: "route-cell"}, h("b", {}, r.router), h("small", {class: "muted"}, r.reason || ""));
}

function listTable(rows, ctx, compact) {
  const {fmt} = ctx;
  const wide = (cols) => (compact ? [] : cols);
  return table([
    {label: "Time", render: (r) => h("span", {title: new Date(r.created * 1000).toISOString()}, fmt.dateTime(r.created))},
    {label: "Request", render: (r) => h("code", {class: "id"}, r.request_id)},
    {label: "Model", render: (r) => h("span", {class: "name-cell"}, h("i", {class: "swatch", style: {background: ctx.color(r.model_group)}}),
      r.model === r.model_group ? r.model : h("span", {}, r.model, h("span", {class: "muted"}, " → "), r.model_group || "—"))},
    {label: "Route", render: route},
    {label: "Status", render: (r) => statusPill(r)},
    {label: "Latency", num: true, render: (r) => fmt.ms(r.latency_ms)},
    ...wide([{label: "Tokens", num: true, render: (r) => `${fmt.compact(r.prompt_tokens)} / ${fmt.compact(r.completion_tokens)}`}]),
    {label: "Cost", num: true, render: (r) => fmt.cost(r.cost)},
    ...wide([{label: "Key", render: (r) => r.key_id || fmt.dash},
      {label: "Feedback", num: true, render: (r) => (r.feedback.count ? fmt.score(r.feedback.avg_score) : fmt.dash)}]),
  ], rows, {testid: "requests-table", emptyText: "No request matches these filters.",
    rowTestid: (r) => "request-" + r.request_id,
    onclick: (r) => ctx.go("requests", {status: ctx.route.params.status}, r.request_id)});
}

function field(label, value) {
  return [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
}

function flatten(value, prefix = "", out = []) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? prefix + "." + k : k, out);
  } else {
    out.push([prefix, Array.isArray(value) ? value.join(", ") || "[]" : value]);
  }
  return out;
}

function showValue(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(4)));
  return String(v);
}

function num(v) {
  return typeof v === "number" && Number.isFinite(v);
}

// -- the routing decision ---------------------------------------------------------------------

const KIND_TONE = {rules: "accent", semantic: "accent", learned: "accent", cascade: "accent", default: "neutral"};

/** A policy's facts (``detail``) as short "key value" lines: the rule that matched, thresholds... */
function detailFacts(detail) {
  if (!detail || typeof detail !== "object") return [];
  const label = {rule: "Rule", when: "Condition", route: "Route", scores: "Similarities", thresholds: "Thresholds",
    objective: "Objective", predictor: "Predictor", prompt_tokens: "Prompt tokens", output_tokens: "Expected output",
    chain: "Cascade", no_opinion: "No opinion from", failed: "Failed policies"};
  const text = (v) => {
    if (Array.isArray(v)) return v.map((x) => (x && typeof x === "object" ? Object.values(x).filter((y) => y !== null).join(" @ ") : String(x))).join(" → ");
    if (v && typeof v === "object") return Object.entries(v).map(([k, x]) => `${k} ${showValue(x)}`).join(" · ");
    return showValue(v);
  };
  return Object.entries(detail).map(([k, v]) => field(label[k] || k, k === "when" ? h("code", {}, text(v)) : text(v)));
}

function candidatesTable(routing, ctx, testid) {
  const {fmt} = ctx;
  const candidates = (routing.candidates || []).map((c) => (typeof c === "string" ? {group: c, chosen: c === routing.chosen} : c));
  if (!candidates.length) return null;
  const scores = candidates.map((c) => c.score).filter(num);
  const top = Math.max(1e-9, ...scores.map((v) => Math.abs(v)));
  const hasQuality = candidates.some((c) => num(c.predicted_quality));
  const hasCost = candidates.some((c) => num(c.cost_estimate));
  return h("div", {class: "table-wrap candidates"}, h("table", {class: "table", "data-testid": testid},
    h("thead", {}, h("tr", {}, h("th", {}, "Candidate"), scores.length ? h("th", {class: "num"}, "Score") : null,
      hasQuality ? h("th", {class: "num"}, "Quality") : null, hasCost ? h("th", {class: "num", title: "Estimated cost of this request on the candidate"}, "Cost") : null)),
    h("tbody", {}, candidates.map((c) => [
      h("tr", {class: "candidate" + (c.chosen ? " chosen" : ""), "data-group": c.group, "data-chosen": c.chosen ? "true" : "false"},
        h("td", {}, h("span", {class: "name-cell"}, h("i", {class: "swatch", style: {background: ctx.color(c.group)}}),
          h("b", {}, c.group), c.chosen ? pill("chosen", "good") : null)),
        scores.length ? h("td", {class: "num"}, num(c.score) ? h("span", {class: "score-cell"},
          hasQuality && hasCost ? null : h("span", {class: "meter"}, h("span", {class: "meter-fill",
            style: {width: (Math.abs(c.score) / top) * 100 + "%", background: ctx.color(c.group)}})),
          showValue(c.score)) : fmt.dash) : null,
        hasQuality ? h("td", {class: "num"}, num(c.predicted_quality) ? c.predicted_quality.toFixed(2) : fmt.dash) : null,
        hasCost ? h("td", {class: "num"}, fmt.cost(c.cost_estimate)) : null),
      c.why ? h("tr", {class: "candidate-why" + (c.chosen ? " chosen" : "")},
        h("td", {colspan: 1 + (scores.length ? 1 : 0) + (hasQuality ? 1 : 0) + (hasCost ? 1 : 0)}, c.why)) : null]))));
}

function decisionBlock(routing, ctx, shadow) {
  const timing = [num(routing.analysis_ms) ? `analysis ${routing.analysis_ms.toFixed(1)} ms` : null,
    num(routing.decision_ms) ? `decision ${routing.decision_ms < 0.1 ? "<0.1" : routing.decision_ms.toFixed(1)} ms` : null].filter(Boolean);
  const facts = detailFacts(routing.detail);
  return h("div", {class: "decision" + (shadow ? " shadow" : ""), "data-testid": shadow ? "shadow-decision" : "decision",
    "data-chosen": routing.chosen, "data-policy": routing.policy},
  h("div", {class: "decision-head"},
    h("div", {class: "decision-policy"}, pill(routing.kind || "policy", shadow ? "warn" : KIND_TONE[routing.kind] || "neutral"),
      h("span", {class: "mono"}, routing.policy || "—"), shadow ? pill("shadow · not served", "warn") : null),
    h("div", {class: "decision-chosen", "data-testid": shadow ? null : "decision-chosen"},
      h("span", {class: "muted"}, shadow ? "would choose" : "chose"),
      h("span", {class: "chosen-chip", style: {borderColor: ctx.color(routing.chosen),
        background: shadow ? "transparent" : `color-mix(in srgb, ${ctx.color(routing.chosen)} 14%, transparent)`}},
      routing.chosen || "—"))),
  routing.reason ? h("p", {class: "decision-reason", "data-testid": shadow ? null : "decision-reason"}, routing.reason) : null,
  candidatesTable(routing, ctx, shadow ? "shadow-candidates" : "decision-candidates"),
  facts.length || timing.length ? h("dl", {class: "fields compact"}, facts,
    timing.length ? field("Time", timing.join(" · ")) : null) : null);
}

function decision(r, ctx) {
  const routing = r.routing;
  if (!routing) {
    return h("p", {class: "muted"}, `Sent directly to model group ${r.model_group || r.model}; no router decided.`);
  }
  const served = r.model_group && routing.chosen && r.model_group !== routing.chosen
    ? h("p", {class: "note"}, `Served by ${r.model_group} after ${routing.chosen} failed over.`) : null;
  const shadows = Array.isArray(routing.shadow) ? routing.shadow : [];
  return h("div", {},
    h("div", {class: "decision-router"}, h("span", {class: "muted"}, "Router"), h("b", {}, routing.router || "—")),
    decisionBlock(routing, ctx, false), served,
    shadows.length ? h("div", {class: "shadows"}, h("h5", {}, `Shadow decisions (${shadows.length})`),
      h("p", {class: "caption"}, "Decided and recorded for comparison; never served."),
      shadows.map((sd) => decisionBlock(sd, ctx, true))) : null);
}

// -- the features the decision was made from ----------------------------------------------------

function chip(label, value, testid) {
  return h("div", {class: "feature-chip", "data-feature": testid}, h("span", {class: "muted"}, label), h("b", {}, value));
}

function featureSummary(f, ctx) {
  const {fmt} = ctx;
  const confidence = (v) => (num(v) && v > 0 ? ` · ${fmt.pct(v, 0)}` : "");
  const task = f.task_type || {};
  const taskProb = task.probs && num(task.probs[task.label]) ? task.probs[task.label] : null;
  const lang = f.language || {};
  const pii = f.pii || {};
  const intents = f.intents && typeof f.intents === "object" ? Object.keys(f.intents) : [];
  const extras = [f.has_tools ? `${f.tools} tool${f.tools === 1 ? "" : "s"}` : null,
    f.has_images ? `${f.images} image${f.images === 1 ? "" : "s"}` : null, f.has_audio ? "audio" : null,
    f.json_schema ? "JSON schema" : null, f.has_system_prompt ? "system prompt" : null].filter(Boolean);
  return h("div", {class: "feature-chips", "data-testid": "feature-summary"},
    chip("Task", (task.label || "unknown") + confidence(taskProb), "task_type"),
    chip("Language", (lang.code || "unknown") + confidence(lang.confidence), "language"),
    chip("Complexity", num(f.complexity) ? f.complexity.toFixed(2) : "unknown", "complexity"),
    chip("Personal data", pii.found === null || pii.found === undefined ? "not checked"
      : pii.found ? (pii.kinds || []).join(", ") || "found" : "none", "pii"),
    f.sentiment && f.sentiment.label && f.sentiment.label !== "unknown" ? chip("Sentiment", f.sentiment.label, "sentiment") : null,
    chip("Prompt", `${fmt.int(f.prompt_tokens)} tokens · ${fmt.int(f.turns)} turn${f.turns === 1 ? "" : "s"}`, "prompt_tokens"),
    intents.length ? chip("Intents", intents.join(", "), "intents") : null,
    extras.length ? chip("Shape", extras.join(", "), "shape") : null);
}

function featuresSection(f, ctx) {
  const all = flatten(f);
  return h("section", {class: "drawer-section"}, h("h4", {}, "Features"),
    h("p", {class: "caption"}, "What the analysis found before the model was chosen."),
    featureSummary(f, ctx),
    h("details", {class: "all-features"}, h("summary", {}, `All ${all.length} features`),
      h("dl", {class: "features", "data-testid": "features"}, all.map(([k, v]) => [h("dt", {}, k), h("dd", {}, showValue(v))]))));
}

function waterfall(attempts, ctx) {
  const end = Math.max(1, ...attempts.map((a) => a.start_offset_ms + a.latency_ms));
  const rowH = 30;
  const width = 420;
  const label = 120;
  const svg = s("svg", {class: "waterfall", viewBox: `0 0 ${width} ${attempts.length * rowH + 18}`, "data-testid": "attempts-waterfall"});
  attempts.forEach((a, i) => {
    const x = label + (a.start_offset_ms / end) * (width - label - 8);
    const w = Math.max(2, (a.latency_ms / end) * (width - label - 8));
    const y = i * rowH + 6;
    const name = `${i + 1}. ${a.deployment}`;
    svg.append(s("text", {class: "wf-label", x: 0, y: y + 13}, name.length > 17 ? name.slice(0, 16) + "…" : name,
      s("title", {}, name)),
      s("rect", {class: "wf-bar " + (a.status === "ok" ? "ok" : "error"), x, y, width: w, height: 16, rx: 4,
        "data-status": a.status}),
      a.ttft_ms ? s("line", {class: "wf-ttft", x1: x + (a.ttft_ms / end) * (width - label - 8), x2: x + (a.ttft_ms / end) * (width - label - 8),
        y1: y - 2, y2: y + 18}) : null);
  });
  svg.append(s("text", {class: "axis", x: width - 8, y: attempts.length * rowH + 14, "text-anchor": "end"}, ctx.fmt.ms(end)),
    s("text", {class: "axis", x: label, y: attempts.length * rowH + 14}, "0 ms"));
  return svg;
}

function attemptsTable(attempts, ctx) {
  const {fmt} = ctx;
  return table([
    {label: "#", render: (a) => String(a.idx + 1)},
    {label: "Deployment", render: (a) => h("div", {class: "route-cell"}, a.deployment,
      h("small", {class: "muted"}, `${a.provider} · ${a.reason}`))},
    {label: "Outcome", render: (a) => (a.status === "ok" ? pill("ok", "good")
      : pill([a.status_code, a.error_class].filter(Boolean).join(" ") || a.status, "bad"))},
    {label: "Latency", num: true, render: (a) => fmt.ms(a.latency_ms)},
  ], attempts, {testid: "attempts-table"});
}

function detailPanel(r, ctx) {
  const {fmt} = ctx;
  const close = () => ctx.go("requests", {status: ctx.route.params.status});
  const features = r.routing && r.routing.features && typeof r.routing.features === "object" ? r.routing.features : null;
  return h("aside", {class: "drawer", "data-testid": "request-detail", "data-request": r.request_id},
    h("header", {class: "drawer-head"},
      h("div", {}, h("div", {class: "eyebrow"}, "Request"), h("h2", {class: "mono"}, r.request_id)),
      h("button", {type: "button", class: "icon-button", "aria-label": "Close", onclick: close}, icon("close"))),
    h("div", {class: "drawer-meta"}, statusPill(r), h("span", {}, fmt.dateTime(r.created)),
      h("span", {class: "muted"}, `${r.model} → ${r.model_group || "—"}`)),
    h("section", {class: "drawer-section"}, h("h4", {}, "Summary"), h("dl", {class: "fields"},
      field("Deployment", r.deployment), field("Upstream model", r.upstream_model),
      field("Latency", fmt.ms(r.latency_ms)), field("Time to first token", fmt.ms(r.ttft_ms)),
      field("Tokens in / out", `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}` +
        (r.cached_tokens ? ` (${fmt.int(r.cached_tokens)} cached)` : "")),
      field("Cost", fmt.cost(r.cost)), field("Stream", r.stream ? "yes" : "no"),
      field("Finish reason", r.finish_reason), field("Error", r.error_class),
      field("Key", r.key_id), field("Team", r.team), field("User", r.user_id),
      field("Tags", (r.tags || []).length ? h("span", {class: "tags"}, r.tags.map((t) => pill(t))) : null),
      r.client_disconnected ? field("Client", "disconnected") : null)),
    h("section", {class: "drawer-section"}, h("h4", {}, "Routing decision"), decision(r, ctx)),
    features ? featuresSection(features, ctx) : null,
    h("section", {class: "drawer-section"}, h("h4", {}, `Attempts (${r.attempts.length})`),
      r.attempts.length ? waterfall(r.attempts, ctx) : null, attemptsTable(r.attempts, ctx)),
    h("section", {class: "drawer-section"}, h("h4", {}, "Feedback"), r.feedback.length
      ? h("ul", {class: "feedback", "data-testid": "feedback-list"}, r.feedback.map((f) => h("li", {},
        f.score !== null ? h("span", {class: "score-badge"}, fmt.score(f.score)) : null,
        f.label ? pill(f.label, "accent") : null, f.comment ? h("span", {class: "comment"}, f.comment) : null,
        h("small", {class: "muted"}, fmt.ago(f.created)))))
      : h("p", {class: "muted"}, "No feedback yet. POST /v1/feedback with this request id to add some.")),
    r.content ? h("section", {class: "drawer-section"}, h("h4", {}, "Content"),
      h("pre", {class: "content"}, JSON.stringify(r.content, null, 2))) : null);
}

export async function render(view, ctx) {
  const {fmt} = ctx;
  const status = ctx.route.params.status || "";
  const [page, detail] = await Promise.all([
    ctx.get("requests", {limit: PAGE, status}),
    ctx.route.id ? ctx.get("requests/" + encodeURIComponent(ctx.route.id)).catch((err) => {
      if (err.status === 404) return {missing: ctx.route.id};
      throw err;
    }) : null]);
  const rows = page.data.slice();
  let cursor = page.next_cursor;
  const compact = Boolean(ctx.route.id);
  const holder = h("div", {}, listTable(rows, ctx, compact));
  const more = h("button", {type: "button", class: "ghost-button", hidden: !cursor, onclick: async () => {
    more.disabled = true;
    const next = await ctx.get("requests", {limit: PAGE, status, cursor});
    rows.push(...next.data);
    cursor = next.next_cursor;
    holder.replaceChildren(listTable(rows, ctx, compact));
    more.hidden = !cursor;
    more.disabled = false;
    shown.textContent = `Showing ${fmt.int(rows.length)} of ${fmt.int(page.total)}`;
  }}, "Load more");
  const shown = h("span", {class: "muted"}, `Showing ${fmt.int(rows.length)} of ${fmt.int(page.total)}`);
  const toggle = h("div", {class: "segmented small", role: "group", "aria-label": "Status"},
    [["", "All"], ["error", "Errors"], ["ok", "Succeeded"]].map(([value, label]) => h("button", {type: "button",
      class: status === value ? "active" : "", onclick: () => ctx.go("requests", {status: value || null})}, label)));
  let drawer = null;
  if (detail && detail.missing) {
    drawer = h("aside", {class: "drawer", "data-testid": "request-detail"}, h("header", {class: "drawer-head"},
      h("h2", {}, "Not found"), h("button", {type: "button", class: "icon-button", "aria-label": "Close",
        onclick: () => ctx.go("requests", {status: status || null})}, icon("close"))),
    h("p", {class: "muted"}, `No request with id ${detail.missing} (it may not be written yet, or was pruned).`));
  } else if (detail) {
    drawer = detailPanel(detail, ctx);
  }
  view.append(
    h("div", {class: "page-head"}, h("h1", {}, "Requests"),
      h("p", {class: "muted", "data-testid": "requests-total", "data-value": page.total}, `${fmt.plural(page.total, "matching request")}`)),
    h("div", {class: "explorer" + (drawer ? " with-detail" : "")},
      card(null, {cls: "flush"}, h("div", {class: "table-toolbar"}, toggle, shown), holder,
        h("div", {class: "table-footer"}, more)),
      drawer));
}
