"""``switchpoint cascade calibrate`` end to end: a served gateway with a cascade (cheap → strong)
against the fake upstream, logprobs scripted per request so some answers are low-confidence, a
real SQLite request log, feedback posted over HTTP, then the CLI on that log.

The traffic: 40 non-streamed requests whose cheap answer has confidence c = (i + 1) / 40, i.e.
0.025, 0.05, ..., 1.0, under ``threshold: 0.3``: the 11 answers under 0.3 escalate, 29 are kept.
Kept answers are rated positive except c in 0.3..0.475 (8 answers) and c = 0.75; some ratings
are labels only, one answer is rated twice (negative, then positive: the latest counts), and the
escalated requests are rated negative (that rates the strong answer and must be ignored).

By hand, escalating below a threshold t between two consecutive scores:
- at most 30% escalated: 12 answers under t at most, so t = (0.3 + 0.325) / 2 = 0.3125,
  escalation 12/40 = 30%, kept quality 20/28 (answers 0.325 and up: 28, of which 8 negative);
- at least 90% positive: t = (0.45 + 0.475) / 2 = 0.4625 keeps 22 rated answers, 2 negative
  (0.475 and 0.75): 20/22 = 90.9%, escalation 18/40 = 45%. The cut below it keeps 0.45 too:
  20/23 = 87.0% < 90%.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from switchpoint.cli.main import main
from switchpoint.testing import FakeOpenAIUpstream
from tests.helpers import ServedGateway

KEY = "sk-admin-master-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
N = 40
NEGATIVE = {*range(12, 20), 30}  # 1-based positions of the kept answers rated negative
LABELS_ONLY = {22, 24, 26}  # rated with a label and no score
TWICE = 35  # rated negative, then positive


def _config(upstream: FakeOpenAIUpstream, db: Path) -> dict[str, Any]:
    def group(name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "provider": "openai_compat", "model": f"up-{name}", "api_base": upstream.base_url,
                "api_key": "sk-upstream-secret-0123456789", **extra}  # fmt: skip

    return {
        "server": {"master_key": KEY},
        "logs": {"url": f"sqlite:///{db}", "spool_dir": None, "flush_ms": 20},
        "models": [
            group("cheap", cascade={"next": "strong", "threshold": 0.3, "request_logprobs": True}),
            group("strong"),
        ],  # fmt: skip
    }


def _feedback(client: httpx.Client, request_id: str, **body: Any) -> None:
    answer = client.post("/v1/feedback", json={"request_id": request_id, **body})
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    db = tmp_path_factory.mktemp("cascade") / "logs.db"
    with FakeOpenAIUpstream() as upstream, ServedGateway(_config(upstream, db)) as served:
        upstream.script("up-strong", reply="The strong answer.")
        sdk = openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0)
        escalated = []
        for position in range(1, N + 1):
            confidence = position / N
            upstream.script("up-cheap", reply=f"Cheap answer {position}.", logprobs=[math.log(confidence)] * 3)
            raw = sdk.chat.completions.with_raw_response.create(
                model="cheap", messages=[{"role": "user", "content": f"question {position}"}],
                extra_headers={"x-request-id": f"req-{position}"},
            )  # fmt: skip
            answer = raw.parse()
            if confidence < 0.3:
                escalated.append(position)
                assert answer.choices[0].message.content == "The strong answer."
                assert raw.headers["x-switchpoint-groups"] == "cheap>strong"
            else:
                assert answer.choices[0].message.content == f"Cheap answer {position}."
            assert answer.choices[0].logprobs is None  # asked by the gateway, not by the client
        # A streamed request is not cascaded, so it has no score and is not a step.
        stream = sdk.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "s"}], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert escalated == list(range(1, 12))
        with httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as client:
            for position in range(1, N + 1):
                request_id = f"req-{position}"
                if position in escalated:
                    _feedback(client, request_id, score=0.0, comment="rates the strong answer")
                elif position == TWICE:
                    _feedback(client, request_id, score=0.0)
                    _feedback(client, request_id, score=1.0, comment="on second thought")
                elif position in LABELS_ONLY:
                    _feedback(client, request_id, label="Thumbs up")
                else:
                    _feedback(client, request_id, score=0.0 if position in NEGATIVE else 1.0)
            detail = client.get("/v1/requests/req-5").json()
        assert [a["score"] for a in detail["attempts"]] == [pytest.approx(5 / N), None]
    yield db


def _calibrate(capsys: pytest.CaptureFixture[str], db: Path, *options: str) -> tuple[int, str, str]:
    code = main(["cascade", "calibrate", "--log", f"sqlite:///{db}", "--group", "cheap", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_escalation_target(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _calibrate(capsys, log, "--target-escalation", "0.3", "--min-labels", "20", "--json")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["threshold"] == pytest.approx(0.3125)
    assert report["escalation_rate"] == pytest.approx(0.3)
    assert report["quality"] == pytest.approx(20 / 28) and report["rated_kept"] == 28
    assert report["samples"] == N and report["rated"] == 29
    assert report["log"] == {"scored": N, "escalated": 11, "escalation_rate": pytest.approx(11 / N),
                             "threshold_in_force": 0.3, "next_group": "strong", "rated_kept": 29,
                             "positive_rate": pytest.approx(20 / 29)}  # fmt: skip
    assert report["min_evaluable"] == pytest.approx((0.275 + 0.3) / 2)
    low, high = report["escalation_interval"]
    assert low < 0.3 < high and high - low < 0.5
    assert "threshold: 0.3125" in report["config"] and "next: strong" in report["config"]


def test_quality_target(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _calibrate(capsys, log, "--target-quality", "90%", "--min-labels", "20", "--json")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["threshold"] == pytest.approx(0.4625)
    assert report["escalation_rate"] == pytest.approx(18 / N)
    assert report["quality"] == pytest.approx(20 / 22) and report["rated_kept"] == 22
    low, high = report["quality_interval"]
    assert low < 20 / 22 <= high <= 1.0


def test_text_output_has_the_figures_and_a_config_snippet(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _calibrate(capsys, log, "--target-quality", "0.9", "--min-labels", "20")
    assert code == 0
    assert "group cheap" in out and "escalated 11 (27.5%) at threshold 0.3" in out
    assert "Threshold        0.4625" in out and "Escalation rate   45.0%" in out
    assert "90.9%  95% interval 75.0%–100.0%, from 22 rated answers" in out
    assert "its 95% interval reaches down to 75.0%" in out and "no threshold reached the target" in out
    assert "  models:\n    - name: cheap\n      cascade: {next: strong, threshold: 0.4625}" in out


def test_quality_under_the_escalated_scores_is_unknown(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 20% escalation: 8 answers, threshold 0.2125, where 0.225 and 0.25 would be kept but were
    # escalated in the log (threshold 0.3 then): their cheap answers were never rated.
    code, out, _ = _calibrate(capsys, log, "--target-escalation", "20%", "--min-labels", "20")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  Threshold ")}
    assert rows == {"Threshold": "0.2125"} and "20.0%" in out
    assert "unknown  answers scoring under 0.2875 were escalated, so their cheap answers were never rated" in out
    code, out, _ = _calibrate(capsys, log, "--target-escalation", "0.2", "--json")
    assert code == 0 and orjson.loads(out)["quality"] is None and orjson.loads(out)["quality_interval"] is None


def test_too_few_rated_answers_is_refused(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _calibrate(capsys, log, "--target-quality", "0.9")  # default: 30 rated answers needed
    assert code == 1 and not out
    assert "only 29 rated cheap answers" in err and "at least 30 are needed" in err
    code, _, err = _calibrate(capsys, log, "--target-quality", "0.99", "--min-labels", "20")
    assert code == 1 and "no threshold keeps at least 20 rated cheap answers with 99.0% positive" in err
    code, _, err = _calibrate(capsys, log, "--target-escalation", "0.3", "--min-samples", "41")
    assert code == 1 and "only 40 scored cheap answers" in err
    code, _, err = _calibrate(capsys, log, "--target-escalation", "0.3", "--since", "2020-01-01",
                              "--until", "2020-01-02")  # fmt: skip
    assert code == 1 and "only 0 scored cheap answers" in err


def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cascade", "calibrate", "--log", "sqlite:///x.db", "--group", "cheap", "--target-quality", "1.5"])
    assert exited.value.code == 2 and "between 0 and 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cascade", "calibrate", "--log", "sqlite:///x.db", "--group", "cheap"])  # no target
    assert "one of the arguments --target-escalation --target-quality is required" in capsys.readouterr().err
    code, _, err = _calibrate(capsys, tmp_path / "missing.db", "--target-escalation", "0.3")
    assert code == 1 and "no log database at" in err
    code, _, err = _calibrate(capsys, tmp_path / "missing.db", "--target-escalation", "0.3", "--since", "soon")
    assert code == 2 and "--since" in err
    assert main(["cascade"]) == 2
