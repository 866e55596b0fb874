"""Reliability figures for docs/reliability.md, measured in-process against scripted fake upstreams.

    python3 bench/reliability.py                 # every figure, markdown to stdout
    python3 bench/reliability.py --json out.json --requests 2000

R1  success rate under 5/20/50% injected upstream faults (mix of 500, 503, 429, reset, first-byte
    timeout) with k = 3 in-group attempts + 1 fallback hop, against the theoretical 1 - p^k;
R2  requests and time to shift traffic off a deployment that dies at T (50 requests/s);
R4  time to a clear 503 once every deployment is down and cooling (engine and HTTP);
R3f added p99 latency of a failover from a refused connection;
R16 retry amplification: upstream attempts per client request (20% faults; one group 100% down).

The gateway is the real engine (``build_gateway``); upstreams are ``switchpoint.testing`` fakes on
127.0.0.1. Nothing here is tuned per figure: the resilience settings are the defaults unless a row
says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx
import uvicorn

from switchpoint.config.build import build_gateway
from switchpoint.config.load import parse_config
from switchpoint.engine import Gateway
from switchpoint.errors import SwitchpointError
from switchpoint.server.run import build_app
from switchpoint.storage.records import RequestRecord
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.validation import validate_chat_body

HELLO = [{"role": "user", "content": "Say hello"}]
FAULTS = ("500", "503", "429", "reset", "timeout")


class CountingSink:
    """Keeps only counts: attempts per deployment, statuses, and (optionally) the records."""

    def __init__(self, keep: bool = False) -> None:
        self.requests = 0
        self.attempts = 0
        self.statuses: Counter[int] = Counter()
        self.by_deployment: Counter[str] = Counter()
        self.records: list[RequestRecord] = []
        self._keep = keep

    def emit(self, record: RequestRecord) -> None:
        self.requests += 1
        self.attempts += len(record.attempts)
        self.statuses[record.status] += 1
        self.by_deployment.update(a.deployment for a in record.attempts)
        if self._keep:
            self.records.append(record)

    async def aclose(self) -> None:
        return None


def _dep(base: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "openai_compat", "id": name, "model": name, "api_base": base, **extra}


def _gateway(data: dict[str, Any], sink: CountingSink) -> Gateway:
    return build_gateway(parse_config(data, {}), sink=sink)


def _request(model: str, i: int) -> Any:
    return validate_chat_body({"model": model, "messages": HELLO}, request_id=f"b{i}")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


# -- R1 / R16: success rate and amplification under random faults -------------------------------


VARIANTS = ("defaults", "budget 30%", "cap only (no outlier margin)", "panic 5 s, no ejection cap",
            "no budget, no ejection")


async def _fault_run(up: FakeOpenAIUpstream, p: float, n: int, concurrency: int, variant: str) -> dict[str, Any]:
    for name in ("m1", "m2", "m3", "m4", "m5"):
        up.script(name, fail_rate=p, faults=FAULTS, fault_delay=1.0)
    reliability: dict[str, Any] = {}
    if variant == "no budget, no ejection":
        reliability = {"retry": {"budget_ratio": 100}, "health": {"enabled": False}}
    elif variant == "budget 30%":
        reliability = {"retry": {"budget_ratio": 0.3}}
    elif variant == "panic 5 s, no ejection cap":  # the defaults before the ejection cap
        reliability = {"health": {"panic_window": 5, "max_ejection": 1.0, "outlier_margin": 1.0}}
    elif variant == "cap only (no outlier margin)":
        reliability = {"health": {"outlier_margin": 1.0}}
    data = {"reliability": reliability, "models": [
        {"name": "g1", "attempt_timeout": 0.2, "fallbacks": {"default": ["g2"]},
         "deployments": [_dep(up.base_url, m) for m in ("m1", "m2", "m3")]},
        {"name": "g2", "attempt_timeout": 0.2, "max_attempts": 1,
         "deployments": [_dep(up.base_url, m) for m in ("m4", "m5")]},
    ]}
    sink = CountingSink()
    gateway = _gateway(data, sink)
    queue = iter(range(n))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        for i in queue:
            try:
                await gateway.complete(_request("g1", i))
                ok += 1
            except SwitchpointError:
                pass

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    g1_attempts = sum(sink.by_deployment[m] for m in ("m1", "m2", "m3"))
    await gateway.aclose()
    return {
        "p": p, "variant": variant, "requests": n, "success": ok / n, "theory_k4": 1 - p**4,
        "attempts_per_request": sink.attempts / n, "g1_attempts_per_request": g1_attempts / n,
        "retries_denied": gateway.counters["retries_denied"], "panics": gateway.counters["panics"],
        "ejections_held": sum(s["ejections_held"] for g in gateway.health()["deployments"].values() for s in g),
        "seconds": round(elapsed, 2),
        "injected": dict(up.faults_injected),
    }


async def _one_group_down(up: FakeOpenAIUpstream, seconds: float, rps: float) -> dict[str, Any]:
    for name in ("m1", "m2", "m3"):
        up.script(name, status=500)
    up.script("m4", reply="ok")
    data = {"models": [
        {"name": "g1", "fallbacks": {"default": ["g2"]},
         "deployments": [_dep(up.base_url, m) for m in ("m1", "m2", "m3")]},
        {"name": "g2", "deployments": [_dep(up.base_url, "m4")]},
    ]}
    sink = CountingSink()
    gateway = _gateway(data, sink)
    n = int(seconds * rps)
    ok = 0
    started = time.perf_counter()
    tasks = []
    for i in range(n):
        await asyncio.sleep(max(0.0, started + i / rps - time.perf_counter()))
        tasks.append(asyncio.ensure_future(gateway.complete(_request("g1", i))))
    for task in tasks:
        try:
            await task
            ok += 1
        except SwitchpointError:
            pass
    g1 = sum(sink.by_deployment[m] for m in ("m1", "m2", "m3"))
    await gateway.aclose()
    return {"requests": n, "success": ok / n, "g1_attempts_per_request": g1 / n,
            "upstream_attempts_per_request": sink.attempts / n}


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of the repeated runs of one cell, with the range of the success rate."""
    out = dict(runs[0])
    for key in ("success", "attempts_per_request", "g1_attempts_per_request", "retries_denied", "panics",
                "ejections_held", "seconds"):
        out[key] = sum(r[key] for r in runs) / len(runs)
    out["success_range"] = [min(r["success"] for r in runs), max(r["success"] for r in runs)]
    out["runs"] = len(runs)
    return out


