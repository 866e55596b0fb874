"""Optional active health checks: one background task per gateway probes each upstream.

Every ``interval`` seconds it sends ``GET {api_base}{path}`` (default ``/models``) to each distinct
deployment, with the deployment's key as a bearer token and its extra headers. A failure counts
like a failed request (and can cool the deployment down); a success ends an expired cooldown
without waiting for a live request to be the half-open probe. Off by default; passive detection
needs no configuration. Providers whose API has no such endpoint can set another ``path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from switchpoint.balancing.health import HealthTracker
from switchpoint.balancing.retry import ErrorKind
from switchpoint.types import Deployment

__all__ = ["ActiveHealthChecker", "CheckSettings"]

logger = logging.getLogger("switchpoint.health")


@dataclass(frozen=True, slots=True)
class CheckSettings:
    interval: float = 30.0
    timeout: float = 5.0
    path: str = "/models"


class ActiveHealthChecker:
    def __init__(
        self, health: HealthTracker, deployments: Iterable[Deployment], settings: CheckSettings | None = None
    ) -> None:
        self.health = health
        self.settings = settings or CheckSettings()
        unique: dict[tuple[str, str, str], Deployment] = {}
        for deployment in deployments:
            unique.setdefault((deployment.id, deployment.api_base, deployment.model), deployment)
        self._deployments = list(unique.values())
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.results: dict[str, dict[str, Any]] = {}
        self.rounds = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="switchpoint-health-checks")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_all()
            except Exception:  # a check round must never kill the loop
                logger.exception("active health check round failed")
            await asyncio.sleep(self.settings.interval)

    async def check_all(self) -> None:
        """One round: every deployment, concurrently."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        await asyncio.gather(*(self.check(self._session, d) for d in self._deployments))
        self.rounds += 1

    async def check(self, session: aiohttp.ClientSession, deployment: Deployment) -> None:
        clock = self.health.clock
        started = clock.now()
        headers = dict(deployment.headers)
        if deployment.api_key:
            headers["Authorization"] = f"Bearer {deployment.api_key}"
        status: int | None = None
        try:
            async with session.get(deployment.api_base + self.settings.path, headers=headers,
                                   allow_redirects=False) as resp:
                status = resp.status
                await resp.read()
            kind = None if status < 400 or status in (404, 405) else _kind(status)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            kind = ErrorKind.TIMEOUT
        except aiohttp.ClientError:
            kind = ErrorKind.CONNECTION
        now = clock.now()
        self.results[deployment.id] = {
            "ok": kind is None, "status": status, "error": kind, "latency_ms": round((now - started) * 1000, 2),
            "age_s": 0.0, "at": now,
        }  # fmt: skip
        self.health.checked(self.health.of(deployment), kind, now)

    def snapshot(self) -> dict[str, Any]:
        now = self.health.clock.now()
        out: dict[str, Any] = {"interval_s": self.settings.interval, "path": self.settings.path, "rounds": self.rounds}
        out["results"] = {
            key: {**{k: v for k, v in r.items() if k != "at"}, "age_s": round(now - r["at"], 3)}
            for key, r in self.results.items()
        }
        return out


def _kind(status: int) -> str:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 429:
        return ErrorKind.RATE_LIMIT
    return ErrorKind.SERVER_ERROR
