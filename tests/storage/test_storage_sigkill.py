"""After SIGKILL, what was lost is bounded and counted (issue #8): a real `switchpoint serve`
process, the real `openai` client, a kill, and a restart on the same store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _serve(config_file: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SWITCHPOINT_NO_LOCAL": "1", "PYTHONPATH": str(ROOT / "src")}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "switchpoint", "serve", "--config", str(config_file),
                                    "--port", str(port)], env=env, stderr=out, stdout=out)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/readiness").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(log.read_text())


def _rows(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def _wait(condition: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_records_lost_to_sigkill_are_counted_on_the_next_start(upstream: FakeOpenAIUpstream, tmp_path: Path) -> None:
    upstream.script("up-chat", reply="ok")
    database = tmp_path / "logs.db"
    config_file = tmp_path / "switchpoint.yaml"
    # Full batches of 10 are written at once; the timer (60 s) never fires during the test, so
    # whatever does not fill a batch stays in memory until the kill.
    config_file.write_text(
        f"logs: {{url: 'sqlite:///{database}', spool_dir: '{tmp_path / 'spool'}', batch_size: 10, flush_ms: 60000}}\n"
        "models:\n  - name: chat\n    provider: openai_compat\n    model: up-chat\n"
        f"    api_base: {upstream.base_url}\n"
    )
    log = tmp_path / "gateway.log"
    port = free_port()
    process = _serve(config_file, port, log)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        acknowledged = 0
        for count in (10, 10, 7):  # two full batches, each written before the next; then 7 that stay in memory
            for _ in range(count):
                reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
                assert reply.choices[0].message.content == "ok"
                acknowledged += 1
            expected = min(acknowledged, 20)
            _wait(lambda n=expected: _rows(database) == n, f"{expected} rows in the store")
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    stored = _rows(database)
    assert (acknowledged, stored) == (27, 20)

    process = _serve(config_file, port, log)  # the same store and spool directory
    try:
        url = f"http://127.0.0.1:{port}"
        expected = f'switchpoint_log_records_lost_total{{reason="killed"}} {acknowledged - stored}'
        _wait(lambda: expected in httpx.get(url + "/metrics").text, "the lost count in /metrics")
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "7 acknowledged request record(s) were lost" in log.read_text()
    assert not list((tmp_path / "spool").glob("*.ledger*"))  # claimed once, and the clean stop left none
