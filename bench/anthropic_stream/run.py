"""End-to-end streaming through switchpoint: an Anthropic-format upstream next to an OpenAI-format one.

The shared gateway harness (``../shared/bench/gateway``) mocks only the OpenAI format. This script
reuses its pieces (the canned OpenAI stream and request body, the wrk script, the process-tree CPU
accounting) and adds an nginx mock that serves a canned Anthropic Messages SSE stream carrying the
same text deltas (16 by default, as in the harness). One nginx serves both formats on loopback;
one switchpoint serves a model group per format and stream length, ``bench-openai-16``
(``openai_compat``) and ``bench-anthropic-16`` (``anthropic``). Both answer the client with the same
chunks + ``[DONE]`` (role, one per text delta, finish), checked before measuring.

wrk drives the groups one after the other, alternating which format goes first each round, for each
concurrency. Per run: requests/s, p50/p99 latency, and the gateway's CPU time per request (utime +
stime of its process tree, from /proc). With two stream lengths (``--tokens 16,128``), the growth
of the Anthropic-minus-OpenAI CPU difference with the stream length is the per-chunk cost of
translation, apart from per-request costs (request translation, stream set-up). Every process
started here is stopped by its PID.

Run from the repository root (nginx and wrk installed)::

    PYTHONPATH=src python3 bench/anthropic_stream/run.py --rounds 4 --duration 4 --concurrency 1,16 --tokens 16,128
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("openai", "anthropic")
MASTER_KEY = "sk-bench-master-key"


def harness_lib(harness: Path) -> Any:
    """The shared harness's ``canned``, ``mock_nginx`` and ``procmon`` modules (standard library only)."""
    sys.path.insert(0, str(harness / "lib"))
    import canned  # type: ignore[import-not-found]
    import mock_nginx  # type: ignore[import-not-found]
    import procmon  # type: ignore[import-not-found]

    return canned, mock_nginx, procmon


def anthropic_stream(canned: Any, n_tokens: int) -> bytes:
    """The canned Messages stream: the same text deltas as the harness's OpenAI stream, as Anthropic sends them."""
    tokens = (canned.TOKENS * (n_tokens // len(canned.TOKENS) + 1))[:n_tokens]
    message = {"id": "msg_mock0000000000000000000001", "type": "message", "role": "assistant",
               "model": canned.MODEL, "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": canned.PROMPT_TOKENS, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0, "output_tokens": 1}}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
               for t in tokens]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": n_tokens}},
        {"type": "message_stop"},
    ]
    return "".join(
        f"event: {e['type']}\ndata: {json.dumps(e, separators=(',', ':'))}\n\n" for e in events
    ).encode()


def model_name(target: str, tokens: int) -> str:
    return f"bench-{target}-{tokens}"


def ports(base: int, tokens: list[int]) -> dict[tuple[str, int], int]:
    """The mock's port per (format, stream length); the gateway listens on ``base``."""
    return {(target, n): base + 1 + 2 * i + j for i, n in enumerate(tokens) for j, target in enumerate(TARGETS)}


def nginx_conf(mock_nginx: Any, canned: Any, work: Path, port_of: dict[tuple[str, int], int]) -> str:
    # The server blocks are the harness's own; the Anthropic ones serve their body on .../messages.
    blocks = []
    for (target, n), port in port_of.items():
        if target == "openai":
            blocks.append(mock_nginx.server_block(port, canned.stream_body(n).decode(), "text/event-stream"))
        else:
            block = mock_nginx.server_block(port, anthropic_stream(canned, n).decode(), "text/event-stream")
            blocks.append(block.replace("location ~ /chat/completions$", "location ~ /messages$"))
    servers = "\n".join(blocks)
    return f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    client_body_buffer_size 64k;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server_tokens off;
    tcp_nodelay on;
{servers}
}}
"""


def gateway_config(port_of: dict[tuple[str, int], int]) -> str:
    lines = ["logs: {url: null}", "server:", f"  master_key: {MASTER_KEY}", "  workers: 1", "models:"]
    for (target, n), port in port_of.items():
        provider, model, prices = (("openai_compat", "gpt-4o-mini", (0.15, 0.60)) if target == "openai"
                                   else ("anthropic", "claude-mock", (3.0, 15.0)))
        lines += [f"  - name: {model_name(target, n)}", f"    provider: {provider}", f"    model: {model}",
                  f"    api_base: http://127.0.0.1:{port}/v1", "    api_key: sk-mock-upstream",
                  f"    input_cost_per_mtok: {prices[0]}", f"    output_cost_per_mtok: {prices[1]}"]
    return "\n".join(lines) + "\n"


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def stream_once(gw_port: int, body: bytes) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{gw_port}/v1/chat/completions", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MASTER_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]", text[-300:]
    return [json.loads(e[len("data: "):]) for e in events[:-1]]


def busy_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def measure(args: argparse.Namespace, procmon: Any, gw_pid: int, body_file: Path, conc: int,
            duration: int) -> dict[str, Any]:
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), "WRK_AUTH": MASTER_KEY, "WRK_EXPECT": "[DONE]"}
    pids = procmon.tree(gw_pid)
    before = sum(procmon.cpu_ticks(p) or 0 for p in pids)
    busy0, total0 = busy_ticks()
    out = subprocess.run(
        [args.wrk, "-t1", f"-c{conc}", f"-d{duration}s", "--timeout", "30s", "-s",
         str(args.harness / "lib" / "post.lua"), f"http://127.0.0.1:{args.gw_port}/v1/chat/completions"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    after = sum(procmon.cpu_ticks(p) or 0 for p in procmon.tree(gw_pid))
    busy1, total1 = busy_ticks()
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    wrk = json.loads(line[len("WRKJSON "):])
    requests = wrk["requests"]
    cpu_s = (after - before) / procmon.TCK
    return {
        "requests": requests, "good": wrk["good"], "bad": wrk["bad"],
        "errors": wrk["err_connect"] + wrk["err_read"] + wrk["err_write"] + wrk["err_timeout"],
        "rps": requests / (wrk["duration_us"] / 1e6),
        "p50_ms": wrk["p50_us"] / 1000, "p99_ms": wrk["p99_us"] / 1000,
        "gateway_cpu_s": cpu_s, "gateway_cpu_us_per_req": cpu_s / requests * 1e6 if requests else None,
        "machine_busy_cores": (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1),
    }


def _pairs(runs: list[dict[str, Any]], tokens: int, conc: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(OpenAI run, Anthropic run) of the same round: measured next to each other, under the same load."""
    cell = [r for r in runs if r["tokens"] == tokens and r["conc"] == conc]
    return [(a, b) for a in cell for b in cell
            if a["round"] == b["round"] and a["target"] == "openai" and b["target"] == "anthropic"]


