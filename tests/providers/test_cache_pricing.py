"""Prompt-cache writes: configured per deployment, parsed from Anthropic answers and streams, priced
at 1.25x (5-minute TTL) or 2x (1-hour TTL) the input rate unless configured, through a served gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from switchpoint.config.build import build_groups
from switchpoint.config.load import parse_config
from switchpoint.testing import FakeAnthropicUpstream
from switchpoint.types import Price
from tests.helpers import ServedGateway

KEY = "sk-ant-api03-cache-test-0123456789"
MESSAGES: Any = [{"role": "user", "content": "Summarise the cached document."}]
# 10 fresh input tokens, 1000 cache reads, 300 cache writes (200 of them with the 1-hour TTL), 4 output tokens
USAGE = {"prompt_tokens": 10, "cache_read_tokens": 1000, "cache_creation_tokens": 300, "cache_creation_1h_tokens": 200}


def _config(api_base: str, **prices: float) -> dict[str, Any]:
    return {"server": {"master_key": "sk-gw"}, "models": [
        {"name": "claude", "provider": "anthropic", "model": "claude-up", "api_base": api_base, "api_key": KEY,
         "input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0, "cached_input_cost_per_mtok": 0.3, **prices}]}


def test_config_fields_become_the_price() -> None:
    config = parse_config(_config("http://127.0.0.1:9/v1", cache_write_cost_per_mtok=3.75,
                                  cache_write_1h_cost_per_mtok=6.5), {})
    assert build_groups(config)[0].deployments[0].price == Price(3.0, 15.0, 0.3, 3.75, 6.5)
    defaults = build_groups(parse_config(_config("http://127.0.0.1:9/v1"), {}))[0].deployments[0].price
    assert (defaults.cache_write, defaults.cache_write_1h) == (None, None)  # derived from the input price


def test_a_negative_cache_write_price_is_a_config_error() -> None:
    with pytest.raises(Exception, match="cache_write_cost_per_mtok"):
        parse_config(_config("http://127.0.0.1:9/v1", cache_write_cost_per_mtok=-1), {})


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key=KEY) as upstream:
        yield upstream


def _expected(write: float = 3.75, write_1h: float = 6.0) -> float:
    return (10 * 3.0 + 1000 * 0.3 + 100 * write + 200 * write_1h + 4 * 15.0) / 1e6


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("prices", "expected"),
    [({}, _expected()), ({"cache_write_cost_per_mtok": 4.0, "cache_write_1h_cost_per_mtok": 7.0}, _expected(4.0, 7.0))],
    ids=["default-multipliers", "configured"],
)
def test_cache_writes_are_priced_through_the_gateway(fake: FakeAnthropicUpstream, stream: bool,
                                                     prices: dict[str, float], expected: float) -> None:
    fake.script("claude-up", reply="a b c d", **USAGE)
    with ServedGateway(_config(fake.base_url, **prices)) as gateway, \
            openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-gw", max_retries=0) as client:
        if stream:
            chunks = list(client.chat.completions.create(model="claude", messages=MESSAGES, stream=True,
                                                         stream_options={"include_usage": True}))
            usage = chunks[-1].usage
        else:
            usage = client.chat.completions.create(model="claude", messages=MESSAGES).usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (1310, 4)
    details = usage.prompt_tokens_details
    assert details is not None and details.cached_tokens == 1000
    assert getattr(details, "cache_write_tokens", None) == 300
    record = gateway.sink.records[-1]
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (1310, 1000, 4)
    assert record.cost == pytest.approx(expected)
    assert record.cost > (10 * 3.0 + 1000 * 0.3 + 300 * 3.0 + 4 * 15.0) / 1e6  # more than writes at the input rate
