// Overview: the headline numbers and the five time series (traffic, spend, latency, errors, routing mix).

import {timeChart} from "./charts.js";
import {h} from "./dom.js";
import {modelTable} from "./models.js";
import {card, kpi} from "./ui.js";

const GOOD = "#4f46e5";
const BAD = "#e11d48";
const WARN = "#d97706";
const TEAL = "#0d9488";

function savingsKpi(total, routers, fmt) {
  const baseline = routers.length === 1 ? routers[0].baseline_group : "each router's priciest model";
  return kpi({
    label: "Saved by routing", value: fmt.cost(total.savings), raw: total.savings, testid: "kpi-savings", tone: "good",
    sub: total.savings_rate === null ? "No routed traffic in range" : `${fmt.pct(total.savings_rate)} less than all → ${baseline}`,
  });
}

export async function render(view, ctx) {
  const {fmt} = ctx;
  const [sum, series, savings, models] = await Promise.all([
    ctx.get("analytics/summary"), ctx.get("analytics/timeseries"), ctx.get("analytics/savings"),
    ctx.get("analytics/models"),
  ]);
  const points = series.points;
  const per = series.bucket;
  const common = {points, tick: (t) => fmt.tick(t, per), label: (t) => fmt.bucketLabel(t, per)};
  const share = (p, g) => (p.requests ? (p.by_group[g] || 0) / p.requests : 0);
  const chart = (opts) => {
    const el = h("div");
    requestAnimationFrame(() => timeChart(el, {...common, ...opts}));
    return el;
  };

  view.append(
    h("div", {class: "page-head"}, h("h1", {}, "Overview"),
      h("p", {class: "muted"}, `${fmt.plural(sum.requests, "request")} across ${fmt.plural(sum.model_groups, "model group")}`)),
    h("div", {class: "kpis"},
      kpi({label: "Requests", value: fmt.int(sum.requests), raw: sum.requests, testid: "kpi-requests",
        sub: `${fmt.pct(sum.requests ? sum.streamed / sum.requests : 0, 0)} streamed · ${fmt.plural(sum.keys, "key")}`}),
      kpi({label: "Spend", value: fmt.cost(sum.cost), raw: sum.cost, testid: "kpi-cost",
        sub: `${fmt.cost(sum.cost_per_request)} per request`}),
      kpi({label: "Error rate", value: fmt.pct(sum.error_rate), raw: sum.error_rate, testid: "kpi-errors",
        tone: sum.error_rate > 0.05 ? "warn" : "", sub: `${fmt.int(sum.errors)} errors · ${fmt.pct(sum.fallback_rate)} fell back`}),
      kpi({label: "Latency p50", value: fmt.ms(sum.latency_ms.p50), raw: sum.latency_ms.p50, testid: "kpi-latency",
        sub: `p90 ${fmt.ms(sum.latency_ms.p90)} · p99 ${fmt.ms(sum.latency_ms.p99)}`}),
      kpi({label: "Time to first token", value: fmt.ms(sum.ttft_ms.p50), raw: sum.ttft_ms.p50, testid: "kpi-ttft",
        sub: `p50 of streams · p90 ${fmt.ms(sum.ttft_ms.p90)}`}),
      savingsKpi(savings.total, savings.routers, fmt)),
    h("div", {class: "grid two"},
      card("Traffic", {subtitle: `Requests per ${per}`, testid: "chart-traffic"}, chart({
        kind: "bars", stacked: true, integer: true, testid: "traffic", yFormat: fmt.compact, series: [
          {key: "ok", label: "Succeeded", color: GOOD, value: (p) => p.requests - p.errors},
          {key: "errors", label: "Failed", color: BAD, value: (p) => p.errors}]})),
      card("Spend", {subtitle: `US dollars per ${per}`, testid: "chart-cost"}, chart({
        kind: "area", testid: "cost", yFormat: fmt.cost, axisFormat: fmt.costTicks, series: [
          {key: "cost", label: "Spend", color: TEAL, value: (p) => p.cost}]})),
      card("Latency", {subtitle: "Per request, end to end; time to first token for streams", testid: "chart-latency"},
        chart({kind: "lines", testid: "latency", yFormat: fmt.ms, connectGaps: true, series: [
          {key: "p50", label: "p50", color: GOOD, value: (p) => p.latency_ms.p50},
          {key: "p90", label: "p90", color: WARN, value: (p) => p.latency_ms.p90},
          {key: "ttft", label: "TTFT p50", color: TEAL, dashed: true, value: (p) => p.ttft_ms.p50}]})),
      card("Errors and fallbacks", {subtitle: `Share of requests per ${per}`, testid: "chart-errors"}, chart({
        kind: "area", testid: "errors", yFormat: (v) => fmt.pct(v, 0), connectGaps: true, series: [
          {key: "error_rate", label: "Error rate", color: BAD, value: (p) => (p.requests ? p.error_rate : null)},
          {key: "fallback_rate", label: "Fallback rate", color: WARN,
            value: (p) => (p.requests ? p.fallbacks / p.requests : null)}]})),
      card("Routing mix", {subtitle: `Share of requests per model group, per ${per}`, testid: "chart-mix", cls: "span-2"},
        chart({kind: "bars", stacked: true, testid: "mix", yMax: 1, height: 200, yFormat: (v) => fmt.pct(v, 0),
          series: series.groups.map((g) => ({key: g, label: g || "(none)", color: ctx.color(g), value: (p) => share(p, g)}))}))),
    card("Models", {subtitle: "Busiest model groups in this range", testid: "overview-models",
      actions: h("a", {class: "link", href: ctx.href("models")}, "All models →")},
    modelTable(models.models.slice(0, 6), ctx, true)));
}
