"""Running the app on uvicorn (uvloop + httptools), in one process or several workers."""

from __future__ import annotations

import logging
import os
import sys

import orjson
import uvicorn

from switchpoint.config.build import build_gateway
from switchpoint.config.schema import GatewayConfig
from switchpoint.metrics import MetricsSink
from switchpoint.server.app import SwitchpointApp
from switchpoint.storage.sinks import FanoutSink

__all__ = ["build_app", "serve", "worker_app"]

_CONFIG_ENV = "SWITCHPOINT_WORKER_CONFIG_JSON"


def build_app(config: GatewayConfig) -> SwitchpointApp:
    """The composition root for a served gateway."""
    metrics = MetricsSink()
    gateway = build_gateway(config, sink=FanoutSink([metrics]))
    key = config.server.master_key.get_secret_value() if config.server.master_key else None
    return SwitchpointApp(gateway, master_key=key, max_body_bytes=config.server.max_body_bytes, metrics=metrics)


def worker_app() -> SwitchpointApp:
    """Factory used by each worker process when ``workers > 1``."""
    config = GatewayConfig.model_validate_json(os.environ[_CONFIG_ENV])
    return build_app(config)


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
    app = build_app(config)
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
