"""Gateway CPU per request, by thread, with the request log on and off (alternated rounds).

    python3 bench/log_cpu.py --rounds 3 --duration 6 --concurrency 32
    python3 bench/log_cpu.py --mode stream

Throughput on a shared 2-core machine is noisy; CPU time per request is much less so, and split by
thread it says *where* logging costs: on the event-loop thread (which bounds a saturated
gateway's throughput) or on the SQLite writer thread. Uses the shared gateway harness's nginx mock
upstream and wrk script (``../shared/bench/gateway/lib``); needs ``nginx`` and ``wrk``.

For each round and each setting (off, on; the order alternates per round) it starts
``switchpoint serve``, warms up, runs wrk for ``--duration`` seconds and reads every thread's
utime+stime from ``/proc`` before and after. Printed: req/s, µs of CPU per request on the loop
thread, on the other threads (by name), and in total; then the on-vs-off medians.
"""

from __future__ import annotations

import argparse
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

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gateway"
LIB = HARNESS / "lib"
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _threads(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of the same name summed), and the loop thread's
    user and system time apart; a child process (the SQLite writer) counts as ``child``."""
    out: dict[str, float] = {}
    for child in _children(pid):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out["child"] = out.get("child", 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        key = "loop" if task.name == str(pid) else name
        out[key] = out.get(key, 0.0) + cpu
        if key == "loop":
            out["loop-user"] = int(fields[11]) / TICK
            out["loop-sys"] = int(fields[12]) / TICK
    return out


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gateway at {url} did not come up")


def _wrk(url: str, body: Path, conc: int, duration: float, expect: str, threads: int = 2) -> dict[str, float]:
    env = {**os.environ, "WRK_BODY_FILE": str(body), "WRK_AUTH": "sk-bench", "WRK_EXPECT": expect}
    threads = min(threads, conc)
    proc = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conc}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(LIB / "post.lua"),
         url + "/v1/chat/completions"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")][-1]
    out = dict(json.loads(line.removeprefix("WRKJSON ")))
    if out["bad"]:
        raise SystemExit(f"{out['bad']} bad responses from the gateway")
    return out


def run_one(work: Path, up: int, logs: bool, args: argparse.Namespace) -> dict[str, float]:
    port = _free_port()
    db = work / "logs.db"
    for stale in work.glob("logs.db*"):
        stale.unlink()
    shutil.rmtree(work / "spool", ignore_errors=True)
    url = args.logs_url or f"sqlite:///{db}"
    log_cfg = f"{{url: '{url}', spool_dir: '{work / 'spool'}'{args.logs_extra}}}" if logs else "{url: null}"
    model = "bench-chat-stream" if args.mode == "stream" else "bench-chat"
    base = f"http://127.0.0.1:{up + 1}/v1" if args.mode == "stream" else f"http://127.0.0.1:{up}/v1"
    cfg = work / "switchpoint.yaml"
    cfg.write_text(
        f"logs: {log_cfg}\nserver:\n  master_key: sk-bench\n"
        f"models:\n  - name: {model}\n    provider: openai_compat\n    model: gpt-4o-mini\n"
        f"    api_base: {base}\n    api_key: sk-up\n    input_cost_per_mtok: 0.15\n    output_cost_per_mtok: 0.6\n"
    )
    sys.path.insert(0, str(LIB))
    import canned  # the harness's canned request body

    body = work / "body.json"
    body.write_bytes(canned.request_body(model, args.mode == "stream"))
    expect = "data: [DONE]" if args.mode == "stream" else '"chat.completion"'
    gw = subprocess.Popen(
        [sys.executable, "-m", "switchpoint", "serve", "--config", str(cfg), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        _wrk(url, body, args.concurrency, args.warmup, expect, args.wrk_threads)
        spy = None
        if args.pyspy:
            args.pyspy.mkdir(parents=True, exist_ok=True)
            out = args.pyspy / f"{'on' if logs else 'off'}-{time.time():.0f}.txt"
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(gw.pid), "--format", "raw", "--threads",
                                    "--nonblocking", "--gil", "--rate", "250", "--output", str(out),
                                    "--duration", str(int(args.duration))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        before = _threads(gw.pid)
        result = _wrk(url, body, args.concurrency, args.duration, expect, args.wrk_threads)
        after = _threads(gw.pid)
        if spy is not None:
            spy.wait(30)
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
    good = int(result["good"])
    row = {"rps": good / (result["duration_us"] / 1e6), "requests": good}
    total = 0.0
    for name, cpu in after.items():
        used = cpu - before.get(name, 0.0)
        if not name.startswith("loop-"):
            total += used
        row[f"us:{name}"] = used / good * 1e6 if good else 0.0
    row["us:total"] = total / good * 1e6 if good else 0.0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (the shared harness uses 1)")
    parser.add_argument("--mode", choices=("nonstream", "stream"), default="nonstream")
    parser.add_argument("--json", type=Path, help="write every round's rows here")
    parser.add_argument("--logs-url", help="log store URL (default: a fresh SQLite file per run)")
    parser.add_argument("--logs-extra", default="", help="more `logs:` settings, e.g. ', flush_ms: 1000'")
    parser.add_argument("--pyspy", type=Path, help="also sample each run with py-spy (collapsed stacks) into DIR")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise SystemExit(f"missing {tool} (apt-get install -y nginx wrk)")
    work = Path(tempfile.mkdtemp(prefix="switchpoint-logcpu-"))
    up = _free_port()
    while True:  # the mock needs two adjacent ports
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", up + 1))
            break
        except OSError:
            up = _free_port()
    subprocess.run([sys.executable, str(LIB / "mock_nginx.py"), "--dir", str(work / "nginx"), "--port", str(up),
                    "--stream-port", str(up + 1)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    nginx = subprocess.Popen(["nginx", "-p", str(work / "nginx"), "-c", str(work / "nginx" / "nginx.conf"),
                              "-e", str(work / "nginx" / "error.log"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rows: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        time.sleep(0.5)
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for setting in order:
                row = run_one(work, up, setting == "on", args)
                rows[setting].append(row)
                detail = "  ".join(f"{k[3:]}={v:.1f}" for k, v in sorted(row.items()) if k.startswith("us:"))
                print(f"round {r + 1} log {setting:3s}: {row['rps']:8.0f} req/s  µs/req {detail}", flush=True)
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    keys = sorted({k for setting in rows.values() for row in setting for k in row if k.startswith("us:")})
    print("\nmedians (off → on):")
    rps_off = statistics.median(r["rps"] for r in rows["off"])
    rps_on = statistics.median(r["rps"] for r in rows["on"])
    print(f"  req/s      {rps_off:9.0f} → {rps_on:9.0f}  ({(rps_on / rps_off - 1) * 100:+.1f}%)")
    for key in keys:
        off = statistics.median(r.get(key, 0.0) for r in rows["off"])
        on = statistics.median(r.get(key, 0.0) for r in rows["on"])
        print(f"  {key[3:]:18s} {off:7.1f} → {on:7.1f} µs/req  ({on - off:+.1f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
