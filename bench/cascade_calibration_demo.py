"""Make a request log with cascade traffic and feedback, for ``switchpoint cascade calibrate``.

    python3 bench/cascade_calibration_demo.py [--requests 600] [--out /tmp/cascade-demo]

then, as the script prints:

    switchpoint cascade calibrate --log sqlite:////tmp/cascade-demo/logs.db --group cheap --target-quality 0.85

**Synthetic traffic**, to show the mechanics end to end, not a model's behaviour: a real
``switchpoint serve`` process (group ``cheap`` cascading to ``strong`` below ``threshold: 0.3``,
with ``request_logprobs: true``) in front of ``switchpoint.testing.FakeOpenAIUpstream``. For each
request the fake cheap model's token logprobs are scripted so that the answer's confidence is a
draw c ~ Beta(3, 1.5); a kept cheap answer is rated by the "user" with probability 0.4, positive
with probability 0.35 + 0.6·c. The figures the command prints depend on these made-up choices.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from switchpoint.testing import FakeOpenAIUpstream

KEY = "sk-demo-master-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--out", default="/tmp/cascade-demo", help="directory for the config and logs.db")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "logs.db"
    for stale in out.glob("logs.db*"):
        stale.unlink()
    rng = random.Random(args.seed)
    with FakeOpenAIUpstream() as upstream:
        upstream.script("up-strong", reply="The strong answer.")
        config = out / "switchpoint.yaml"
        config.write_text(
            f"server: {{master_key: {KEY}}}\n"
            f"logs: {{url: 'sqlite:///{db}', spool_dir: '{out / 'spool'}', flush_ms: 50}}\n"
            "models:\n"
            f"  - {{name: cheap, provider: openai_compat, model: up-cheap, api_base: '{upstream.base_url}',\n"
            "     cascade: {next: strong, threshold: 0.3, request_logprobs: true}}\n"
            f"  - {{name: strong, provider: openai_compat, model: up-strong, api_base: '{upstream.base_url}'}}\n"
        )
        port = _free_port()
        env = {**os.environ, "SWITCHPOINT_NO_LOCAL": "1"}
        server = subprocess.Popen([sys.executable, "-m", "switchpoint", "serve", "--config", str(config),
                                   "--port", str(port)], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.get("/health/readiness").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the gateway did not start")
                    time.sleep(0.1)
                escalated = rated = 0
                for i in range(args.requests):
                    confidence = max(1e-6, rng.betavariate(3, 1.5))
                    upstream.script("up-cheap", reply=f"Cheap answer {i}.", logprobs=[math.log(confidence)] * 4)
                    body = {"model": "cheap", "messages": [{"role": "user", "content": f"question {i}"}]}
                    answer = client.post("/v1/chat/completions", json=body)
                    answer.raise_for_status()
                    if answer.headers.get("x-switchpoint-groups") == "cheap>strong":
                        escalated += 1
                        continue
                    if rng.random() < 0.4:
                        good = rng.random() < 0.35 + 0.6 * confidence
                        feedback = {"request_id": answer.headers["x-request-id"], "score": 1.0 if good else 0.0}
                        client.post("/v1/feedback", json=feedback).raise_for_status()
                        rated += 1
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    print(f"{args.requests} requests, {escalated} escalated, {rated} kept answers rated; log: {db}")
    print(f"switchpoint cascade calibrate --log sqlite:///{db} --group cheap --target-quality 0.85")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
