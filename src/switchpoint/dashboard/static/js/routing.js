// Routing: for each router, where it sent traffic, at what cost and quality, and what it saved
// against sending everything to its most expensive candidate.

import {donutChart, scatterChart, shareBar} from "./charts.js";
import {h} from "./dom.js";
import {card, empty, meter, pill, swatch, table} from "./ui.js";

const ROUTER_COLOR = "#111827";

function stat(label, value, sub, testid, raw) {
  return h("div", {class: "stat", "data-testid": testid, "data-value": raw},
    h("div", {class: "stat-label"}, label), h("div", {class: "stat-value"}, value), h("div", {class: "stat-sub"}, sub));
}

function compare(actual, baseline, fmt) {
  const max = Math.max(baseline || 0, actual) || 1;
  return h("div", {class: "compare"},
    h("div", {class: "compare-row"}, h("span", {}, "Routed"), meter(actual / max, "#4f46e5"), h("b", {}, fmt.cost(actual))),
    h("div", {class: "compare-row"}, h("span", {}, "Baseline"), meter((baseline || 0) / max, "#cbd5e1"),
      h("b", {}, fmt.cost(baseline))));
}

function decisionsTable(decisions, ctx, compact = false) {
  const {fmt} = ctx;
  return table([
    {label: "Model group", render: (d) => h("span", {class: "name-cell"}, swatch(ctx.color(d.model_group)), d.model_group || "(none)")},
    {label: "Share", num: compact, render: (d) => (compact ? fmt.pct(d.share)
      : h("div", {class: "share-cell"}, meter(d.share, ctx.color(d.model_group)), fmt.pct(d.share)))},
    {label: "Requests", num: true, render: (d) => fmt.int(d.requests)},
    {label: "Per request", num: true, render: (d) => fmt.cost(d.cost_per_request)},
    {label: "Errors", num: true, render: (d) => fmt.pct(d.error_rate)},
    {label: "Quality", num: true, render: (d) => (d.feedback.scored ? fmt.score(d.feedback.avg_score) : fmt.dash)},
  ], decisions, {rowTestid: (d) => "decision-" + d.model_group});
}

function routerCard(saving, mix, ctx) {
  const {fmt} = ctx;
  const baseline = saving.candidates.find((c) => c.model_group === saving.baseline_group);
  const points = saving.candidates.filter((c) => c.priced).map((c) => ({
    label: c.model_group, x: c.cost_per_request, y: c.quality.scored ? c.quality.avg_score : null,
    color: ctx.color(c.model_group), note: `chosen for ${fmt.pct(c.chosen_share)} of requests`}));
  const routerPoint = {label: saving.router, kind: "router", x: saving.actual_cost_per_request,
    y: saving.quality.scored ? saving.quality.avg_score : null, color: ROUTER_COLOR,
    note: `${fmt.int(saving.requests)} requests`};
  const plot = h("div", {class: "scatter"});
  requestAnimationFrame(() => scatterChart(plot, {
    points: [...points, routerPoint], testid: "scatter-" + saving.router,
    xLabel: "Cost per request", yLabel: "Quality (mean feedback)", xFormat: fmt.cost, yFormat: (v) => v.toFixed(2),
    arrow: baseline && baseline.cost_per_request !== null && saving.savings_rate !== null ? {
      from: points.find((p) => p.label === baseline.model_group), to: routerPoint,
      label: `−${fmt.pct(saving.savings_rate, 0)} cost`} : null}));
  const policies = mix && mix.policies ? mix.policies : [];
  const shadows = mix && mix.shadow ? mix.shadow : [];
  return card(saving.router, {
    testid: "router-" + saving.router, cls: "router-card",
    subtitle: `Router · ${fmt.plural(saving.requests, "request")} · ${fmt.plural(saving.candidates.length, "candidate group")}`,
    actions: saving.savings_rate !== null ? pill(`Saved ${fmt.pct(saving.savings_rate)}`, "good") : pill("No prices", "neutral")},
  h("div", {class: "router-body"},
    h("div", {class: "router-plot"}, h("h4", {}, "Cost versus quality"), plot,
      h("p", {class: "caption"}, "Each dot is a model group if every request had gone to it; the diamond is the router as it ran.")),
    h("div", {class: "router-side"},
      h("div", {class: "stats"},
        stat("Actual spend", fmt.cost(saving.actual_cost), `${fmt.cost(saving.actual_cost_per_request)} per request`,
          "actual-" + saving.router, saving.actual_cost),
        stat(`All → ${saving.baseline_group || "?"}`, fmt.cost(saving.baseline_cost), "if nothing was routed",
          "baseline-" + saving.router, saving.baseline_cost),
        stat("Saved", fmt.cost(saving.savings), saving.savings_rate === null ? "" : fmt.pct(saving.savings_rate) + " of the baseline",
          "saved-" + saving.router, saving.savings)),
      compare(saving.actual_cost, saving.baseline_cost, fmt),
      h("h4", {}, "Decisions"),
      mix ? shareBar(mix.decisions.map((d) => ({label: d.model_group, value: d.requests, color: ctx.color(d.model_group)})),
        "decisions-" + saving.router) : null,
      mix ? decisionsTable(mix.decisions, ctx, true) : null,
      policies.length ? h("h4", {}, "Decided by") : null,
      policies.length ? policyList(policies, ctx, saving.router) : null,
      shadows.length ? h("h4", {}, "Shadow policies") : null,
      shadows.map((sh) => shadowBox(sh, ctx, saving.router)))));
}

