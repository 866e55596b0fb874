"""Run the local model as a supervised subprocess with an OpenAI-compatible HTTP API.

:class:`LocalModelServer` launches ``python -m switchpoint.local._serve`` (llama.cpp's
server through ``xllamacpp``) in its own session, so inference never runs in the
gateway's event loop. It:

* assembles the packaged model into the cache on first use (in a worker thread);
* picks a free loopback port when ``port=0`` and keeps it across restarts, so
  :attr:`LocalModelServer.base_url` never changes;
* waits until ``GET /health`` answers 200, failing with the child's stderr tail if the
  child exits or the startup timeout passes;
* restarts the child when it dies, with exponential backoff and a bounded budget that is
  refilled once a child has stayed up for ``stable_after`` seconds;
* stops it with SIGTERM, then SIGKILL after ``stop_timeout``; the child also stops by
  itself when this process dies (see :mod:`switchpoint.local._serve`).

Everything lives on the instance: two servers in one process do not share anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp

from switchpoint.local import LocalModelUnavailable, require_local_extra
from switchpoint.local.model_files import ensure_default_model

__all__ = [
    "DEFAULT_ALIAS",
    "DEFAULT_CHAT_TEMPLATE",
    "LocalModelServer",
    "LocalServerConfig",
    "LocalServerError",
    "default_threads",
    "find_free_port",
    "restart_delay",
]

DEFAULT_ALIAS = "gemma-3-270m"
DEFAULT_CHAT_TEMPLATE = "gemma"
SERVE_MODULE = "switchpoint.local._serve"
_IMPORT_ROOT = Path(__file__).resolve().parents[2]
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=2.0)
_MAX_DEFAULT_THREADS = 8
_TAIL_LINES = 40

logger = logging.getLogger(__name__)


class LocalServerError(LocalModelUnavailable):
    """The local model server could not be started or kept running."""


@dataclass(frozen=True, slots=True)
class LocalServerConfig:
    """How to run the local model server.

    ``model_path=None`` serves the packaged Gemma 3 270M, assembled into ``cache_dir``
    (default: :func:`switchpoint.local.model_files.default_cache_dir`).
    ``chat_template=None`` means ``"gemma"`` for the packaged model (its GGUF carries no
    template) and the model's own Jinja template for any other file.
    ``threads=None`` means :func:`default_threads`. ``launcher`` replaces the
    ``python -m switchpoint.local._serve`` prefix of the child's command line.
    """

    model_path: Path | None = None
    cache_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    threads: int | None = None
    ctx_size: int = 4096
    parallel: int = 1
    chat_template: str | None = None
    alias: str = DEFAULT_ALIAS
    startup_timeout: float = 60.0
    stop_timeout: float = 10.0
    probe_interval: float = 0.1
    max_restarts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 15.0
    stable_after: float = 60.0
    stderr_lines: int = 200
    launcher: tuple[str, ...] = ()


def default_threads() -> int:
    """CPUs this process may run on, capped at 8 (more rarely helps a small model)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    return max(1, min(available, _MAX_DEFAULT_THREADS))


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on ``host`` by binding port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def restart_delay(attempt: int, initial: float, maximum: float) -> float:
    """Backoff before restart number ``attempt`` (0-based): doubles from ``initial`` up to ``maximum``."""
    return float(min(maximum, initial * (2 ** max(0, attempt))))


