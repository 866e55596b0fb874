// Models: the per-model-group table, the per-deployment table, and where traffic and spend go.

import {donutChart} from "./charts.js";
import {h} from "./dom.js";
import {card, meter, swatch, table} from "./ui.js";

function price(usd) {
  return "$" + usd.toFixed(usd >= 0.1 || usd === 0 ? 2 : 3);
}

function quality(fb, fmt) {
  return fb.scored ? h("span", {}, fmt.score(fb.avg_score), h("small", {class: "muted"}, ` (${fb.scored})`)) : fmt.dash;
}

export function modelTable(rows, ctx, compact = false, by = "group") {
  const {fmt} = ctx;
  const name = {label: by === "group" ? "Model group" : "Deployment", key: "name", render: (r) => h("div", {class: "name-cell"},
    swatch(ctx.color(r.model_group)),
    h("div", {}, h("b", {}, by === "group" ? r.model_group || "(none)" : r.deployment || "(none)"),
      h("small", {class: "muted"}, by === "group"
        ? (r.price ? `${price(r.price.input_per_mtok)} / ${price(r.price.output_per_mtok)} per Mtok` : ctx.fmt.plural(r.deployments, "deployment"))
        : r.model_group)))};
  const cols = [
    name,
    {label: "Requests", key: "requests", num: true, render: (r) => fmt.int(r.requests)},
    {label: "Share", key: "share", render: (r) => h("div", {class: "share-cell"}, meter(r.share, ctx.color(r.model_group)),
      h("span", {}, fmt.pct(r.share)))},
    {label: "Error rate", key: "error_rate", num: true, render: (r) => h("span", {class: r.error_rate > 0.05 ? "bad-text" : ""},
      fmt.pct(r.error_rate))},
    ...(compact ? [] : [{label: "Fallbacks", key: "fallback_rate", num: true, render: (r) => fmt.pct(r.fallback_rate)}]),
    {label: "p50", key: "p50", num: true, render: (r) => fmt.ms(r.latency_ms.p50)},
    ...(compact ? [] : [
      {label: "p90", key: "p90", num: true, render: (r) => fmt.ms(r.latency_ms.p90)},
      {label: "p99", key: "p99", num: true, render: (r) => fmt.ms(r.latency_ms.p99)},
      {label: "TTFT p50", key: "ttft", num: true, render: (r) => fmt.ms(r.ttft_ms.p50)},
      {label: "Tokens in", key: "prompt", num: true, render: (r) => fmt.compact(r.tokens.prompt)},
      {label: "Tokens out", key: "completion", num: true, render: (r) => fmt.compact(r.tokens.completion)}]),
    {label: "Cost", key: "cost", num: true, render: (r) => fmt.cost(r.cost)},
    {label: "Per request", key: "cost_per_request", num: true, render: (r) => fmt.cost(r.cost_per_request)},
    {label: "Quality", key: "quality", num: true, render: (r) => quality(r.feedback, fmt)},
  ];
  return table(cols, rows, {testid: compact ? "models-compact" : "models-" + by,
    rowTestid: (r) => "model-row-" + (by === "group" ? r.model_group : r.deployment)});
}

export async function render(view, ctx) {
  const {fmt} = ctx;
  const [groups, deployments] = await Promise.all([
    ctx.get("analytics/models"), ctx.get("analytics/models", {by: "deployment"})]);
  const rows = groups.models;
  const totalCost = rows.reduce((a, r) => a + r.cost, 0);
  const totalRequests = rows.reduce((a, r) => a + r.requests, 0);
  const donut = (key, center, caption, testid) => {
    const el = h("div");
    donutChart(el, {items: rows.map((r) => ({label: r.model_group || "(none)", value: r[key], color: ctx.color(r.model_group)})),
      center, caption, testid});
    return el;
  };
  view.append(
    h("div", {class: "page-head"}, h("h1", {}, "Models"),
      h("p", {class: "muted"}, `${fmt.plural(rows.length, "model group")}, ${fmt.plural(deployments.models.length, "deployment")}`)),
    h("div", {class: "grid two"},
      card("Traffic", {subtitle: "Share of requests"}, donut("requests",
        {value: fmt.compact(totalRequests), label: "requests"}, "requests per model group", "donut-requests")),
      card("Spend", {subtitle: "Share of cost"}, donut("cost",
        {value: fmt.cost(totalCost), label: "spent"}, "cost per model group", "donut-cost"))),
    card("Model groups", {subtitle: "Latency is end to end; quality is the mean feedback score (number of scores)",
      testid: "models-table"}, modelTable(rows, ctx)),
    card("Deployments", {subtitle: "The deployment that served each request", testid: "deployments-table"},
      modelTable(deployments.models, ctx, false, "deployment")));
}