# -- R2: shifting traffic off a deployment that dies ----------------------------------------------


async def _shift(up: FakeOpenAIUpstream, mode: str, rps: float = 50, before: float = 1.0,
                 after: float = 3.0) -> dict[str, Any]:
    doomed = FakeOpenAIUpstream().start()
    data = {"models": [{"name": "g", "deployments": [
        _dep(up.base_url, "m1"), _dep(doomed.base_url, "m2"), _dep(up.base_url, "m3")]}]}
    sink = CountingSink(keep=True)
    gateway = _gateway(data, sink)
    errors = 0
    n = int((before + after) * rps)
    started = time.perf_counter()
    killed_at: float | None = None
    for i in range(n):
        await asyncio.sleep(max(0.0, started + i / rps - time.perf_counter()))
        if killed_at is None and time.perf_counter() - started >= before:
            if mode == "refused":
                doomed.stop()
            else:
                doomed.script("m2", status=503)
            killed_at = gateway.clock.now()
        try:
            await gateway.complete(_request("g", i))
        except SwitchpointError:
            errors += 1
    await gateway.aclose()
    if mode != "refused":
        doomed.stop()
    assert killed_at is not None
    late = [a for r in sink.records for a in r.attempts if a.deployment == "m2" and a.started >= killed_at]
    last = max((a.started for a in late), default=killed_at)
    return {"mode": mode, "rps": rps, "requests_to_dead_after_T": len(late),
            "time_to_shift_ms": round((last - killed_at) * 1000, 1), "client_errors": errors,
            "share_m2_before": sum(1 for r in sink.records[: int(before * rps)] if r.deployment == "m2")
            / int(before * rps)}


