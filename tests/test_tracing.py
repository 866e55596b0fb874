"""OpenTelemetry tracing (extra ``switchpoint[otel]``): spans from real requests, config, and the
base install never importing OpenTelemetry."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import switchpoint
from switchpoint.config.build import build_tracing_sink
from switchpoint.config.load import parse_config
from switchpoint.config.schema import TracingConfig
from switchpoint.errors import ConfigError
from switchpoint.testing import FakeOpenAIUpstream
from switchpoint.tracing import TracingSink
from tests.helpers import ServedGateway, chat_config

MESSAGES = [{"role": "user", "content": "hello"}]


def _traced(upstream: FakeOpenAIUpstream, calls: Any) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    sink = TracingSink(TracingConfig(enabled=True), processor=SimpleSpanProcessor(exporter))

    async def run() -> None:
        async with switchpoint.Router(chat_config(upstream), sink=sink) as router:
            await calls(router)  # closing the router closes the sink: every span is exported

    asyncio.run(run())
    return list(exporter.get_finished_spans())


def test_one_server_span_per_request_and_one_client_span_per_attempt(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-chat", reply="traced", prompt_tokens=7)

    async def calls(router: switchpoint.Router) -> None:
        reply = await router.chat(model="chat", messages=MESSAGES)
        assert reply["choices"][0]["message"]["content"] == "traced"

    spans = _traced(upstream, calls)
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    [client] = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert server.name == "chat chat" and client.name == "chat up-chat"
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert client.context.trace_id == server.context.trace_id
    attrs = dict(server.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "chat"
    assert attrs["gen_ai.response.model"] == "up-chat"
    assert attrs["gen_ai.system"] == "openai_compat" and attrs["switchpoint.provider"] == "openai_compat"
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["switchpoint.model_group"] == "chat" and attrs["switchpoint.cost_usd"] > 0
    assert len(str(attrs["switchpoint.request_id"])) == 24
    assert server.status.status_code is StatusCode.UNSET
    assert server.start_time is not None and server.end_time is not None and client.start_time is not None
    assert server.start_time <= client.start_time and server.end_time >= server.start_time
    assert dict(client.attributes or {})["switchpoint.deployment"] == "openai_compat/up-chat"


def test_failed_attempts_and_failed_requests_are_errors_on_their_spans(upstream: FakeOpenAIUpstream) -> None:
    upstream.script("up-a", status=500)  # the 'pair' group tries 'first' (up-a), then 'second' (up-b)
    upstream.script("up-b", reply="second one")

    async def calls(router: switchpoint.Router) -> None:
        reply = await router.chat(model="pair", messages=MESSAGES)
        assert reply["choices"][0]["message"]["content"] == "second one"
        upstream.script("up-b", status=500)
        with pytest.raises(switchpoint.SwitchpointError):
            await router.chat(model="pair", messages=MESSAGES)

    spans = _traced(upstream, calls)
    servers = sorted((s for s in spans if s.kind is SpanKind.SERVER), key=lambda s: s.start_time or 0)
    assert len(servers) == 2
    ok, failed = servers
    children = {server.context.span_id: [s for s in spans if s.parent and s.parent.span_id == server.context.span_id]
                for server in servers}  # fmt: skip
    first, second = sorted(children[ok.context.span_id], key=lambda s: s.start_time or 0)
    assert dict(first.attributes or {})["switchpoint.deployment"] == "first"
    assert first.status.status_code is StatusCode.ERROR
    assert "error.type" in dict(first.attributes or {})
    assert [e.name for e in first.events] == ["exception"]
    assert second.status.status_code is StatusCode.UNSET
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"]
    assert all(c.status.status_code is StatusCode.ERROR for c in children[failed.context.span_id])


def test_sampling_ratio_zero_records_nothing(upstream: FakeOpenAIUpstream) -> None:
    exporter = InMemorySpanExporter()
    sink = TracingSink(TracingConfig(enabled=True, sample_ratio=0.0), processor=SimpleSpanProcessor(exporter))

    async def run() -> None:
        async with switchpoint.Router(chat_config(upstream), sink=sink) as router:
            await router.chat(model="chat", messages=MESSAGES)

    asyncio.run(run())
    assert sink.spans == 1 and exporter.get_finished_spans() == ()


def test_served_gateway_traces_to_the_configured_exporter(
    upstream: FakeOpenAIUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.script("up-chat", reply="over http")
    config = {**chat_config(upstream), "tracing": {"enabled": True, "exporter": "console", "service_name": "gw-test"}}
    with ServedGateway(config) as served:
        reply = httpx.post(served.url + "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES})
        assert reply.status_code == 200
        request_id = reply.headers["x-request-id"]
    out = capsys.readouterr().out
    assert '"name": "chat chat"' in out and '"name": "chat up-chat"' in out
    assert f'"switchpoint.request_id": "{request_id}"' in out
    assert '"service.name": "gw-test"' in out


def test_tracing_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="tracing.exporter"):
        parse_config({"tracing": {"enabled": True, "exporter": "zipkin"}}, {})
    with pytest.raises(ConfigError, match="tracing.sample_ratio"):
        parse_config({"tracing": {"sample_ratio": 2}}, {})
    assert build_tracing_sink(TracingConfig()) is None  # off by default
    assert isinstance(build_tracing_sink(TracingConfig(enabled=True, exporter="none")), TracingSink)
    otlp = TracingConfig(enabled=True, exporter="otlp")
    if importlib.util.find_spec("opentelemetry.exporter") is None:
        with pytest.raises(ConfigError, match="opentelemetry-exporter-otlp"):
            build_tracing_sink(otlp)
    else:  # pragma: no cover - depends on the installed extras
        assert isinstance(build_tracing_sink(otlp), TracingSink)


def test_base_install_never_imports_opentelemetry() -> None:
    code = (
        "import sys, switchpoint\n"
        "from switchpoint.config.load import parse_config\n"
        "from switchpoint.server.run import build_app\n"
        "app = build_app(parse_config({'logs': {'url': None}}, {}))\n"
        "print([m for m in sys.modules if m.startswith('opentelemetry')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