def summarise(runs: list[dict[str, Any]], tokens: list[int], concs: list[int]) -> dict[str, Any]:
    med = statistics.median
    out: dict[str, Any] = {}
    for n in tokens:
        for conc in concs:
            cell: dict[str, Any] = {}
            for target in TARGETS:
                rs = [r for r in runs if r["tokens"] == n and r["conc"] == conc and r["target"] == target]
                cell[target] = {k: med(r[k] for r in rs)
                                for k in ("rps", "p50_ms", "p99_ms", "gateway_cpu_us_per_req", "machine_busy_cores")}
                cell[target]["bad_or_errors"] = sum(r["bad"] + r["errors"] for r in rs)
            pairs = _pairs(runs, n, conc)
            cpu = "gateway_cpu_us_per_req"
            cell["anthropic_vs_openai"] = {
                "rps_ratio": med(b["rps"] / a["rps"] for a, b in pairs),
                "p50_ratio": med(b["p50_ms"] / a["p50_ms"] for a, b in pairs),
                "p99_ratio": med(b["p99_ms"] / a["p99_ms"] for a, b in pairs),
                "cpu_per_req_ratio": med(b[cpu] / a[cpu] for a, b in pairs),
                "cpu_us_per_req_diff": med(b[cpu] - a[cpu] for a, b in pairs),
            }
            out[f"{n} tokens, c={conc}"] = cell
    if len(tokens) >= 2:  # per chunk: how the difference grows with the stream length, round by round
        short, long = min(tokens), max(tokens)
        for conc in concs:
            diffs = {n: {a["round"]: b["gateway_cpu_us_per_req"] - a["gateway_cpu_us_per_req"]
                         for a, b in _pairs(runs, n, conc)} for n in (short, long)}
            slopes = [(diffs[long][r] - diffs[short][r]) / (long - short) for r in diffs[short] if r in diffs[long]]
            out[f"per chunk, c={conc}"] = {"cpu_us_per_chunk_diff": med(slopes), "rounds": slopes}
    return out


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# Streaming through switchpoint: Anthropic-format vs OpenAI-format upstream",
        "",
        f"Commit {meta['commit']} (source {meta['src']}), {meta['date']}. "
        f"{meta['rounds']} rounds x {meta['duration_s']} s per cell, formats alternated each round; medians over "
        "rounds. The machine (2 cores) was shared with other busy jobs: absolute figures move between runs, the "
        "side-by-side ratios and CPU per request are what to read.",
        "",
        "| cell | upstream | req/s | p50 ms | p99 ms | gateway CPU us/req | machine busy cores |",
        "|---|---|---|---|---|---|---|",
    ]
    cells = {k: v for k, v in summary.items() if not k.startswith("per chunk")}
    for name, cell in cells.items():
        for target in TARGETS:
            r = cell[target]
            lines.append(f"| {name} | {target} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{r['gateway_cpu_us_per_req']:.0f} | {r['machine_busy_cores']:.2f} |")
    lines += ["", "| cell | req/s ratio (A/O) | p50 ratio | p99 ratio | CPU/req ratio | CPU us/req diff |",
              "|---|---|---|---|---|---|"]
    for name, cell in cells.items():
        d = cell["anthropic_vs_openai"]
        lines.append(f"| {name} | {d['rps_ratio']:.3f} | {d['p50_ratio']:.3f} | {d['p99_ratio']:.3f} | "
                     f"{d['cpu_per_req_ratio']:.3f} | {d['cpu_us_per_req_diff']:+.1f} |")
    for name, value in summary.items():
        if name.startswith("per chunk"):
            rounds = ", ".join(f"{x:+.2f}" for x in value["rounds"])
            lines.append(f"\nTranslation CPU {name}: {value['cpu_us_per_chunk_diff']:+.2f} us (rounds: {rounds})")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def stop(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--harness", type=Path, default=ROOT.parent / "shared" / "bench" / "gateway")
    parser.add_argument("--port-base", type=int, default=18640)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--tokens", default="16", help="text deltas per stream, e.g. 16,128")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--nginx", default="nginx")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results/...)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the switchpoint source tree to run")
    args = parser.parse_args()
    canned, mock_nginx, procmon = harness_lib(args.harness)
    concs = [int(c) for c in args.concurrency.split(",")]
    tokens = [int(n) for n in args.tokens.split(",")]
    args.gw_port = args.port_base
    port_of = ports(args.port_base, tokens)
    for port in (args.gw_port, *port_of.values()):
        if not free(port):
            raise SystemExit(f"port {port} is taken; pass another --port-base")
    work = Path(tempfile.mkdtemp(prefix="sp-anthropic-bench-"))
    (work / "tmp").mkdir()
    (work / "nginx.conf").write_text(nginx_conf(mock_nginx, canned, work, port_of))
    (work / "switchpoint.yaml").write_text(gateway_config(port_of))
    bodies = {}
    for target, n in port_of:
        bodies[target, n] = work / f"body-{target}-{n}.json"
        bodies[target, n].write_bytes(canned.request_body(model_name(target, n), True))
    nginx = gateway = None
    runs: list[dict[str, Any]] = []
    try:
        nginx = subprocess.Popen(
            [args.nginx, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "nginx-error.log"),
             "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for port in port_of.values():
            wait_port(port, 10)
        env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "SWITCHPOINT_NO_LOCAL": "1"}
        with open(work / "gateway.log", "wb") as log:  # the child keeps its own copy of the descriptor
            gateway = subprocess.Popen(
                [sys.executable, "-m", "switchpoint", "serve", "--config", str(work / "switchpoint.yaml"),
                 "--host", "127.0.0.1", "--port", str(args.gw_port)],
                env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_port(args.gw_port, 30)
        for n in tokens:  # both formats answer the client the same way before anything is measured
            answers = {t: stream_once(args.gw_port, bodies[t, n].read_bytes()) for t in TARGETS}
            texts = {t: "".join(c["choices"][0]["delta"].get("content") or "" for c in a if c["choices"])
                     for t, a in answers.items()}
            assert texts["openai"] == texts["anthropic"], texts
            assert len(answers["openai"]) == len(answers["anthropic"]) == n + 2, answers
            print(f"{n} tokens: both formats answer {n + 2} chunks + [DONE]", flush=True)
        for n in tokens:
            for conc in concs:
                for target in TARGETS:
                    measure(args, procmon, gateway.pid, bodies[target, n], conc, args.warmup)
        for rnd in range(args.rounds):
            for n in tokens:
                for conc in concs:
                    for target in TARGETS if rnd % 2 == 0 else TARGETS[::-1]:
                        r = measure(args, procmon, gateway.pid, bodies[target, n], conc, args.duration)
                        r.update(round=rnd, tokens=n, conc=conc, target=target)
                        runs.append(r)
                        print(f"round {rnd} {n:3d} tokens c={conc:<3d} {target:9s} {r['rps']:7.0f} req/s  "
                              f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                              f"gateway {r['gateway_cpu_us_per_req']:6.0f} us CPU/req  bad {r['bad'] + r['errors']}  "
                              f"machine busy {r['machine_busy_cores']:.2f} cores", flush=True)
    finally:
        stop(gateway, signal.SIGTERM)
        stop(nginx, signal.SIGQUIT)
    summary = summarise(runs, tokens, concs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    meta = {"commit": commit, "src": str(args.src), "rounds": args.rounds,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "duration_s": args.duration, "warmup_s": args.warmup, "concurrency": concs, "tokens": tokens,
            "command": "PYTHONPATH=src python3 " + " ".join([str(Path(sys.argv[0])), *sys.argv[1:]]),
            "nginx": subprocess.run([args.nginx, "-v"], capture_output=True, text=True).stderr.strip(),
            "wrk": subprocess.run([args.wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "python": sys.version.split()[0]}
    out = args.out or ROOT / "bench" / "results" / f"anthropic-stream-{time.strftime('%Y-%m-%d-%H%M', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(summary, meta))
    shutil.rmtree(work, ignore_errors=True)
    print(markdown(summary, meta))
    print(f"results in {out}")


if __name__ == "__main__":
    main()
