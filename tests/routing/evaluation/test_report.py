"""Reports: the router next to the baselines, with bootstrap intervals; JSON shape; the PNG plot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from switchpoint.routing.evaluation.data import RoutingRow
from switchpoint.routing.evaluation.report import many_model_report, plot, quality_report, two_model_report


def _two_model_rows() -> list[RoutingRow]:
    rows = []
    for i in range(60):
        hard = i % 3 == 0
        rows.append(
            RoutingRow(
                id=str(i),
                dataset="t",
                prompt="x" * (10 + i),
                scores={"big": 1.0 if i % 5 else 0.0, "small": 0.0 if hard else 1.0},
                cost={"big": 0.01, "small": 0.001},
            )
        )
    return rows


def _many_model_rows() -> list[RoutingRow]:
    rows = []
    for i in range(40):
        rows.append(
            RoutingRow(
                id=str(i),
                dataset="t",
                prompt=f"p{i}",
                scores={"a": 1.0, "b": 1.0 if i % 2 else 0.0, "c": 1.0 if i % 4 == 0 else 0.0},
                cost={"a": 0.01, "b": 0.002, "c": 0.0005},
            )
        )
    return rows


def test_two_model_report_has_router_baselines_and_intervals() -> None:
    rows = _two_model_rows()
    perfect = [row.scores["big"] - row.scores["small"] for row in rows]
    report = two_model_report(rows, "big", "small", perfect, router_name="cheat", data="t", resamples=50, seed=1)
    assert report.router is not None
    assert report.router.apgr == pytest.approx(report.baselines["oracle"].apgr)
    assert set(report.baselines) == {"random", "oracle", "length"}
    assert report.baselines["random"].apgr == pytest.approx(0.5)
    for curve in (report.router, *report.baselines.values()):
        assert curve.apgr_ci is not None and curve.apgr_ci.low <= curve.apgr <= curve.apgr_ci.high
    data = report.to_dict()
    assert data["apgr"] == report.router.apgr and data["aiq"] is None
    assert data["cpt50"] == report.router.cpt50 and data["cpt80"] == report.router.cpt80
    assert set(data["baselines"]) == {"random", "oracle", "length"}
    assert data["models"]["big"]["cost"] == pytest.approx(0.01)
    # paired against the length baseline, on the same resamples
    vs = data["vs_length"]
    assert vs["diff"] == pytest.approx(report.router.apgr - report.baselines["length"].apgr)
    assert vs["ci"][0] <= vs["diff"] <= vs["ci"][1]
    assert "router minus length baseline" in report.text()
    text = report.text()
    assert "cheat" in text and "length" in text and "APGR" in text and "CPT(50%)" in text


def test_two_model_report_without_router_and_without_bootstrap() -> None:
    report = two_model_report(_two_model_rows(), "big", "small", resamples=0)
    assert report.router is None and report.to_dict()["apgr"] is None
    assert report.baselines["length"].apgr_ci is None


def test_many_model_report_aiq_of_router_and_baselines() -> None:
    rows = _many_model_rows()
    oracle_predictions = [dict(row.scores) for row in rows]
    report = many_model_report(rows, ["a", "b", "c"], oracle_predictions, router_name="r", resamples=30)
    assert report.router is not None
    assert report.router.aiq == pytest.approx(report.baselines["oracle"].aiq)
    zero = report.baselines["zero_router"]
    assert zero.aiq < report.router.aiq
    # zero router by hand: singles c (0.0005, .25), b (0.002, .5), a (0.01, 1), all on the hull:
    # (.0015 * .375 + .008 * .75) / .0095
    assert zero.aiq == pytest.approx((0.0015 * 0.375 + 0.008 * 0.75) / 0.0095)
    data = report.to_dict()
    assert data["aiq"] == report.router.aiq and data["apgr"] is None
    vs = data["vs_zero_router"]
    assert vs["diff"] == pytest.approx(report.router.aiq - zero.aiq)
    assert 0 < vs["ci"][0] <= vs["diff"] <= vs["ci"][1]
    assert set(data["baselines"]) == {"zero_router", "oracle"}
    assert "AIQ" in report.text()


def test_many_model_report_rejects_missing_costs() -> None:
    rows = [RoutingRow(id="1", dataset="t", prompt="p", scores={"a": 1.0, "b": 0.0}, cost={"a": 1.0, "b": None})]
    with pytest.raises(ValueError, match="no cost"):
        many_model_report(rows, ["a", "b"])


def _quality_rows() -> list[RoutingRow]:
    """No costs; a is right on even prompts, b on odd ones, c on every third."""
    return [RoutingRow(id=str(i), dataset="t", prompt=f"p{i}",
                       scores={"a": float(i % 2 == 0), "b": float(i % 2 == 1), "c": float(i % 3 == 0)})
            for i in range(30)]


def test_quality_report_router_picks_and_baselines() -> None:
    rows = _quality_rows()
    # the router predicts the right model on every prompt
    predicted = [{"a": 0.9, "b": 0.1, "c": 0.5} if i % 2 == 0 else {"a": 0.1, "b": 0.9, "c": 0.5}
                 for i in range(len(rows))]
    predicted[10] = {"a": 0.7, "b": 0.7, "c": 0.7}  # a tie: the earlier model (a) is picked, and is right
    report = quality_report(rows, ["a", "b", "c"], predicted, router_name="r", resamples=50)
    data = report.to_dict()
    assert data["mode"] == "quality" and data["router"] == "r"
    assert data["aiq"] is None and data["apgr"] is None
    assert data["quality"] == pytest.approx(1.0)  # every pick is right
    baselines = data["baselines"]
    assert baselines["oracle"]["quality"] == pytest.approx(1.0)
    assert baselines["best_single"] == {"quality": pytest.approx(0.5), "quality_ci": baselines["best_single"][
        "quality_ci"], "model": "a"}  # a and b tie at 0.5: the earlier one
    assert baselines["random"]["quality"] == pytest.approx((15 + 15 + 10) / 3 / 30)
    assert data["picks"] == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert data["vs_best_single"]["diff"] == pytest.approx(0.5)
    low, high = data["vs_best_single"]["ci"]
    assert 0.2 < low <= 0.5 <= high < 0.8  # 30 prompts: wide, but clear of 0
    low, high = data["ci"]["quality_ci"]
    assert low == high == pytest.approx(1.0)
    text = report.text()
    assert "quality alone (no costs compared)" in text
    assert "best single model (a)" in text and "router minus best single model: +0.500" in text


def test_quality_report_without_router_and_errors() -> None:
    rows = _quality_rows()
    report = quality_report(rows, ["a", "c"], None, resamples=0)
    assert report.router is None and report.to_dict()["quality"] is None
    assert report.baselines["oracle"].ci is None  # no resamples, no interval
    with pytest.raises(ValueError, match="at least two"):
        quality_report(rows, ["a"])
    with pytest.raises(ValueError, match="2 predictions for 30 rows"):
        quality_report(rows, ["a", "b"], [{"a": 1.0, "b": 0.0}] * 2)
    with pytest.raises(ValueError, match="no prompts"):
        quality_report([], ["a", "b"])


@pytest.mark.parametrize("kind", ["two", "many", "quality"])
def test_plot_writes_a_png(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("matplotlib")
    if kind == "two":
        rows = _two_model_rows()
        report: object = two_model_report(rows, "big", "small", [math.sin(i) for i in range(len(rows))], resamples=0)
    elif kind == "quality":
        rows = _quality_rows()
        report = quality_report(rows, ["a", "b", "c"], [dict(r.scores) for r in rows], resamples=0)
    else:
        rows = _many_model_rows()
        report = many_model_report(rows, ["a", "b", "c"], [dict(r.scores) for r in rows], resamples=0)
    path = tmp_path / "curve.png"
    plot(report, path)  # type: ignore[arg-type]
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    # two models with costs: PGR vs share beside quality vs cost
    assert (width, height) == ((1200, 500) if kind == "two" else (700, 500))
    assert len(data) > 10_000  # axes, curves and labels, not an empty canvas
