"""Measure the managed local model: cache assembly, time to ready, RSS and generation speed.

Not a test (pytest does not collect it). Run it on a quiet machine::

    python tests/local/measure_local_model.py --threads 2 --runs 3

It prints one JSON object; ``docs/local-model.md`` quotes what it printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from switchpoint.local.model_files import ensure_default_model
from switchpoint.local.server import LocalModelServer, LocalServerConfig

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def generate(session: aiohttp.ClientSession, server: LocalModelServer, max_tokens: int) -> dict[str, Any]:
    payload = {"model": server.model, "messages": PROMPT, "temperature": 0, "max_tokens": max_tokens}
    began = time.perf_counter()
    async with session.post(f"{server.base_url}/chat/completions", json=payload) as response:
        body = await response.json()
    wall = time.perf_counter() - began
    tokens = body["usage"]["completion_tokens"]
    return {
        "completion_tokens": tokens,
        "wall_s": round(wall, 3),
        "wall_tok_s": round(tokens / wall, 1),
        "decode_tok_s": round(body["timings"]["predicted_per_second"], 1),
        "prompt_tok_s": round(body["timings"]["prompt_per_second"], 1),
    }


async def first_token_s(session: aiohttp.ClientSession, server: LocalModelServer) -> float:
    payload = {"model": server.model, "messages": PROMPT, "temperature": 0, "max_tokens": 8, "stream": True}
    began = time.perf_counter()
    async with session.post(f"{server.base_url}/chat/completions", json=payload) as response:
        async for line in response.content:
            if line.startswith(b"data:") and b'"content":"' in line:
                elapsed = time.perf_counter() - began
                async for _ in response.content:
                    pass
                return round(elapsed, 3)
    raise RuntimeError("no content chunk in the stream")


async def one_run(config: LocalServerConfig, max_tokens: int) -> dict[str, Any]:
    server = LocalModelServer(config)
    began = time.perf_counter()
    await server.start()
    ready = time.perf_counter() - began
    try:
        assert server.pid is not None
        idle = rss_kib(server.pid)
        # llama.cpp closes the connection after a stream: never reuse one (see docs/local-model.md).
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            ttft = await first_token_s(session, server)
            gen = await generate(session, server, max_tokens)
        busy = rss_kib(server.pid)
    finally:
        began = time.perf_counter()
        await server.stop()
        stopped = time.perf_counter() - began
    return {
        "ready_s": round(ready, 3),
        "stop_s": round(stopped, 3),
        "rss_idle_kib": idle["VmRSS"],
        "rss_peak_kib": busy["VmHWM"],
        "first_token_s": ttft,
        **gen,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx-size", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        began = time.perf_counter()
        ensure_default_model(cache)
        cold = time.perf_counter() - began
        began = time.perf_counter()
        ensure_default_model(cache)
        warm = time.perf_counter() - began
        config = LocalServerConfig(cache_dir=cache, threads=args.threads, ctx_size=args.ctx_size)
        runs = [await one_run(config, args.max_tokens) for _ in range(args.runs)]
    summary = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    report = {
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "threads": args.threads,
        "ctx_size": args.ctx_size,
        "assemble_cold_s": round(cold, 3),
        "assemble_warm_s": round(warm, 4),
        "median": summary,
        "runs": runs,
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    asyncio.run(main())
