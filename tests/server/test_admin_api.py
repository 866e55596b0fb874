"""The analytics, request explorer, feedback and dashboard endpoints, over real HTTP against a
gateway with a seeded SQLite log store (the queries themselves run on both databases in
``tests/analytics``)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchpoint.storage.postgres import PostgresStore
from switchpoint.storage.records import RequestRecord
from switchpoint.storage.sqlite import SQLiteStore
from switchpoint.testing import FakeOpenAIUpstream
from tests.analytics.support import PRICES, analytics_config, routed_savings, seed_sync
from tests.helpers import ServedGateway
from tests.storage.support import PG_URL, drop_schema

KEY = "sk-admin-master-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RequestRecord]]:
    path = tmp_path_factory.mktemp("admin") / "logs.db"
    return path, seed_sync(SQLiteStore(path), time.time())


@pytest.fixture(scope="module")
def served(seeded_db: tuple[Path, list[RequestRecord]]) -> Iterator[ServedGateway]:
    with ServedGateway(analytics_config(master_key=KEY, db=seeded_db[0])) as gateway:
        yield gateway


@pytest.fixture
def client(served: ServedGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as c:
        yield c


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_every_api_path_needs_the_master_key(served: ServedGateway) -> None:
    anonymous = httpx.Client(base_url=served.url, timeout=10)
    paths = ["/v1/analytics/summary", "/v1/analytics/timeseries", "/v1/analytics/models", "/v1/analytics/routing",
             "/v1/analytics/savings", "/v1/analytics/dimensions", "/v1/requests", "/v1/requests/seed-001"]  # fmt: skip
    with anonymous:
        for path in paths:
            assert _error(anonymous.get(path), 401)["code"] == "missing_api_key"
            wrong = anonymous.get(path, headers={"Authorization": "Bearer nope"})
            assert _error(wrong, 401)["code"] == "invalid_api_key"
            assert anonymous.get(path, headers={"x-api-key": KEY}).status_code == 200
        feedback = anonymous.post("/v1/feedback", json={"request_id": "seed-001", "score": 1})
        assert _error(feedback, 401)["type"] == "authentication_error"
        assert anonymous.get("/ui/").status_code == 200  # the page itself loads without a key


def test_summary_timeseries_and_models(client: httpx.Client) -> None:
    summary = client.get("/v1/analytics/summary", params={"since": "24h"}).json()
    assert (summary["requests"], summary["errors"], summary["fallbacks"]) == (60, 5, 6)
    assert summary["latency_ms"]["p50"] == 692.0 and summary["feedback"]["avg_score"] == pytest.approx(0.75)
    cheap = client.get("/v1/analytics/summary", params={"model": "cheap", "tag": "eval"}).json()
    assert cheap["requests"] == 8 and cheap["range"]["model"] == "cheap"
    series = client.get("/v1/analytics/timeseries", params={"bucket": "hour"}).json()
    assert series["bucket"] == "hour" and sum(p["requests"] for p in series["points"]) == 60
    assert client.get("/v1/analytics/timeseries", params={"since": "7d"}).json()["bucket"] == "day"
    models = client.get("/v1/analytics/models").json()["models"]
    assert [(m["model_group"], m["requests"]) for m in models] == [("cheap", 32), ("strong", 28)]
    assert models[0]["price"] == {"input_per_mtok": 0.15, "output_per_mtok": 0.6}  # from the gateway's config
    deployments = client.get("/v1/analytics/models", params={"by": "deployment"}).json()["models"]
    assert {m["deployment"] for m in deployments} == {"cheap-1", "strong-1"}


def test_routing_and_savings_use_the_configured_prices(
    client: httpx.Client, served: ServedGateway, seeded_db: tuple[Path, list[RequestRecord]]
) -> None:
    mix = client.get("/v1/analytics/routing").json()
    assert [r["router"] for r in mix["routers"]] == ["auto", None]
    savings = client.get("/v1/analytics/savings").json()
    actual, baseline = routed_savings(seeded_db[1])
    (auto,) = savings["routers"]
    assert auto["baseline_group"] == "strong" and auto["baseline_cost"] == pytest.approx(baseline)
    assert auto["savings"] == pytest.approx(baseline - actual)
    assert served.app.admin.prices == PRICES


def test_request_list_pages_and_detail(client: httpx.Client) -> None:
    first = client.get("/v1/requests", params={"limit": 40}).json()
    assert first["object"] == "list" and first["total"] == 60 and len(first["data"]) == 40
    rest = client.get("/v1/requests", params={"limit": 40, "cursor": first["next_cursor"]}).json()
    assert len(rest["data"]) == 20 and rest["next_cursor"] is None
    ids = [r["request_id"] for r in first["data"] + rest["data"]]
    assert ids == [f"seed-{i:03d}" for i in range(60)]
    errors = client.get("/v1/requests", params={"status": "error"}).json()
    assert errors["total"] == 5 and all(r["status"] >= 400 for r in errors["data"])
    detail = client.get("/v1/requests/seed-004").json()
    assert detail["routing"]["reason"] == "complexity<0.5" and len(detail["attempts"]) == 2
    assert detail["feedback"][0]["label"] == "ok"
    missing = client.get("/v1/requests/no-such-id")
    assert _error(missing, 404)["code"] == "request_not_found"


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/v1/analytics/summary", {"since": "yesterday"}, "since"),
        ("/v1/analytics/summary", {"since": "1h", "until": "2h"}, "since"),
        ("/v1/analytics/timeseries", {"bucket": "week"}, "bucket"),
        ("/v1/analytics/timeseries", {"since": "30d", "bucket": "minute"}, "bucket"),
        ("/v1/analytics/models", {"by": "team"}, "by"),
        ("/v1/analytics/summary", {"status": "maybe"}, "status"),
        ("/v1/requests", {"limit": "0"}, "limit"),
        ("/v1/requests", {"limit": "many"}, "limit"),
        ("/v1/requests", {"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, path: str, params: dict[str, str], param: str) -> None:
    error = _error(client.get(path, params=params), 400)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    assert _error(client.get("/v1/analytics/nope"), 404)["code"] == "not_found"
    assert _error(client.post("/v1/analytics/summary"), 405)["code"] == "method_not_allowed"
    assert _error(client.get("/v1/feedback"), 405)["code"] == "method_not_allowed"
    assert _error(client.delete("/ui/"), 405)["code"] == "method_not_allowed"


def test_the_dashboard_is_served_from_the_package(served: ServedGateway) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as anonymous:
        _dashboard_files(anonymous)


def _dashboard_files(c: httpx.Client) -> None:
    redirect = c.get("/ui")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    page = c.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert '<script type="module" src="js/app.js">' in page.text
    script = c.get("/ui/js/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    cached = c.get("/ui/js/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    assert c.head("/ui/app.css").status_code == 200
    for path in ("/ui/nope.js", "/ui/%2e%2e/pyproject.toml", "/ui/js/../../__init__.py", "/ui/.hidden.js"):
        assert c.get(path).status_code == 404, path


# -- feedback ----------------------------------------------------------------------------------


@pytest.fixture
def recording(tmp_path: Path, upstream: FakeOpenAIUpstream) -> Iterator[ServedGateway]:
    """A gateway on an empty log that records its own traffic, as configured by ``logs.url``."""
    with ServedGateway(analytics_config(upstream.base_url, master_key=KEY, db=tmp_path / "logs.db")) as gateway:
        yield gateway


def test_feedback_on_a_request_just_served(recording: ServedGateway) -> None:
    with httpx.Client(base_url=recording.url, headers=AUTH, timeout=10) as c:
        chat = c.post("/v1/chat/completions", json={"model": "cheap", "messages": [{"role": "user", "content": "hi"}]},
                      headers={"x-request-id": "live-1", "x-switchpoint-tags": "prod,trial"})  # fmt: skip
        assert chat.status_code == 200
        # At once: the record is still in the writer's queue, so the endpoint waits for it.
        answer = c.post("/v1/feedback", json={"request_id": "live-1", "score": 0.25, "label": "wrong",
                                              "comment": "made up a citation"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["object"] == "feedback" and body["request_id"] == "live-1" and len(body["id"]) == 32
        detail = c.get("/v1/requests/live-1").json()
        assert detail["model_group"] == "cheap" and detail["tags"] == ["prod", "trial"]
        assert [(f["score"], f["label"], f["comment"]) for f in detail["feedback"]] == [
            (0.25, "wrong", "made up a citation")]
        summary = c.get("/v1/analytics/summary").json()
        assert summary["requests"] == 1 and summary["feedback"] == {"count": 1, "scored": 1, "avg_score": 0.25}


def test_feedback_errors(recording: ServedGateway) -> None:
    recording.app.admin.feedback_wait = 0.2
    with httpx.Client(base_url=recording.url, headers=AUTH, timeout=10) as c:
        unknown = c.post("/v1/feedback", json={"request_id": "never-served", "score": 1})
        error = _error(unknown, 404)
        assert (error["code"], error["param"]) == ("request_not_found", "request_id")
        assert _error(c.post("/v1/feedback", content=b"{not json"), 400)["code"] == "invalid_request"
        assert _error(c.post("/v1/feedback", json={"request_id": "x", "score": "high"}), 400)["param"] == "score"
        assert _error(c.post("/v1/feedback", json={"request_id": "x"}), 400)["param"] == "score"
        assert _error(c.post("/v1/feedback", json=[1]), 400)["code"] == "invalid_request"
        big = c.post("/v1/feedback", json={"request_id": "x", "comment": "x" * 70_000})
        assert _error(big, 413)["code"] == "request_too_large"


def test_without_a_store_analytics_answers_503(tmp_path: Path) -> None:
    with ServedGateway(analytics_config()) as gateway, httpx.Client(base_url=gateway.url) as c:
        for response in (c.get("/v1/analytics/summary"), c.get("/v1/requests"),
                         c.post("/v1/feedback", json={"request_id": "x", "score": 1})):  # fmt: skip
            error = _error(response, 503)
            assert (error["code"], error["type"]) == ("logs_unavailable", "service_unavailable")
            assert "logs.url" in error["message"]
        assert c.get("/ui/").status_code == 200


def test_a_fresh_store_answers_zeros(tmp_path: Path) -> None:
    """Before the first write there are no tables; the endpoint migrates rather than failing."""
    with ServedGateway(analytics_config(db=tmp_path / "fresh.db")) as gateway, \
            httpx.Client(base_url=gateway.url) as c:
        summary = c.get("/v1/analytics/summary").json()
        assert summary["requests"] == 0 and summary["latency_ms"]["p50"] is None
        assert c.get("/v1/requests").json()["data"] == []


def test_a_store_that_cannot_be_read_is_503_without_details(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with ServedGateway(analytics_config(db=blocker / "logs.db")) as gateway:  # a file as a directory
        error = _error(httpx.get(gateway.url + "/v1/analytics/summary", timeout=10), 503)
        assert error["code"] == "logs_unavailable" and str(tmp_path) not in error["message"]


def test_the_api_on_a_postgres_log(tmp_path: Path) -> None:
    """The same endpoints through the real wiring on Postgres: logs.url and logs.pg_schema."""
    schema = f"sp_admin_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        seed_sync(PostgresStore(PG_URL, schema=schema), time.time())
        config = analytics_config(master_key=KEY)
        config["logs"] = {"url": PG_URL, "pg_schema": schema, "spool_dir": None}
        with ServedGateway(config) as gateway, httpx.Client(base_url=gateway.url, headers=AUTH) as c:
            assert c.get("/v1/analytics/summary").json()["requests"] == 60
            assert c.get("/v1/analytics/savings").json()["routers"][0]["baseline_group"] == "strong"
            assert c.get("/v1/requests/seed-004").json()["attempts"][0]["status_code"] == 429
            answer = c.post("/v1/feedback", json={"request_id": "seed-004", "label": "checked"})
            assert answer.status_code == 200, answer.text
            labels = [f["label"] for f in c.get("/v1/requests/seed-004").json()["feedback"]]
            assert labels == ["ok", "checked"]
    finally:
        drop_schema(schema)
