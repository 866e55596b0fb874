"""Child-process entry point: serve one GGUF file over an OpenAI-compatible HTTP API.

Run as ``python -m switchpoint.local._serve --model PATH --port N ...`` (normally by
:class:`switchpoint.local.server.LocalModelServer`). It starts llama.cpp's built-in HTTP
server through ``xllamacpp`` and blocks until SIGTERM, SIGINT or SIGHUP, then shuts the
server down and exits 0.

The stop signals are blocked before the engine starts its threads, so every thread
inherits the mask and the main thread receives them with :func:`signal.sigwait`.

With ``--parent-pid`` the process does not outlive its parent: on Linux it asks the
kernel for SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), and on every platform a
watcher thread sends that SIGTERM itself once the parent pid is gone.

Exit codes: 0 stopped by a signal, 1 the engine failed to load the model, 2 bad
arguments, 3 the engine is not installed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from switchpoint.local import ENGINE_MODULE, INSTALL_HINT

__all__ = ["ServeOptions", "build_params", "main", "parse_args"]

EXIT_OK = 0
EXIT_LOAD_FAILED = 1
EXIT_NO_ENGINE = 3
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
_PR_SET_PDEATHSIG = 1
_PARENT_POLL_SECONDS = 0.5
_DESCRIPTION = "Serve one GGUF file over llama.cpp's OpenAI-compatible HTTP API until SIGTERM."


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What the child serves and how; mirrors the command line."""

    model: str
    host: str = "127.0.0.1"
    port: int = 0
    threads: int | None = None
    ctx_size: int = 4096
    parallel: int = 1
    chat_template: str | None = None
    alias: str | None = None
    parent_pid: int | None = None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m switchpoint.local._serve", description=_DESCRIPTION)
    parser.add_argument("--model", required=True, help="path of the GGUF file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0, help="0 lets the engine pick a free port")
    parser.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: the engine's)")
    parser.add_argument("--ctx-size", type=_positive, default=4096, help="context window in tokens")
    parser.add_argument("--parallel", type=_positive, default=1, help="concurrent sequences (slots)")
    parser.add_argument(
        "--chat-template",
        default=None,
        help="built-in llama.cpp template name (e.g. gemma); omit to use the model's own Jinja template",
    )
    parser.add_argument("--alias", default=None, help="model id reported by /v1/models")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> ServeOptions:
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None)."""
    ns = _parser().parse_args(argv)
    return ServeOptions(
        model=ns.model,
        host=ns.host,
        port=ns.port,
        threads=ns.threads,
        ctx_size=ns.ctx_size,
        parallel=ns.parallel,
        chat_template=ns.chat_template or None,
        alias=ns.alias or None,
        parent_pid=ns.parent_pid,
    )


def build_params(options: ServeOptions) -> Any:
    """Translate ``options`` into an ``xllamacpp.CommonParams`` (imports the engine)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = options.model
    params.hostnames = [options.host]
    params.port = options.port
    params.n_ctx = options.ctx_size
    params.n_parallel = options.parallel
    params.ui = False
    params.offline = True
    # Fitting sizes GPU offload to the free device memory; on CPU it only costs time
    # (the default model loaded in 2.7-3.1 s with it, 1.4-1.5 s without).
    params.fit_params = False
    if options.threads is not None:
        params.cpuparams.n_threads = options.threads
        params.cpuparams_batch.n_threads = options.threads
    if options.chat_template is not None:
        params.chat_template = options.chat_template
        params.use_jinja = False
    if options.alias is not None:
        params.model_alias = {options.alias}
    return params


def _log(message: str) -> None:
    sys.stderr.write(f"switchpoint.local._serve: {message}\n")
    sys.stderr.flush()


def _request_parent_death_signal() -> None:
    """Linux only: have the kernel send SIGTERM when the parent exits."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch_parent(parent_pid: int) -> None:
    """Send ourselves SIGTERM once ``parent_pid`` is no longer our parent."""
    _request_parent_death_signal()
    stop = threading.Event()

    def watch() -> None:
        while os.getppid() == parent_pid:
            stop.wait(_PARENT_POLL_SECONDS)
        _log(f"parent {parent_pid} is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _serve(options: ServeOptions) -> int:
    try:
        import xllamacpp
    except ImportError as exc:
        _log(f"cannot import {ENGINE_MODULE} ({exc}); install it with: {INSTALL_HINT}")
        return EXIT_NO_ENGINE
    try:
        server = xllamacpp.Server(build_params(options))
    except RuntimeError as exc:
        _log(f"the engine failed to start with model {options.model!r}: {exc}")
        return EXIT_LOAD_FAILED
    _log(f"serving {options.model} at {server.listening_address}")
    received = signal.sigwait(STOP_SIGNALS)
    _log(f"received {signal.Signals(received).name}; shutting down")
    del server
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until a stop signal arrives; return the process exit code."""
    options = parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    if options.parent_pid is not None:
        _watch_parent(options.parent_pid)
    return _serve(options)


if __name__ == "__main__":
    sys.exit(main())