def _connect_host(host: str) -> str:
    """The address to reach a server bound to ``host`` (wildcards map to loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class LocalModelServer:
    """One supervised ``_serve`` child process; use ``async with`` or ``start()``/``stop()``."""

    def __init__(self, config: LocalServerConfig | None = None) -> None:
        self._config = config if config is not None else LocalServerConfig()
        self._stderr: deque[str] = deque(maxlen=max(1, self._config.stderr_lines))
        self._port: int | None = None
        self._model_path: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        self._restarts = 0
        self._failure: LocalServerError | None = None
        self._ready_at = 0.0

    # ----------------------------------------------------------------- properties

    @property
    def config(self) -> LocalServerConfig:
        return self._config

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` of the child (``/health`` lives here)."""
        if self._port is None:
            raise LocalServerError("the local model server has not been started")
        return f"http://{_connect_host(self._config.host)}:{self._port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, e.g. ``http://127.0.0.1:PORT/v1``; stable across restarts."""
        return f"{self.root_url}/v1"

    @property
    def model(self) -> str:
        """The model id the child reports in ``/v1/models`` and accepts in requests."""
        return self._config.alias

    @property
    def model_path(self) -> Path | None:
        """The GGUF file being served, once started."""
        return self._model_path

    @property
    def pid(self) -> int | None:
        """Pid of the current child, or None when none is running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def restarts(self) -> int:
        """How many times the supervisor has brought the child back."""
        return self._restarts

    @property
    def failure(self) -> LocalServerError | None:
        """Set when the supervisor gave up restarting the child."""
        return self._failure

    def stderr_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last ``lines`` lines the child(ren) wrote to stderr."""
        return "\n".join(list(self._stderr)[-lines:])

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Launch the child and return once it serves ``/health``; raise :class:`LocalServerError` if not."""
        if self._supervisor is not None or self._session is not None:
            raise LocalServerError("the local model server is already started")
        if not self._config.launcher:
            require_local_extra(default_model=False)
        self._stopping = False
        self._failure = None
        try:
            self._model_path = await asyncio.to_thread(self._resolve_model)
            self._port = self._config.port or find_free_port(self._config.host)
            self._session = aiohttp.ClientSession(
                timeout=_PROBE_TIMEOUT, connector=aiohttp.TCPConnector(force_close=True)
            )
            await self._launch()
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name=f"local-model-supervisor:{self._port}")

    async def stop(self) -> None:
        """Stop supervising, SIGTERM the child (SIGKILL after ``stop_timeout``) and release resources."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait({supervisor})
            if not supervisor.cancelled() and supervisor.exception() is not None:
                logger.error("local model supervisor failed", exc_info=supervisor.exception())
        proc, self._proc = self._proc, None
        if proc is not None:
            await self._terminate(proc)
        await self._finish_drain()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def health(self) -> bool:
        """True when the child is running and ``GET /health`` answers 200."""
        proc = self._proc
        if proc is None or proc.returncode is not None or self._session is None:
            return False
        return await self._probe()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----------------------------------------------------------------- child process

    def _resolve_model(self) -> Path:
        path = self._config.model_path
        if path is None:
            try:
                return ensure_default_model(self._config.cache_dir)
            except OSError as exc:
                raise LocalServerError(f"could not prepare the packaged model in the cache: {exc}") from exc
        if not path.is_file():
            raise LocalServerError(f"model file not found: {path}")
        return path

    def _chat_template(self) -> str | None:
        if self._config.chat_template is not None:
            return self._config.chat_template
        return DEFAULT_CHAT_TEMPLATE if self._config.model_path is None else None

    def _command(self) -> list[str]:
        cfg = self._config
        prefix = list(cfg.launcher) if cfg.launcher else [sys.executable, "-m", SERVE_MODULE]
        args = [
            "--model", str(self._model_path),
            "--host", cfg.host,
            "--port", str(self._port),
            "--threads", str(cfg.threads or default_threads()),
            "--ctx-size", str(cfg.ctx_size),
            "--parallel", str(cfg.parallel),
            "--alias", cfg.alias,
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        template = self._chat_template()
        if template is not None:
            args += ["--chat-template", template]
        return prefix + args

    def _child_env(self) -> dict[str, str]:
        """The parent's environment, with this copy of switchpoint importable in the child."""
        env = dict(os.environ)
        if _IMPORT_ROOT.name not in ("site-packages", "dist-packages"):
            parts = [str(_IMPORT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
            env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
        return env

    async def _launch(self) -> None:
        """Spawn one child and wait until it is ready; on any failure no child is left."""
        await self._finish_drain()
        command = self._command()
        logger.info("starting local model server: %s", " ".join(command))
        self._stderr.append(f"--- switchpoint: launching {' '.join(command)}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=self._child_env(),
            )
        except OSError as exc:
            raise LocalServerError(f"could not launch the local model server ({command[0]}): {exc}") from exc
        self._proc = proc
        assert proc.stderr is not None
        self._drain_task = asyncio.create_task(self._drain(proc.stderr), name=f"local-model-stderr:{proc.pid}")
        try:
            await self._wait_ready(proc)
        except BaseException:
            await self._terminate(proc)
            raise
        self._ready_at = asyncio.get_running_loop().time()
        logger.info("local model server ready at %s (pid %d)", self.base_url, proc.pid)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.startup_timeout
        exited = asyncio.ensure_future(proc.wait())
        try:
            while True:
                if exited.done():
                    await self._finish_drain()
                    raise self._error(f"exited with code {exited.result()} before it was ready")
                if await self._probe():
                    return
                if loop.time() >= deadline:
                    raise self._error(f"was not ready after {self._config.startup_timeout:g} s")
                await asyncio.wait({exited}, timeout=self._config.probe_interval)
        finally:
            exited.cancel()

    def _error(self, what: str) -> LocalServerError:
        tail = self.stderr_tail()
        detail = f"\n--- stderr tail ---\n{tail}" if tail else " (no stderr output)"
        return LocalServerError(f"local model server on port {self._port} {what}{detail}")

    async def _probe(self) -> bool:
        session = self._session
        if session is None:
            return False
        try:
            async with session.get(f"{self.root_url}/health") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        """Keep reading the child's stderr (so it never blocks on a full pipe) into the tail buffer."""
        pending = b""
        while chunk := await stream.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._record(line)
        if pending:
            self._record(pending)

    def _record(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        self._stderr.append(line)
        logger.debug("local model server: %s", line)

    async def _finish_drain(self) -> None:
        task, self._drain_task = self._drain_task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, timeout=2.0)
        except TimeoutError:
            pass
        except Exception as exc:  # a broken pipe must not mask the real error
            logger.debug("stderr reader of the local model server failed: %r", exc)

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the child's process group, SIGKILL it after ``stop_timeout``, and reap it."""
        if proc.returncode is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=self._config.stop_timeout)
            except TimeoutError:
                logger.warning("local model server (pid %d) ignored SIGTERM; killing it", proc.pid)
                self._signal_group(proc, signal.SIGKILL)
        await proc.wait()

    @staticmethod
    def _signal_group(proc: asyncio.subprocess.Process, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if proc.returncode is None:
                os.killpg(proc.pid, signum)

    # ----------------------------------------------------------------- supervision

    async def _supervise(self) -> None:
        """Wait for the child to die and bring it back, until stopped or out of restarts."""
        failures = 0
        while not self._stopping:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._stopping:
                return
            loop = asyncio.get_running_loop()
            if loop.time() - self._ready_at >= self._config.stable_after:
                failures = 0
            logger.warning("local model server (pid %d) exited with code %s; restarting", proc.pid, code)
            await self._finish_drain()
            restarted = await self._restart(failures)
            if restarted is None:
                return
            failures = restarted

    async def _restart(self, failures: int) -> int | None:
        """Relaunch with backoff; return the updated failure count, or None after giving up."""
        while failures < self._config.max_restarts:
            await asyncio.sleep(restart_delay(failures, self._config.backoff_initial, self._config.backoff_max))
            failures += 1
            try:
                await self._launch()
            except LocalServerError as exc:
                logger.warning("restart %d of the local model server failed: %s", failures, exc)
                continue
            self._restarts += 1
            return failures
        self._proc = None
        self._failure = self._error(f"kept dying; gave up after {failures} restart attempts")
        logger.error("%s", self._failure)
        return None