# -- R4: fast 503 when everything is down ----------------------------------------------------------


def _all_down_config() -> dict[str, Any]:
    dead = [f"http://127.0.0.1:{_free_port()}/v1" for _ in range(3)]
    return {"models": [
        {"name": "g1", "fallbacks": {"default": ["g2"]},
         "deployments": [_dep(dead[0], "d1"), _dep(dead[1], "d2")]},
        {"name": "g2", "deployments": [_dep(dead[2], "d3")]},
    ]}


async def _all_down_engine(n: int) -> dict[str, Any]:
    sink = CountingSink()
    gateway = _gateway(_all_down_config(), sink)
    for i in range(3):  # three failures each: every deployment cooling down
        try:
            await gateway.complete(_request("g1", i))
        except SwitchpointError:
            pass
    attempts_before = sink.attempts
    timings = []
    statuses: Counter[int] = Counter()
    for i in range(n):
        t = time.perf_counter()
        try:
            await gateway.complete(_request("g1", i))
        except SwitchpointError:
            pass
        timings.append(time.perf_counter() - t)
    statuses.update(sink.statuses)
    await gateway.aclose()
    return {"requests": n, "p50_ms": _pct(timings, 50) * 1000, "p99_ms": _pct(timings, 99) * 1000,
            "upstream_attempts_while_cooling": sink.attempts - attempts_before, "status_503": statuses[503] - 0}


def _all_down_http(n: int) -> dict[str, Any]:
    config = parse_config(_all_down_config(), {})
    app = build_app(config)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio", http="httptools",
                                           lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    timings = []
    codes: Counter[int] = Counter()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for i in range(3 + n):
                t = time.perf_counter()
                response = client.post("/v1/chat/completions", json={"model": "g1", "messages": HELLO})
                if i >= 3:
                    timings.append(time.perf_counter() - t)
                    codes[response.status_code] += 1
    finally:
        server.should_exit = True
        thread.join(10)
    return {"requests": n, "p50_ms": _pct(timings, 50) * 1000, "p99_ms": _pct(timings, 99) * 1000,
            "statuses": dict(codes)}


# -- R3f: added latency of a failover from a refused connection ------------------------------------


async def _refused_failover(up: FakeOpenAIUpstream, n: int) -> dict[str, Any]:
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    # Detection off and an unlimited budget, so that every request pays the failover being measured.
    data = {"reliability": {"health": {"enabled": False}, "retry": {"budget_ratio": 100}}, "models": [
        {"name": "failover", "deployments": [_dep(dead, "dead", weight=1e6), _dep(up.base_url, "live", weight=1e-6)]},
        {"name": "direct", "deployments": [_dep(up.base_url, "live")]},
    ]}
    up.script("live", reply="ok")
    sink = CountingSink()
    gateway = _gateway(data, sink)
    out: dict[str, list[float]] = {"failover": [], "direct": []}
    for i in range(n):
        for group in ("direct", "failover"):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            await gateway.complete(_request(group, i))
            out[group].append(time.perf_counter() - t)
    await gateway.aclose()
    stats = {g: {"p50_ms": _pct(v, 50) * 1000, "p99_ms": _pct(v, 99) * 1000} for g, v in out.items()}
    return {"requests": n, **stats,
            "added_p50_ms": stats["failover"]["p50_ms"] - stats["direct"]["p50_ms"],
            "added_p99_ms": stats["failover"]["p99_ms"] - stats["direct"]["p99_ms"]}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- report ----------------------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with FakeOpenAIUpstream(seed=args.seed) as up:
        results["r1"] = []
        for variant in args.variants.split("|"):
            for p in (0.05, 0.2, 0.5):
                runs = []
                for _ in range(args.repeat):
                    up.reset()
                    runs.append(await _fault_run(up, p, args.requests, args.concurrency, variant))
                results["r1"].append(_summarise(runs))
        up.reset()
        results["r16_group_down"] = await _one_group_down(up, seconds=5, rps=100)
        results["r2"] = []
        for mode in ("refused", "503"):
            up.reset()
            results["r2"].append(await _shift(up, mode))
        up.reset()
        results["r3_refused"] = await _refused_failover(up, args.latency_requests)
    results["r4_engine"] = await _all_down_engine(1000)
    return results


