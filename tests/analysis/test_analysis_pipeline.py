"""The pipeline: budgets, failures and timeouts degrade to unknown and never fail the request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from switchpoint.analysis import AnalysisPipeline, RequestFeatures, RequestView, TaskTypeResult
from switchpoint.analysis.build import Offloaded
from switchpoint.clock import FakeClock
from switchpoint.types import ChatRequest


def _request(text: str = "hello") -> ChatRequest:
    return ChatRequest(body={"model": "m", "messages": [{"role": "user", "content": text}]}, model="m")


class Fixed:
    inline = True

    def __init__(self, name: str, result: Any, *, clock: FakeClock | None = None, cost: float = 0.0) -> None:
        self.name = name
        self.provides = tuple(result) if isinstance(result, Mapping) else ()
        self.result = result
        self.clock = clock
        self.cost = cost
        self.calls = 0

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Any:
        self.calls += 1
        if self.clock is not None:
            self.clock.advance(self.cost)
        return self.result


class Boom:
    name = "boom"
    provides = ("task_type",)
    inline = True

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        raise RuntimeError("model file is corrupt")


class Slow:
    """Blocks until released: a threaded analyser that misses its deadline."""

    name = "slow"
    provides = ("complexity",)
    inline = False

    def __init__(self) -> None:
        self.release = threading.Event()

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        self.release.wait(5)
        return {"complexity": 0.9}


def test_outputs_are_merged_in_order_and_later_analysers_see_earlier_ones() -> None:
    seen: list[Any] = []

    class Reader:
        name = "reader"
        provides = ("complexity",)
        inline = True

        def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
            seen.append(partial.get("prompt_tokens"))
            return {"complexity": 0.25}

    pipeline = AnalysisPipeline([Fixed("shape", {"prompt_tokens": 12}), Reader()], clock=FakeClock())
    features = pipeline.analyze_sync(_request())
    assert seen == [12]
    assert features.prompt_tokens == 12 and features.complexity == 0.25
    assert features.analysis.degraded == ()


def test_a_failing_analyser_degrades_to_unknown() -> None:
    # a fake clock: the budget must not depend on how long logging the failure takes on a busy machine
    pipeline = AnalysisPipeline([Boom(), Fixed("ok", {"complexity": 0.5})], clock=FakeClock())
    features = pipeline.analyze_sync(_request())
    assert features.task_type == TaskTypeResult()
    assert features.task_type.label == "unknown"
    assert features.complexity == 0.5
    assert features.analysis.degraded == ("boom",)


def test_a_non_mapping_result_degrades() -> None:
    features = AnalysisPipeline([Fixed("odd", ["not", "a", "mapping"])], clock=FakeClock()).analyze_sync(_request())
    assert features.analysis.degraded == ("odd",)


def test_an_invalid_value_yields_the_unknown_record_not_an_error() -> None:
    features = AnalysisPipeline([Fixed("bad", {"tags": object()})], clock=FakeClock()).analyze_sync(_request())
    assert isinstance(features, RequestFeatures)


def test_budget_is_checked_before_each_inline_analyser() -> None:
    clock = FakeClock()
    first = Fixed("first", {"prompt_tokens": 3}, clock=clock, cost=0.004)
    second = Fixed("second", {"complexity": 0.1}, clock=clock, cost=0.0)
    pipeline = AnalysisPipeline([first, second], budget_ms=3.0, clock=clock)
    features = pipeline.analyze_sync(_request())
    assert features.prompt_tokens == 3
    assert features.complexity is None
    assert second.calls == 0
    assert features.analysis.degraded == ("second",)
    assert features.analysis.elapsed_ms == pytest.approx(4.0)


def test_sync_threaded_analyser_times_out() -> None:
    slow = Slow()
    pipeline = AnalysisPipeline([Fixed("shape", {"prompt_tokens": 1}), slow], budget_ms=30.0)
    try:
        features = pipeline.analyze_sync(_request())
    finally:
        slow.release.set()
        pipeline.close()
    assert features.complexity is None
    assert features.prompt_tokens == 1
    assert features.analysis.degraded == ("slow",)


def test_async_threaded_analyser_times_out_without_blocking_the_loop() -> None:
    slow = Slow()
    pipeline = AnalysisPipeline([slow], budget_ms=30.0)

    async def main() -> tuple[RequestFeatures, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        features = await pipeline.analyze(_request())
        task.cancel()
        return features, ticks

    try:
        features, ticks = asyncio.run(main())
    finally:
        slow.release.set()
        pipeline.close()
    assert features.analysis.degraded == ("slow",)
    assert ticks > 3  # the loop kept running while the worker was stuck


def test_async_threaded_analysers_complete_and_failures_degrade() -> None:
    class ThreadBoom(Boom):
        inline = False

    pipeline = AnalysisPipeline([Offloaded(Fixed("fast", {"complexity": 0.7})), ThreadBoom()], budget_ms=2000)
    try:
        features = asyncio.run(pipeline.analyze(_request()))
    finally:
        pipeline.close()
    assert features.complexity == 0.7
    assert features.analysis.degraded == ("boom",)


def test_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        AnalysisPipeline([Fixed("a", {}), Fixed("a", {})])


def test_empty_pipeline_gives_the_unknown_record() -> None:
    features = AnalysisPipeline([]).analyze_sync(_request())
    data = features.to_dict()
    assert data["task_type"] == {"label": "unknown", "probs": {}}
    assert data["pii"] == {"found": None, "kinds": []}
    assert data["complexity"] is None


class SizeLimited:
    """An inline analyser with an ``inline_chars`` limit; records the thread it ran on."""

    name = "scan"
    provides = ("complexity",)
    inline = True
    inline_chars = 100

    def __init__(self) -> None:
        self.threads: list[str] = []

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]:
        self.threads.append(threading.current_thread().name)
        return {"complexity": 0.3}


def test_an_inline_analyser_over_its_size_limit_runs_in_the_worker_thread() -> None:
    scan = SizeLimited()
    pipeline = AnalysisPipeline([Fixed("shape", {"prompt_tokens": 1}), scan], budget_ms=2000)
    try:
        short = pipeline.analyze_sync(_request("x" * 100))
        long = pipeline.analyze_sync(_request("x" * 101))
        long_async = asyncio.run(pipeline.analyze(_request("x" * 5000)))
    finally:
        pipeline.close()
    caller = threading.current_thread().name
    assert scan.threads[0] == caller
    assert scan.threads[1].startswith("switchpoint-analysis") and scan.threads[2].startswith("switchpoint-analysis")
    for features in (short, long, long_async):
        assert features.complexity == 0.3 and features.prompt_tokens == 1 and features.analysis.degraded == ()


def test_the_pii_scan_of_a_huge_prompt_is_offloaded_and_still_complete() -> None:
    from switchpoint.analysis.analyzers import PIIAnalyzer

    pii = PIIAnalyzer()
    assert pii.inline_chars == 65_536
    text = "Quarterly numbers: revenue 12.5 M, churn 3.1 %. " * 2000 + "Mail the report to cfo@example.com."
    assert len(text) > pii.inline_chars
    pipeline = AnalysisPipeline([pii], budget_ms=10_000)
    try:
        features = asyncio.run(pipeline.analyze(_request(text)))
    finally:
        pipeline.close()
    assert features.pii.found is True and features.pii.kinds == ("email",)
    assert features.analysis.degraded == ()
