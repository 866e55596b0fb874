"""`switchpoint serve` as a real process: zero-config from the environment, readiness, SIGTERM drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import free_port


@pytest.fixture
def served(upstream: FakeOpenAIUpstream) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SWITCHPOINT_"))}
    env.update(OPENAI_API_KEY="sk-env-key-0123456789", OPENAI_BASE_URL=upstream.base_url, SWITCHPOINT_NO_LOCAL="1")
    process = subprocess.Popen([sys.executable, "-m", "switchpoint", "serve", "--port", str(port)], env=env,
                               stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/readiness").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(process.stderr.read().decode() if process.stderr else "not ready")
    yield process, url
    if process.poll() is None:
        process.kill()
    process.wait(10)


def test_zero_config_serves_the_openai_compatible_server_from_the_environment(
    served: tuple[subprocess.Popen[bytes], str], upstream: FakeOpenAIUpstream
) -> None:
    _, url = served
    upstream.script("any-model-name", reply="from env")
    reply = httpx.post(url + "/v1/chat/completions",
                       json={"model": "any-model-name", "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "from env"
    sent = upstream.requests[-1]
    assert sent.body["model"] == "any-model-name"
    assert sent.headers["Authorization"] == "Bearer sk-env-key-0123456789"
    prefixed = httpx.post(url + "/v1/chat/completions",
                          json={"model": "openai/any-model-name", "messages": [{"role": "user", "content": "hi"}]})
    assert prefixed.status_code == 200
    assert upstream.requests[-1].body["model"] == "any-model-name"


def test_sigterm_drains_in_flight_requests(served: tuple[subprocess.Popen[bytes], str],
                                           upstream: FakeOpenAIUpstream) -> None:
    process, url = served
    upstream.script("slow", reply="finished", latency=1.0)
    results: list[httpx.Response] = []

    def call() -> None:
        results.append(httpx.post(url + "/v1/chat/completions", timeout=10,
                                  json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]}))

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    worker.join(10)
    assert results and results[0].status_code == 200
    assert results[0].json()["choices"][0]["message"]["content"] == "finished"
    assert process.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
