"""``POST /v1/route``: the routing dry run. Same body as chat completions; calls no model.

It returns the request's ``features`` (see ``docs/analysis.md``) and the routing ``decision``:
the model group the request resolves to and its deployments in the order they would be tried.
The analysis models load on the first call, in a worker thread, so they cost nothing at start-up
or on the chat path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from switchpoint.analysis import AnalysisConfig, AnalysisPipeline, build_pipeline
from switchpoint.engine import Gateway
from switchpoint.server.asgi import Headers, Receive, Scope, Send, read_body, send_bytes
from switchpoint.validation import parse_chat_request

__all__ = ["RouteEndpoint"]


class RouteEndpoint:
    def __init__(self, gateway: Gateway, analysis: dict[str, Any], max_body_bytes: int) -> None:
        self._gateway = gateway
        self._config = AnalysisConfig.from_mapping(analysis)
        self._limit = max_body_bytes
        self._pipeline: AnalysisPipeline | None = None
        self._lock = asyncio.Lock()

    async def pipeline(self) -> AnalysisPipeline:
        async with self._lock:
            if self._pipeline is None:
                self._pipeline = await asyncio.to_thread(build_pipeline, self._config)
            return self._pipeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        request = parse_chat_request(await read_body(scope, receive, self._limit), request_id=headers[0][1].decode())
        group, matched = self._gateway.resolve(request.model)
        features = await (await self.pipeline()).analyze(request)
        deployments = [
            {"id": d.id, "provider": d.provider, "model": d.model.replace("*", matched) if matched else d.model,
             "weight": d.weight, "input_cost_per_mtok": d.price.input, "output_cost_per_mtok": d.price.output}
            for d in group.deployments
        ]
        decision = {
            "model_group": group.name,
            "policy": "explicit",
            "reason": f"the request names model group '{group.name}'",
            "candidates": deployments,
        }
        body = orjson.dumps({"decision": decision, "features": features.to_dict()})
        await send_bytes(send, 200, body, headers, b"application/json")

    async def aclose(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
