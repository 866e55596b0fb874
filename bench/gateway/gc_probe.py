"""Run ``switchpoint serve`` with the garbage collector watched: what each collection cost, and what it found.

    PYTHONPATH=src python3 bench/gateway/gc_probe.py --config gw.yaml [--gc off|default|N]
    # load it (wrk, the shared harness's post.lua), then:
    kill -USR1 <pid>    # collect now and print the objects that only the collector could free (reference cycles)
    kill -TERM <pid>    # stop; prints the collections seen and a histogram of their pauses

A request that leaves a reference cycle sets the collector's pace: session 8 found one per request (the disconnect
watch's cancelled task), whose 2-3 ms collections were the p99 at c=1 (docs/benchmarks.md). ``--gc off`` disables
automatic collection once the gateway is up, to see the latency without it; ``--gc N`` sets the young
generation's threshold instead of the gateway's own.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import gc
import signal
import sys
import time
from typing import Any

_pauses: list[tuple[int, float]] = []
_started = [0.0]


def _watch(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses.append((int(info["generation"]), time.perf_counter() - _started[0]))


def _report() -> None:
    by_generation = collections.Counter(g for g, _ in _pauses)
    histogram = collections.Counter(min(int(d * 10_000) / 10, 3.0) for _, d in _pauses)
    slow = sum(d > 0.0005 for _, d in _pauses)
    print(f"gc: {len(_pauses)} collections {dict(by_generation)}; {slow} over 0.5 ms; "
          f"total {sum(d for _, d in _pauses) * 1000:.1f} ms", file=sys.stderr)
    print("gc pauses, ms (floor to 0.1; 3.0 = 3 ms or more): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(histogram.items())), file=sys.stderr, flush=True)


def _census(*_: object) -> None:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        owners = collections.Counter(
            ("coroutine " + o.__qualname__) if type(o).__name__ == "coroutine" else ("frame " + o.f_code.co_qualname)
            for o in gc.garbage if type(o).__name__ in ("coroutine", "frame"))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    print(f"census: {found} objects in reference cycles; by type {kinds.most_common(12)}; "
          f"frames and coroutines {owners.most_common(8)}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--gc", default="default", help="off, default (the gateway's tuning) or a gen-0 threshold")
    args = parser.parse_args()
    import switchpoint.server.run as run
    from switchpoint.cli.main import main as cli

    tuned = run._freeze_heap

    async def freeze_then_adjust() -> None:
        await tuned()
        if args.gc == "off":
            gc.disable()
        elif args.gc != "default":
            gc.set_threshold(int(args.gc), *gc.get_threshold()[1:])

    run._freeze_heap = freeze_then_adjust
    gc.callbacks.append(_watch)
    atexit.register(_report)
    signal.signal(signal.SIGUSR1, _census)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return cli(["serve", "--config", args.config])


if __name__ == "__main__":
    raise SystemExit(main())
