"""A stand-in for ``switchpoint.local._serve`` used to test the supervisor without a model.

It accepts the same command line, answers ``GET /health`` with 200 on ``--host``/``--port``
and waits for SIGTERM. ``FAKE_SERVE_MODE`` changes its behaviour:

* ``ok`` (default): serve until SIGTERM;
* ``crash``: write a line to stderr and exit 7 without listening;
* ``hang``: never listen, wait for SIGTERM;
* ``ignore-term``: serve, and ignore SIGTERM (only SIGKILL stops it).

If ``FAKE_SERVE_CRASH_FLAG`` names a file that exists, it behaves as ``crash``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 404
        body = b'{"status":"ok"}' if status == 200 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("fake_serve: " + (format % args) + "\n")


def _mode() -> str:
    flag = os.environ.get("FAKE_SERVE_CRASH_FLAG")
    if flag and os.path.exists(flag):
        return "crash"
    return os.environ.get("FAKE_SERVE_MODE", "ok")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, _unknown = parser.parse_known_args()
    mode = _mode()
    sys.stderr.write(f"fake_serve: mode={mode} port={args.port}\n")
    sys.stderr.flush()
    if mode == "crash":
        sys.stderr.write("fake_serve: simulated crash while loading\n")
        return 7
    stop = threading.Event()
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if mode != "hang":
        httpd = ThreadingHTTPServer((args.host, args.port), _Health)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    while not stop.wait(0.1):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
