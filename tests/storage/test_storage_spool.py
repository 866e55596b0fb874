"""The spool on its own: codec, bound, segments, crash leftovers, sharing a directory."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from switchpoint.storage.records import RequestRecord
from switchpoint.storage.spool import Spool, decode_record, encode_record

from .support import record


@pytest.mark.parametrize("batch", [1, 7])
def test_records_round_trip(tmp_path: Path, batch: int) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    records: list[RequestRecord] = [
        record(i, routing={"n": i, "scores": {"a": 0.5}}, content={"x": [1, 2]}, client_disconnected=True)
        for i in range(batch)
    ]
    assert spool.append(records) == batch
    spool.seal()
    (segment,) = spool.segments()
    assert Spool.read(segment) == (records, 0)


def test_decoding_ignores_fields_it_does_not_know() -> None:
    data = orjson.loads(encode_record(record(1)))
    data["added_in_a_later_version"] = 1
    data["attempts"][0]["also_new"] = True
    assert decode_record(orjson.dumps(data)) == record(1)


def test_the_bound_counts_every_segment_in_the_directory(tmp_path: Path) -> None:
    line = len(encode_record(record(0)))
    first = Spool(tmp_path, max_bytes=line * 10, segment_bytes=line * 3)
    second = Spool(tmp_path, max_bytes=line * 10)  # another worker sharing the directory
    assert first.append([record(i) for i in range(3)]) == 3
    assert first.append([record(i) for i in range(3, 6)]) == 3  # rotates: the first segment is full
    assert second.append([record(i) for i in range(6, 12)]) == 4
    assert first.append([record(99)]) == 0
    assert first.size() == line * 10
    first.seal()
    second.seal()
    assert len(first.segments()) >= 3  # segments rotate at segment_bytes


def test_a_live_writers_open_segment_is_not_taken(tmp_path: Path) -> None:
    writer = Spool(tmp_path, max_bytes=1_000_000)
    other = Spool(tmp_path, max_bytes=1_000_000)
    writer.append([record(1)])
    assert other.segments() == []  # still locked by its writer
    writer.seal()
    (segment,) = other.segments()
    assert Spool.read(segment) == ([record(1)], 0)
    Spool.remove(segment)
    assert os.listdir(tmp_path) == []


def test_an_abandoned_open_segment_is_sealed_and_torn_lines_are_counted(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-1-dead-000001.open").write_bytes(
        encode_record(record(1)) + b"\n" + b'{"request_id": "cut off'
    )
    spool = Spool(tmp_path, max_bytes=1_000_000)
    (segment,) = spool.segments()
    assert segment.suffix == ".jsonl"
    assert Spool.read(segment) == ([record(1)], 1)


def test_segments_are_listed_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    for i in range(3):
        spool.append([record(i)])
        spool.seal()
    assert [Spool.read(s)[0][0].request_id for s in spool.segments()] == ["req-0", "req-1", "req-2"]


def test_sealing_an_empty_segment_leaves_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1)
    assert spool.append([record(1)]) == 0  # larger than the whole spool
    spool.seal()
    assert os.listdir(tmp_path) == []
