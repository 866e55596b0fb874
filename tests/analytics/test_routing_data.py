"""Logged requests with feedback exported as routing-quality rows, from real SQLite and real Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchpoint.analytics.filters import Filters
from switchpoint.analytics.readers import LogReader, PostgresReader, SQLiteReader
from switchpoint.analytics.routing_data import ExportError, ExportOptions, ExportReport, export_routing_rows
from switchpoint.routing.evaluation.data import load_rows
from tests.storage.support import NOW, PG_URL, StoreTarget, record


def _content(prompt: str, answer: str | None = "an answer") -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "earlier"},
                         {"role": "assistant", "content": "ok"}, {"role": "user", "content": prompt}],
            "response": answer}  # fmt: skip


def _reader(target: StoreTarget) -> LogReader:
    if target.kind == "sqlite":
        assert target.path is not None
        return SQLiteReader(target.path)
    return PostgresReader(PG_URL, schema=target.schema)


def _export(target: StoreTarget, records: list[Any], feedback: list[tuple[str, float | None, str | None]],
            options: ExportOptions | None = None, filters: Filters | None = None
            ) -> tuple[list[dict[str, Any]], ExportReport]:  # fmt: skip
    async def main() -> tuple[list[dict[str, Any]], ExportReport]:
        store = target.make()
        await store.migrate()
        await store.write(records)
        for request_id, score, label in feedback:
            await store.add_feedback(request_id, score, label, None)
        await store.close()
        reader = _reader(target)
        try:
            return await export_routing_rows(reader, filters or Filters(NOW - 3600, NOW + 3600), options)
        finally:
            await reader.close()

    return asyncio.run(main())


def test_requests_with_content_and_feedback_become_rows_merged_by_prompt(target: StoreTarget, tmp_path: Path) -> None:
    records = [
        record(1, NOW, group="cheap", cost=0.001, completion_tokens=10, content=_content("What is 2+2?")),
        record(2, NOW + 1, group="strong", cost=0.02, completion_tokens=30, content=_content("What is 2+2?")),
        record(3, NOW + 2, group="cheap", cost=0.003, completion_tokens=20, content=_content("What is 2+2?")),
        record(4, NOW + 3, group="strong", content=_content("Prove Fermat's last theorem.")),
        record(5, NOW + 4, group="cheap", content=None),  # content logging was off
        record(6, NOW + 5, group="cheap", status=502, error_class="ProviderError", content=_content("x", None)),
        record(7, NOW + 6, group="cheap", content=_content("no feedback here")),
        record(8, NOW + 7, group="cheap", content=_content("only a comment")),
    ]
    feedback = [("req-1", 0.0, None), ("req-2", 1.0, None), ("req-3", 1.0, None), ("req-3", 0.0, "bad"),
                ("req-4", 0.5, None), ("req-5", 1.0, None), ("req-6", 0.0, None), ("req-8", None, "meh")]
    rows, report = _export(target, records, feedback)
    assert [r["prompt"] for r in rows] == ["What is 2+2?", "Prove Fermat's last theorem."]
    first = rows[0]
    # req-1 0.0 and req-3 (1.0 and 0.0 -> 0.5) for cheap; the unmapped label 'bad' counts nothing
    assert first["scores"] == {"cheap": 0.25, "strong": 1.0}
    assert first["cost"] == {"cheap": pytest.approx(0.002), "strong": pytest.approx(0.02)}
    assert first["tokens"] == {"in": 100, "out/cheap": 15, "out/strong": 30}
    assert first["id"] == "logged/req-1" and first["dataset"] == "logged"
    assert first["meta"]["requests"] == 3 and first["meta"]["request_ids"] == ["req-1", "req-2", "req-3"]
    assert rows[1]["scores"] == {"strong": 0.5}
    assert (report.with_feedback, report.exported, report.rows) == (7, 4, 2)
    assert (report.no_content, report.failed, report.no_score) == (1, 1, 1)
    assert report.models == {"cheap": 2, "strong": 2}
    # what ``switchpoint train`` / ``eval`` read back
    data = tmp_path / "logged.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    parsed = load_rows(data)
    assert [p.prompt for p in parsed] == [r["prompt"] for r in rows] and parsed[0].scores["strong"] == 1.0


def test_score_range_labels_aliases_and_upstream_names(target: StoreTarget) -> None:
    records = [record(1, NOW, group="fast", upstream_model="gpt-4o-mini-2024-07-18", content=_content("hi")),
               record(2, NOW + 1, group="smart", upstream_model="gpt-4o-2024-08-06", content=_content("hi"))]
    feedback = [("req-1", 2.0, None), ("req-1", None, "good"), ("req-2", 5.0, None)]
    options = ExportOptions(score_range=(1, 5), labels={"good": 1.0}, aliases={"fast": "gpt-4o-mini"},
                            dataset="prod")  # fmt: skip
    rows, _ = _export(target, records, feedback, options)
    assert rows[0]["scores"] == {"gpt-4o-mini": (0.25 + 1.0) / 2, "smart": 1.0}
    assert rows[0]["dataset"] == "prod" and rows[0]["id"] == "prod/req-1"
    rows, _ = _export_again(target, ExportOptions(score_range=(1, 5), models="upstream"))
    assert rows[0]["scores"] == {"gpt-4o-mini-2024-07-18": 0.25, "gpt-4o-2024-08-06": 1.0}


def _export_again(target: StoreTarget, options: ExportOptions) -> tuple[list[dict[str, Any]], ExportReport]:
    async def main() -> tuple[list[dict[str, Any]], ExportReport]:
        reader = _reader(target)
        try:
            return await export_routing_rows(reader, Filters(NOW - 3600, NOW + 3600), options)
        finally:
            await reader.close()

    return asyncio.run(main())


def test_a_score_outside_the_range_is_an_error_naming_the_request(target: StoreTarget) -> None:
    records = [record(1, NOW, content=_content("rate me"))]
    with pytest.raises(ExportError, match=r"request req-1: feedback score 4 is outside the score range 0\.\.1.*"
                                          r"--score-range 1,5"):  # fmt: skip
        _export(target, records, [("req-1", 4.0, None)])


def test_filters_apply_and_pages_are_walked(target: StoreTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("switchpoint.analytics.routing_data.PAGE", 3)
    records = [record(i, NOW + i, group="a" if i % 2 else "b", content=_content(f"prompt {i}")) for i in range(8)]
    records.append(record(99, NOW - 7200, content=_content("too old")))
    feedback = [(f"req-{i}", 1.0, None) for i in (*range(8), 99)]
    rows, report = _export(target, records, feedback)
    assert [r["prompt"] for r in rows] == [f"prompt {i}" for i in range(8)]
    assert report.with_feedback == 8

    async def only_a() -> list[dict[str, Any]]:
        reader = _reader(target)
        try:
            return (await export_routing_rows(reader, Filters(NOW - 3600, NOW + 3600, model="a")))[0]
        finally:
            await reader.close()

    assert [r["prompt"] for r in asyncio.run(only_a())] == [f"prompt {i}" for i in (1, 3, 5, 7)]


@pytest.mark.parametrize(("options", "message"), [
    ({"score_range": (1.0, 1.0)}, "low < high"),
    ({"models": "deployment"}, "models must be one of group, upstream"),
    ({"labels": {"good": 2.0}}, "label 'good' must be between 0 and 1"),
])  # fmt: skip
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExportOptions(**options)