def _markdown(r: dict[str, Any]) -> str:
    runs = r["r1"][0]["runs"]
    lines = ["### R1 / R16: success and amplification under injected faults (k = 3 in g1 + 1 fallback)", "",
             f"Mean of {runs} runs of {r['r1'][0]['requests']} requests per cell (success range in brackets).", "",
             "| p | variant | success | 1 − p⁴ | upstream attempts / request | g1 attempts / request | "
             "retries denied / run | panics / run | ejections held / run |", "|---|---|---|---|---|---|---|---|---|"]
    for row in r["r1"]:
        low, high = row["success_range"]
        lines.append(f"| {row['p']:.0%} | {row['variant']} | {row['success']:.2%} ({low:.2%}–{high:.2%}) | "
                     f"{row['theory_k4']:.2%} | {row['attempts_per_request']:.3f} | "
                     f"{row['g1_attempts_per_request']:.3f} | {row['retries_denied']:.0f} | {row['panics']:.0f} | "
                     f"{row['ejections_held']:.0f} |")
    g = r["r16_group_down"]
    lines += ["", f"One group 100% down (5 s at 100 req/s, fallback healthy): success {g['success']:.2%}, "
              f"attempts on the dead group per request {g['g1_attempts_per_request']:.3f}, "
              f"all upstream attempts per request {g['upstream_attempts_per_request']:.3f}.", "",
              "### R2: shifting traffic off a deployment that dies at T (3 deployments, 50 req/s)", "",
              "| failure | requests to it after T | time to shift | client errors |", "|---|---|---|---|"]
    for row in r["r2"]:
        lines.append(f"| {row['mode']} | {row['requests_to_dead_after_T']} | {row['time_to_shift_ms']} ms | "
                     f"{row['client_errors']} |")
    e, h = r["r4_engine"], r.get("r4_http", {})
    lines += ["", "### R4: time to a clear 503 when every deployment is down (after cooldowns are set)", "",
              f"- engine: p50 {e['p50_ms']:.3f} ms, p99 {e['p99_ms']:.3f} ms over {e['requests']} requests; "
              f"upstream attempts while cooling: {e['upstream_attempts_while_cooling']}"]
    if h:
        lines.append(f"- over HTTP (uvicorn + httpx client, same machine): p50 {h['p50_ms']:.2f} ms, "
                     f"p99 {h['p99_ms']:.2f} ms; statuses {h['statuses']}")
    f = r["r3_refused"]
    lines += ["", "### R3 (refused connection): added latency of a failover", "",
              f"- direct p50/p99 {f['direct']['p50_ms']:.2f}/{f['direct']['p99_ms']:.2f} ms; via a refused "
              f"deployment first {f['failover']['p50_ms']:.2f}/{f['failover']['p99_ms']:.2f} ms; added p50 "
              f"{f['added_p50_ms']:.2f} ms, added p99 {f['added_p99_ms']:.2f} ms ({f['requests']} requests each)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per R1 cell")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per R1 cell")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--variants", default="|".join(VARIANTS),
                        help="R1 variants to run, separated by '|' (default: all)")
    args = parser.parse_args()
    logging.getLogger("switchpoint").setLevel(logging.ERROR)  # cooldown warnings are expected here
    results = asyncio.run(_run(args))
    results["r4_http"] = _all_down_http(300)
    print(_markdown(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
