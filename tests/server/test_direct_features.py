"""``analysis.record_direct``: records of direct requests (a model group, no router) carry the
request's features too, computed after the answer; off by default."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway, chat_config

CODING = "Write a Python function that parses a CSV file and returns the rows as dictionaries."


def _wait_for(served: ServedGateway, count: int) -> list[Any]:
    give_up = time.monotonic() + 10
    while len(served.sink.records) < count:
        assert time.monotonic() < give_up, "records were not emitted"
        time.sleep(0.02)
    return list(served.sink.records)


@pytest.mark.parametrize("stream", [False, True])
def test_every_direct_record_carries_the_features_when_asked(upstream: FakeOpenAIUpstream, stream: bool) -> None:
    config = chat_config(upstream)
    config["analysis"] = {"record_direct": 1.0}
    with ServedGateway(config) as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
        for _ in range(3):
            answer = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": CODING}],
                                                    stream=stream)
            if stream:
                for _chunk in answer:  # type: ignore[union-attr]
                    pass
        records = _wait_for(served, 3)
    for record in records:
        assert record.routing is not None and record.routing["router"] is None
        features = record.routing["features"]
        assert features["task_type"]["label"] == "coding" and features["messages"] == 1
        assert record.status == 200


def test_off_by_default_and_errors_are_never_held_back(upstream: FakeOpenAIUpstream) -> None:
    config = chat_config(upstream)
    with ServedGateway(config) as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": CODING}])
        assert _wait_for(served, 1)[0].routing is None


def test_a_share_of_them(upstream: FakeOpenAIUpstream) -> None:
    config = chat_config(upstream)
    config["analysis"] = {"record_direct": 0.5}
    with ServedGateway(config) as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
        for _ in range(40):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        records = _wait_for(served, 40)
    with_features = sum(1 for r in records if r.routing is not None)
    assert 5 <= with_features <= 35  # about half (seeded by nothing: a loose binomial bound, p < 1e-5 to fail)


def test_the_share_is_validated(upstream: FakeOpenAIUpstream) -> None:
    from switchpoint.analysis import AnalysisConfig

    with pytest.raises(ValueError, match="record_direct"):
        AnalysisConfig.from_mapping({"record_direct": 2})
