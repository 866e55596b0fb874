"""Transport behaviour that the Anthropic and Gemini adapters share (``providers/native.py``),
each over real HTTP against its fake: refused connections, timeouts, dropped and abandoned streams."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from switchpoint.errors import ProviderConnectionError, ProviderProtocolError, ProviderTimeout
from switchpoint.providers.anthropic import AnthropicProvider
from switchpoint.providers.gemini import GeminiProvider
from switchpoint.testing import FakeAnthropicUpstream, FakeGeminiUpstream, FakeOpenAIUpstream
from switchpoint.types import Deployment, Timeouts
from tests.helpers import free_port
from tests.providers.adapter_harness import TIMEOUTS, Kit, run, wait_for_abort

ANTHROPIC_KEY = "sk-ant-api03-transport-test-0123456789"
GEMINI_KEY = "AIzaSyA-transport-test-key-0123456789"


@dataclass(frozen=True)
class Case:
    kit: Kit
    fake: FakeOpenAIUpstream
    model: str
    path: str  # the API's path prefix, for a refused connection's URL
    drop_after: int  # stream events before the fake drops the connection, after some output


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream(api_key=GEMINI_KEY) as fake:
        yield fake


@pytest.fixture(params=["anthropic", "gemini"])
def case(request: pytest.FixtureRequest, anthropic_fake: FakeAnthropicUpstream,
         gemini_fake: FakeGeminiUpstream) -> Case:
    if request.param == "anthropic":
        anthropic_fake.reset()
        base = Deployment(id="claude", provider="anthropic", model="claude-x", api_base=anthropic_fake.base_url,
                          api_key=ANTHROPIC_KEY, timeouts=TIMEOUTS)
        hi = {"model": "claude", "messages": [{"role": "user", "content": "Hi"}]}
        # message_start, ping, content_block_start, then the first delta: drop after it.
        return Case(Kit(AnthropicProvider, base, hi), anthropic_fake, "claude-x", "/v1", 4)
    gemini_fake.reset()
    base = Deployment(id="gemini", provider="gemini", model="gemini-x", api_base=gemini_fake.base_url,
                      api_key=GEMINI_KEY, timeouts=TIMEOUTS)
    hi = {"model": "gemini", "messages": [{"role": "user", "content": "Hi"}]}
    return Case(Kit(GeminiProvider, base, hi), gemini_fake, "gemini-x", "/v1beta", 2)


def test_connection_refused(case: Case) -> None:
    d = case.kit.deployment(api_base=f"http://127.0.0.1:{free_port()}{case.path}")
    with pytest.raises(ProviderConnectionError):
        run(case.kit.complete(d, case.kit.request()))


def test_dropped_stream_is_an_error_not_a_truncation(case: Case) -> None:
    case.fake.script(case.model, reply="a b c d", drop_after=case.drop_after, chunk_delay=0.2)
    blocks, _, finish, error = run(case.kit.stream(case.kit.deployment(), case.kit.request()))
    assert blocks and finish is None
    assert isinstance(error, ProviderProtocolError | ProviderConnectionError)


def test_first_token_timeout(case: Case) -> None:
    case.fake.script(case.model, latency=1.0)
    short = Timeouts(connect=2, first_token=0.2, idle=5, total=10)
    with pytest.raises(ProviderTimeout) as raised:
        run(case.kit.stream(case.kit.deployment(timeouts=short), case.kit.request()))
    assert raised.value.phase == "first_token"


def test_idle_timeout(case: Case) -> None:
    case.fake.script(case.model, reply="a b c", chunk_delay=0.5)
    short = Timeouts(connect=2, first_token=5, idle=0.2, total=10)
    blocks, _, _, error = run(case.kit.stream(case.kit.deployment(timeouts=short), case.kit.request()))
    assert blocks and isinstance(error, ProviderTimeout) and error.phase == "idle"
    wait_for_abort(case.fake)  # the stalled upstream is cut off, not left generating


def test_a_stalled_stream_hits_the_idle_timeout(case: Case) -> None:
    # stall_after holds the stream open without sending anything (now played by every fake).
    case.fake.script(case.model, reply="a b c d", stall_after=case.drop_after)
    short = Timeouts(connect=2, first_token=5, idle=0.2, total=10)
    blocks, _, _, error = run(case.kit.stream(case.kit.deployment(timeouts=short), case.kit.request()))
    assert blocks and isinstance(error, ProviderTimeout) and error.phase == "idle"
    wait_for_abort(case.fake)


def test_closing_a_stream_early_aborts_the_upstream(case: Case) -> None:
    case.fake.script(case.model, reply="a b c d e f g h", chunk_delay=0.05)
    run(case.kit.read_one_block(case.kit.deployment()))
    wait_for_abort(case.fake)


def test_redirects_are_refused_not_followed(case: Case) -> None:
    with FakeOpenAIUpstream() as canary:
        case.fake.script(case.model, redirect=canary.base_url + "/elsewhere")
        with pytest.raises(ProviderProtocolError, match=r"redirect \(307\), which is not followed"):
            run(case.kit.complete(case.kit.deployment(), case.kit.request()))
        with pytest.raises(ProviderProtocolError, match="redirect"):
            run(case.kit.stream(case.kit.deployment(), case.kit.request()))
        assert canary.requests == []  # neither the request nor its key went anywhere else


def test_oversized_answers_are_refused(case: Case) -> None:
    small = case.kit.deployment(options={"max_response_bytes": 1000})
    case.fake.script(case.model, raw=b'{"padding": "' + b"x" * 5000 + b'"}')
    with pytest.raises(ProviderProtocolError, match="over 1000 bytes"):
        run(case.kit.complete(small, case.kit.request()))
    case.fake.script(case.model, status=500, error={"message": "y" * 5000})  # an error body too
    with pytest.raises(ProviderProtocolError, match="over 1000 bytes"):
        run(case.kit.stream(small, case.kit.request()))
