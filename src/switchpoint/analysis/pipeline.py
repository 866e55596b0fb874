"""Runs analysers under a per-request time budget and assembles one :class:`RequestFeatures`.

- Inline analysers run in order on the caller's thread. Python cannot interrupt one that
  is running, so the budget is checked before each: once it is spent, the rest are skipped.
- Other analysers run in the pipeline's worker thread with the time that is left; a late
  one is abandoned (its result dropped) rather than waited for. So does an inline analyser with
  an ``inline_chars`` limit on a request with more text than that (the PII scan of a huge prompt).
- An analyser that raises, returns something that is not a mapping, is skipped or is late
  leaves its fields at their "unknown" values and is named in ``analysis.degraded``. Analysis
  never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from switchpoint.analysis.features import AnalysisInfo, RequestFeatures
from switchpoint.analysis.protocol import Analyzer
from switchpoint.analysis.view import RequestView
from switchpoint.clock import Clock, MonotonicClock
from switchpoint.types import ChatRequest

__all__ = ["AnalysisPipeline"]

_log = logging.getLogger("switchpoint.analysis")


class AnalysisPipeline:
    """Analyses requests. One instance per gateway; it holds its analysers and their models.

    ``budget_ms`` is the time allowed per request for all analysers together.
    """

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        *,
        budget_ms: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        names = [a.name for a in analyzers]
        if len(set(names)) != len(names):
            raise ValueError(f"analyser names must be unique: {names}")
        self.analyzers: tuple[Analyzer, ...] = tuple(analyzers)
        self.budget_ms = budget_ms
        self._clock: Clock = clock or MonotonicClock()
        self._inline = tuple(a for a in self.analyzers if a.inline)
        self._threaded = tuple(a for a in self.analyzers if not a.inline)
        self._workers = max(1, len(self._threaded) + sum(_inline_limit(a) is not None for a in self._inline))
        self._executor: ThreadPoolExecutor | None = None
        self._warned: set[str] = set()

    # -- public -----------------------------------------------------------------------------

    def analyze_sync(self, request: ChatRequest) -> RequestFeatures:
        """Analyse on the calling thread (threaded analysers still get a worker and a timeout)."""
        start = self._clock.now()
        view, parts, degraded, threaded = self._run_inline(request, start)
        for analyzer in threaded:
            remaining = self._remaining(start)
            if remaining <= 0:
                degraded.append(analyzer.name)
                continue
            future = self._submit(analyzer, view, parts)
            try:
                self._merge(analyzer, future.result(timeout=remaining), parts, degraded)
            except FutureTimeout:
                future.cancel()
                degraded.append(analyzer.name)
            except Exception as exc:  # an analyser must never fail the request
                self._failed(analyzer, exc, degraded)
        return self._finish(parts, degraded, start)

    async def analyze(self, request: ChatRequest) -> RequestFeatures:
        """Analyse without blocking the event loop beyond the inline analysers."""
        start = self._clock.now()
        view, parts, degraded, threaded = self._run_inline(request, start)
        if threaded:
            remaining = self._remaining(start)
            if remaining <= 0:
                degraded.extend(a.name for a in threaded)
            else:
                snapshot = dict(parts)
                futures = [(a, asyncio.wrap_future(self._submit(a, view, snapshot))) for a in threaded]
                done, pending = await asyncio.wait([f for _, f in futures], timeout=remaining)
                for analyzer, fut in futures:
                    if fut in pending:
                        fut.cancel()
                        degraded.append(analyzer.name)
                        continue
                    exc = fut.exception()
                    if exc is not None:
                        self._failed(analyzer, exc, degraded)
                    else:
                        self._merge(analyzer, fut.result(), parts, degraded)
        return self._finish(parts, degraded, start)

    def close(self) -> None:
        """Stop the worker thread, if one was started."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- steps ------------------------------------------------------------------------------

    def _run_inline(
        self, request: ChatRequest, start: float
    ) -> tuple[RequestView, dict[str, Any], list[str], list[Analyzer]]:
        """Run the inline analysers; returns the view, their fields, the degraded names, and the
        analysers left for the worker thread (the threaded ones, and inline ones over their size limit)."""
        parts: dict[str, Any] = {}
        degraded: list[str] = []
        view = RequestView(request)
        threaded = list(self._threaded)
        for analyzer in self._inline:
            limit = _inline_limit(analyzer)
            if limit is not None and view.total_chars > limit:
                threaded.append(analyzer)
                continue
            if self._remaining(start) <= 0:
                degraded.append(analyzer.name)
                continue
            try:
                result = analyzer.analyze(view, parts)
            except Exception as exc:  # an analyser must never fail the request
                self._failed(analyzer, exc, degraded)
                continue
            self._merge(analyzer, result, parts, degraded)
        return view, parts, degraded, threaded

    def _merge(self, analyzer: Analyzer, result: Any, parts: dict[str, Any], degraded: list[str]) -> None:
        if not isinstance(result, Mapping):
            self._failed(analyzer, TypeError(f"returned {type(result).__name__}, not a mapping"), degraded)
            return
        parts.update(result)

    def _failed(self, analyzer: Analyzer, exc: BaseException, degraded: list[str]) -> None:
        degraded.append(analyzer.name)
        if analyzer.name not in self._warned:  # once per analyser, not once per request
            self._warned.add(analyzer.name)
            _log.warning("analyser %r failed; its features are unknown: %r", analyzer.name, exc)
        else:
            _log.debug("analyser %r failed: %r", analyzer.name, exc)

    def _finish(self, parts: dict[str, Any], degraded: list[str], start: float) -> RequestFeatures:
        parts["analysis"] = AnalysisInfo(tuple(degraded), round((self._clock.now() - start) * 1000.0, 3))
        try:
            return RequestFeatures.from_parts(parts)
        except Exception as exc:  # a malformed value from a custom analyser
            _log.warning("analysis produced an invalid record; returning the unknown record: %r", exc)
            names = tuple(a.name for a in self.analyzers)
            return RequestFeatures(analysis=AnalysisInfo(names, parts["analysis"].elapsed_ms))

    def _remaining(self, start: float) -> float:
        return self.budget_ms / 1000.0 - (self._clock.now() - start)

    def _submit(self, analyzer: Analyzer, view: RequestView, parts: Mapping[str, Any]) -> Future[Mapping[str, Any]]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="switchpoint-analysis")
        return self._executor.submit(analyzer.analyze, view, dict(parts))


def _inline_limit(analyzer: Analyzer) -> int | None:
    """An inline analyser's ``inline_chars`` (see :class:`Analyzer`), if it has a valid one."""
    limit = getattr(analyzer, "inline_chars", None)
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None
