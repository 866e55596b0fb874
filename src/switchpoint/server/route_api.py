"""``POST /v1/route``: the routing dry run. Same body as chat completions; calls no model.

It returns the request's ``features`` (see ``docs/analysis.md``) and the routing ``decision``.
For a router (``model: "auto"``) the decision is the router's, in full: the chosen group, the
policy and its reason, every candidate with its score, cost estimate, predicted quality and why it
was or was not chosen, the shadow policies' decisions, and the chosen group's deployments. For a
model group it is the group and its deployments (``policy: "explicit"``).

The analysis pipeline belongs to the gateway (``Gateway.routing.analysis``, built by
``config/build.py``), shared with the routers; it loads in a worker thread, at start-up when a
router needs it, else on the first dry run.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchpoint.engine import Gateway
from switchpoint.routing.protocol import RouteContext
from switchpoint.server.asgi import Headers, Receive, Scope, Send, header, read_body, send_bytes
from switchpoint.server.openai_api import routing_headers
from switchpoint.types import ModelGroup
from switchpoint.validation import parse_chat_request

__all__ = ["RouteEndpoint"]


class RouteEndpoint:
    def __init__(self, gateway: Gateway, max_body_bytes: int) -> None:
        self._gateway = gateway
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        tags_header = header(scope, b"x-switchpoint-tags")
        tags = tuple(t.strip() for t in tags_header.decode("latin-1").split(",") if t.strip()) if tags_header else ()
        request = parse_chat_request(await read_body(scope, receive, self._limit), request_id=headers[0][1].decode(),
                                     tags=tags)
        gateway = self._gateway
        router = gateway.routing.routers.get(request.model)
        if router is None:
            group, matched = gateway.resolve(request.model)
        features = await gateway.routing.analysis.analyze(request)
        if router is not None:
            routed = router.decide(RouteContext(request, features, routing_headers(scope)))
            group, matched = gateway.resolve(routed.group)
            decision = routed.to_dict()
            decision["deployments"] = _deployments(group, matched)
        else:
            decision = {
                "router": None,
                "model_group": group.name,
                "chosen": group.name,
                "policy": "explicit",
                "kind": "explicit",
                "reason": f"the request names model group '{group.name}'",
                "candidates": _deployments(group, matched),
            }
        body = orjson.dumps({"decision": decision, "features": features.to_dict()})
        await send_bytes(send, 200, body, headers, b"application/json")


def _deployments(group: ModelGroup, matched: str | None) -> list[dict[str, Any]]:
    return [
        {"id": d.id, "provider": d.provider, "model": d.model.replace("*", matched) if matched else d.model,
         "weight": d.weight, "input_cost_per_mtok": d.price.input, "output_cost_per_mtok": d.price.output}
        for d in group.deployments
    ]
