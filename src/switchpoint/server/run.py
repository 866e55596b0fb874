"""Running the app on uvicorn (uvloop + httptools), in one process or several workers."""

from __future__ import annotations

import gc
import logging
import os
import sys

import orjson
import uvicorn

from switchpoint.config.build import build_gateway, build_log_sink, build_tracing_sink
from switchpoint.config.schema import GatewayConfig
from switchpoint.engine import Gateway
from switchpoint.metrics import MetricsSink
from switchpoint.protocols import EventSink
from switchpoint.server.app import SwitchpointApp
from switchpoint.storage.sinks import FanoutSink
from switchpoint.storage.writer import BatchingSink

__all__ = ["build_app", "serve", "worker_app"]

_CONFIG_ENV = "SWITCHPOINT_WORKER_CONFIG_JSON"


def _health_metrics(gateway: Gateway) -> list[str]:
    lines = [
        "# HELP switchpoint_deployment_up 1 when a deployment takes traffic, 0 while it cools down.",
        "# TYPE switchpoint_deployment_up gauge",
    ]
    health = gateway.health()
    for group, deployments in sorted(health["deployments"].items()):
        for d in deployments:
            up = 0 if d["state"] in ("cooldown", "rate_limited") else 1
            lines.append(f'switchpoint_deployment_up{{model_group="{group}",deployment="{d["id"]}",'
                         f'state="{d["state"]}"}} {up}')
    lines += ["# HELP switchpoint_resilience_events_total Retries denied, hedges, escalations, fallbacks, panics.",
              "# TYPE switchpoint_resilience_events_total counter"]
    for name, value in sorted(health["counters"].items()):
        lines.append(f'switchpoint_resilience_events_total{{event="{name}"}} {int(value)}')
    return lines


def _log_metrics(sink: BatchingSink) -> list[str]:
    lines = [
        "# HELP switchpoint_log_records_total Request records by what the log writer did with them.",
        "# TYPE switchpoint_log_records_total counter",
    ]
    stats = sink.stats()
    for outcome in ("emitted", "written", "spooled", "replayed", "dropped", "rejected"):
        lines.append(f'switchpoint_log_records_total{{outcome="{outcome}"}} {int(stats.get(outcome, 0))}')
    lines += [
        "# HELP switchpoint_log_records_lost_total Acknowledged records a log writer lost: killed before it flushed.",
        "# TYPE switchpoint_log_records_lost_total counter",
        f'switchpoint_log_records_lost_total{{reason="killed"}} {int(stats.get("lost", 0))}',
        "# HELP switchpoint_log_store_up Whether the log store accepted the last write.",
        "# TYPE switchpoint_log_store_up gauge",
        f"switchpoint_log_store_up {0 if sink.degraded else 1}",
    ]
    return lines


_GC_GEN0 = 10_000  # allocations between young-generation collections (CPython's default: 700)


def build_app(config: GatewayConfig) -> SwitchpointApp:
    """The composition root for a served gateway."""
    logs = build_log_sink(config.logs)

    def extra_metrics() -> list[str]:  # rendered on scrape, after ``gateway`` below exists
        return _health_metrics(gateway) + (_log_metrics(logs[0]) if logs is not None else [])

    metrics = MetricsSink(extra=extra_metrics)
    tracing = build_tracing_sink(config.tracing)
    sinks: list[EventSink] = [metrics, *([logs[0]] if logs is not None else []), *([tracing] if tracing else [])]
    gateway = build_gateway(config, sink=FanoutSink(sinks))
    key = config.server.master_key.get_secret_value() if config.server.master_key else None
    return SwitchpointApp(
        gateway,
        master_key=key,
        max_body_bytes=config.server.max_body_bytes,
        metrics=metrics,
        on_startup=[gateway.start] if logs is None else [gateway.start, logs[0].astart],
        store=logs[1] if logs is not None else None,
    )


def worker_app() -> SwitchpointApp:
    """Factory used by each worker process when ``workers > 1``."""
    config = GatewayConfig.model_validate_json(os.environ[_CONFIG_ENV])
    return _served(build_app(config))


async def _freeze_heap() -> None:
    """Once the gateway is up: move everything start-up allocated (config, adapters, analysis tables)
    out of the garbage collector's sight, so the collections that request garbage triggers do
    not walk it again and again (``gc.freeze``), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_GEN0, *gc.get_threshold()[1:])


def _served(app: SwitchpointApp) -> SwitchpointApp:
    """An app as ``switchpoint serve`` runs it: one process per gateway, so process-wide GC tuning is ours."""
    app.add_startup(_freeze_heap)
    return app


def _uvicorn_options(config: GatewayConfig) -> dict[str, object]:
    loop = "uvloop" if sys.platform != "win32" else "asyncio"
    return {
        "host": config.server.host,
        "port": config.server.port,
        "loop": loop,
        "http": "httptools",
        "lifespan": "on",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "server_header": False,
        "date_header": False,
    }


def serve(config: GatewayConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = _uvicorn_options(config)
    if config.server.workers > 1:
        os.environ[_CONFIG_ENV] = _config_json(config)
        uvicorn.run("switchpoint.server.run:worker_app", factory=True, workers=config.server.workers, **options)  # type: ignore[arg-type]
        return
    app = _served(build_app(config))
    uvicorn.Server(uvicorn.Config(app, **options)).run()  # type: ignore[arg-type]


def _config_json(config: GatewayConfig) -> str:
    """The config with secrets in clear, handed to worker processes only (never logged)."""
    data = config.model_dump(mode="json")
    if config.server.master_key:
        data["server"]["master_key"] = config.server.master_key.get_secret_value()
    for gi, group in enumerate(config.models):
        for di, deployment in enumerate(group.deployments):
            if deployment.api_key:
                data["models"][gi]["deployments"][di]["api_key"] = deployment.api_key.get_secret_value()
    return orjson.dumps(data).decode()