function policyList(policies, ctx, router) {
  const {fmt} = ctx;
  return h("ul", {class: "policy-list", "data-testid": "policies-" + router}, policies.map((p) => h("li", {
    "data-policy": p.policy || "", "data-kind": p.kind || "", "data-value": p.requests},
  h("span", {class: "policy-name"}, pill(p.kind || "?", p.kind === "default" ? "neutral" : "accent"),
    h("span", {class: "mono"}, p.policy || "(unnamed)")),
  meter(p.share, "#6366f1"), h("b", {}, fmt.int(p.requests)),
  h("small", {}, p.decisions.map((d) => `${d.model_group} ${fmt.int(d.requests)}`).join(" · ")))));
}

function shadowBox(sh, ctx, router) {
  const {fmt} = ctx;
  return h("div", {class: "shadow-box", "data-testid": `shadow-${router}-${sh.policy}`, "data-requests": sh.requests,
    "data-agreement": sh.agreement},
  h("div", {class: "shadow-head"}, h("span", {class: "policy-name"}, pill(sh.kind || "?", "warn"),
    h("span", {class: "mono"}, sh.policy || "(unnamed)"), h("span", {class: "muted"}, "shadow · not served")),
  h("span", {}, sh.agreement === null ? "" : `agrees ${fmt.pct(sh.agreement)}`)),
  shareBar(sh.decisions.map((d) => ({label: d.model_group, value: d.requests, color: ctx.color(d.model_group)})),
    `shadow-mix-${router}-${sh.policy}`),
  h("p", {class: "caption"}, `Would have chosen ${sh.decisions.map((d) => `${d.model_group} ${fmt.pct(d.share, 0)}`).join(", ")}` +
    ` of ${fmt.plural(sh.requests, "request")}.`));
}

export async function render(view, ctx) {
  const {fmt} = ctx;
  const [mix, savings] = await Promise.all([ctx.get("analytics/routing"), ctx.get("analytics/savings")]);
  const routed = savings.routers.reduce((a, r) => a + r.requests, 0);
  const direct = mix.routers.find((r) => r.router === null);
  const donut = h("div");
  donutChart(donut, {items: mix.groups.map((g) => ({label: g.model_group || "(none)", value: g.requests, color: ctx.color(g.model_group)})),
    center: {value: fmt.compact(mix.requests), label: "requests"}, caption: "routing mix", testid: "donut-mix"});
  const total = savings.total;
  view.append(
    h("div", {class: "page-head"}, h("h1", {}, "Routing"),
      h("p", {class: "muted"}, `${fmt.plural(savings.routers.length, "router")} · ` +
        `${fmt.pct(mix.requests ? routed / mix.requests : 0)} of requests routed`)),
    h("div", {class: "grid two"},
      card("Routing mix", {subtitle: "Share of all requests per model group", testid: "routing-mix"}, donut),
      card("Savings", {subtitle: "All routers, against each one's most expensive candidate", testid: "savings-total"},
        h("div", {class: "stats big"},
          stat("Spent", fmt.cost(total.actual_cost), `${fmt.plural(total.requests, "routed request")}`, "total-actual", total.actual_cost),
          stat("Baseline", fmt.cost(total.baseline_cost), "all to the priciest candidate", "total-baseline", total.baseline_cost),
          stat("Saved", fmt.cost(total.savings), total.savings_rate === null ? "" : fmt.pct(total.savings_rate),
            "total-saved", total.savings)),
        compare(total.actual_cost, total.baseline_cost, fmt),
        h("p", {class: "caption"}, "The baseline prices each router's recorded tokens at its most expensive candidate " +
          "group; the routed figure is what was recorded."))),
    ...(savings.routers.length ? savings.routers.map((r) => routerCard(r, mix.routers.find((m) => m.router === r.router), ctx))
      : [card("Routers", {}, empty("No request in this range went through a router."))]),
    direct ? card("Direct traffic", {subtitle: `${fmt.plural(direct.requests, "request")} that named a model group`,
      testid: "direct-traffic"}, decisionsTable(direct.decisions, ctx)) : null);
}
