"""``switchpoint train | eval | calibrate``: reports, the --json last line, artifacts, plots and usage errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from switchpoint.cli.main import main

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing"
GSM8K = DATA / "routellm_gsm8k.jsonl"


def _rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def pair_file(tmp_path: Path) -> Path:
    """Two models; longer prompts are the ones where the strong model helps."""
    rows: list[dict[str, object]] = []
    for i in range(40):
        helps = i >= 25
        rows.append(
            {
                "id": str(i),
                "prompt": "q" * (5 + i),
                "scores": {"org/big-model": 1.0, "small-model": 0.0 if helps else 1.0},
                "cost": {"org/big-model": 0.01, "small-model": 0.001},
            }
        )
    return _rows(tmp_path / "pair.jsonl", rows)


@pytest.fixture
def many_file(tmp_path: Path) -> Path:
    rows: list[dict[str, object]] = []
    for i in range(30):
        rows.append(
            {
                "id": str(i),
                "prompt": f"p{i}",
                "scores": {"a": 1.0, "b": float(i % 2), "c": float(i % 3 == 0), "d": 0.5},
                "cost": {"a": 0.01, "b": 0.002, "c": 0.0005, "d": None},
            }
        )
    return _rows(tmp_path / "many.jsonl", rows)


def _json_last_line(out: str) -> dict[str, object]:
    last = out.strip().splitlines()[-1]
    data = json.loads(last)
    assert isinstance(data, dict)
    return data


def test_eval_two_models_with_length_router(pair_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(pair_file), "--router", "length", "--bootstrap", "30", "--json"]) == 0
    out = capsys.readouterr().out
    assert "APGR" in out and "random" in out and "oracle" in out
    data = _json_last_line(out)
    assert {"apgr", "cpt50", "cpt80", "aiq", "baselines"} <= set(data)
    # the length router is the oracle here: every helpful prompt is longer than every other one
    baselines = data["baselines"]
    assert isinstance(baselines, dict)
    assert data["apgr"] == pytest.approx(baselines["oracle"]["apgr"])
    assert data["aiq"] is None
    assert data["strong"] == "org/big-model"  # the better model on these rows
    assert baselines["random"]["apgr"] == pytest.approx(0.5)


def test_eval_many_models_reports_aiq_baselines(many_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # d has no cost: "all" keeps the three costed models
    assert main(["eval", str(many_file), "--router", "none", "--bootstrap", "10", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    assert data["mode"] == "many-model" and data["aiq"] is None and data["apgr"] is None
    baselines = data["baselines"]
    assert isinstance(baselines, dict) and set(baselines) == {"zero_router", "oracle"}
    assert baselines["oracle"]["aiq"] > baselines["zero_router"]["aiq"]


def test_eval_many_models_needs_costs_for_aiq(many_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(many_file), "--router", "none", "--models", "a,b,d", "--objective", "aiq"]) == 2
    assert "AIQ needs costs; no cost for d" in capsys.readouterr().err


def test_eval_many_models_without_costs_compares_quality(many_file: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # a listed model without costs: AIQ is out of reach, so "auto" compares the models on quality alone
    assert main(["eval", str(many_file), "--router", "none", "--models", "a,b,d", "--bootstrap", "10", "--json"]) == 0
    captured = capsys.readouterr()
    assert "no costs to compare: comparing the models on quality alone" in captured.err
    data = _json_last_line(captured.out)
    assert data["mode"] == "quality" and data["quality"] is None and data["aiq"] is None
    assert set(data["models"]) == {"a", "b", "d"}  # type: ignore[arg-type]
    assert data["baselines"]["best_single"]["model"] == "a"  # type: ignore[index]
    # "all" with costs gives AIQ; --objective quality compares all four on quality
    assert main(["eval", str(many_file), "--router", "none", "--objective", "quality", "--bootstrap", "0",
                 "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    assert data["mode"] == "quality" and set(data["models"]) == {"a", "b", "c", "d"}  # type: ignore[arg-type]
    assert main(["eval", str(many_file), "--strong", "a", "--weak", "b", "--objective", "quality"]) == 2
    assert "--objective applies to --models" in capsys.readouterr().err


def test_learned_router_quality_mode_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Models without costs whose best one depends on the prompt (as in RouterDC's data): a knn router trained on
    them picks per prompt and beats the best single model; the report, its JSON line and its plot."""
    import random

    rng = random.Random(1)
    topics = {"mistral-7b-chat": ["algebra", "integral", "equation"], "zephyr-7b-beta": ["poem", "story", "sonnet"],
              "llama-3-8b": ["python", "function", "compile"]}  # fmt: skip
    rows: list[dict[str, object]] = []
    for i in range(90):
        good = list(topics)[i % 3]
        prompt = " ".join(rng.choice(topics[good]) for _ in range(6))
        rows.append({"id": str(i), "dataset": "toy", "prompt": prompt, "cost": {},
                     "scores": {m: 1.0 if m == good else float(rng.random() < 0.2) for m in topics}})
    data_file = _rows(tmp_path / "nocost.jsonl", rows)
    artifact = tmp_path / "knn.json.gz"
    assert main(["train", str(data_file), "--router", "knn", "--out", str(artifact)]) == 0
    capsys.readouterr()
    png = tmp_path / "quality.png"
    argv = ["eval", str(data_file), "--router", str(artifact), "--bootstrap", "20", "--json"]
    if importlib.util.find_spec("matplotlib") is not None:
        argv += ["--plot", str(png)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "router minus best single model" in out
    data = _json_last_line(out)
    assert data["mode"] == "quality" and isinstance(data["quality"], float)
    best = data["baselines"]["best_single"]["quality"]  # type: ignore[index]
    assert best < 0.6 < data["quality"]
    assert data["vs_best_single"]["ci"][0] > 0  # type: ignore[index]
    assert all(share > 0.2 for share in data["picks"].values())  # type: ignore[union-attr]
    if "--plot" in argv:
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_length_router_cannot_rank_many_models(many_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(many_file), "--router", "length"]) == 2
    assert "only ranks prompts for two models" in capsys.readouterr().err


def test_train_then_eval_the_artifact(pair_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = tmp_path / "router.json"
    assert main(["train", str(pair_file), "--router", "length", "--out", str(artifact)]) == 0
    assert artifact.is_file()
    capsys.readouterr()
    assert main(["eval", str(pair_file), "--router", str(artifact), "--bootstrap", "0", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    assert data["router"] == "router.json (length)"
    baselines = data["baselines"]
    assert isinstance(baselines, dict)
    assert data["apgr"] == pytest.approx(baselines["oracle"]["apgr"])


def test_eval_cross_validated_length(pair_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(pair_file), "--router", "length", "--folds", "4", "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "fold 4/4" in captured.err
    data = _json_last_line(captured.out)
    assert data["router"] == "length (4-fold)"
    assert str(data["protocol"]).startswith("no training")
    assert "protocol: no training" in captured.out


def test_eval_plot_writes_png(pair_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "pgr.png"
    assert main(["eval", str(pair_file), "--router", "length", "--bootstrap", "0", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibrate_share_and_cost(pair_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "objective.json"
    args = ["calibrate", str(pair_file), "--router", "length", "--strong", "big-model", "--weak", "small-model"]
    assert main([*args, "--strong-share", "0.25", "--out", str(out), "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    # prompt lengths 5..44: the top 10 of 40 are 35..44, so the threshold is 35
    assert data["objective"] == {"threshold": 35.0}
    assert data["achieved"]["strong_share"] == pytest.approx(0.25)  # type: ignore[index]
    assert json.loads(out.read_text()) == data
    # $3.25 per 1k: weak alone costs $1 per 1k, each strong call adds $9 per 1k / 40 -> 10 strong calls
    assert main([*args, "--cost-per-1k", "3.25", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    assert data["objective"] == {"threshold": 35.0}
    assert data["achieved"]["cost_per_1k"] == pytest.approx(3.25)  # type: ignore[index]
    assert main([*args, "--cost-per-1k", "0.5"]) == 2
    assert "below the weak model alone" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "{missing}"], "no such file"),
        (["eval", "{pair}", "--strong", "gpt-5", "--weak", "small-model"], "unknown model 'gpt-5'"),
        (["eval", "{pair}", "--strong", "big-model"], "--strong and --weak go together"),
        (["eval", "{pair}", "--router", "no-such-router"], "no router 'no-such-router'"),
        (["eval", "{pair}", "--router", "none", "--folds", "3"], "--folds needs a router"),
        (["eval", "{pair}", "--folds", "1"], "--folds needs at least 2"),
        (["train", "{pair}", "--router", "nope", "--out", "{tmp}/r.json"], "unknown router kind 'nope'"),
        (["train", "{pair}", "--router", "length", "--out", "{tmp}/no/r.json"], "--out: no such directory"),
        (["calibrate", "{pair}", "--router", "length", "--strong-share", "1.5"], "--strong-share must be within"),
        (["calibrate", "{many}", "--router", "none", "--cost-per-1k", "1"], "calibrate needs a router"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    argv: list[str],
    message: str,
    pair_file: Path,
    many_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = {"pair": pair_file, "many": many_file, "missing": tmp_path / "absent.jsonl", "tmp": tmp_path}
    argv = [a.format(**{k: str(v) for k, v in names.items()}) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "switchpoint: " in err and message in err.split("switchpoint: ", 1)[1]


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eval", "x.jsonl", "--bootstrap", "many"])
    assert info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["calibrate", "x.jsonl"])  # a target is required
    assert info.value.code == 2


@pytest.mark.skipif(not GSM8K.is_file(), reason=f"routing data not found at {DATA}")
def test_subprocess_eval_on_real_data_last_line_is_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "switchpoint", "eval", str(GSM8K), "--router", "length", "--bootstrap", "20", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["apgr"] == pytest.approx(0.599, abs=0.005)  # the README's length-router figure
    assert data["baselines"]["oracle"]["apgr"] == pytest.approx(1.121, abs=0.0005)
    assert data["cpt50"] is not None and data["cpt80"] is not None and data["aiq"] is None


@pytest.fixture
def toy_file(tmp_path: Path) -> Path:
    """Three real model names; the weak models fail on one kind of prompt (the words tell which)."""
    import random

    rng = random.Random(0)
    hard_words, easy_words = ["algebra", "poem", "code", "history"], ["integral", "story", "proof", "recipe"]
    rows: list[dict[str, object]] = []
    for i in range(80):
        hard = i % 2 == 0
        prompt = " ".join(rng.choice(hard_words if hard else easy_words) for _ in range(8))
        scores = {
            "gpt-4-1106-preview": float(i % 7 != 0),
            "mistralai/mistral-7b-chat": 0.0 if hard else 1.0,
            "mistralai/mixtral-8x7b-chat": float(i % 3 != 0),
        }
        cost = {"gpt-4-1106-preview": 0.01, "mistralai/mistral-7b-chat": 0.0002, "mistralai/mixtral-8x7b-chat": 0.0006}
        rows.append({"id": str(i), "dataset": "toy", "prompt": prompt, "scores": scores, "cost": cost})
    return _rows(tmp_path / "toy.jsonl", rows)


def test_learned_router_train_eval_calibrate(
    toy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end through the learned package: a knn router (pure Python) trained, saved, loaded, evaluated
    in-sample for AIQ and APGR, and calibrated to a budget."""
    artifact = tmp_path / "knn.json.gz"
    assert main(["train", str(toy_file), "--router", "knn", "--out", str(artifact)]) == 0
    capsys.readouterr()
    assert main(["eval", str(toy_file), "--router", str(artifact), "--bootstrap", "20", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    baselines = data["baselines"]
    assert isinstance(baselines, dict) and isinstance(data["aiq"], float)
    assert data["router"] == "knn.json.gz"
    assert data["aiq"] > baselines["zero_router"]["aiq"]
    pair = ["--models", "gpt-4-1106-preview,mistral-7b-chat"]
    assert main(["eval", str(toy_file), "--router", str(artifact), *pair, "--bootstrap", "20", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    baselines = data["baselines"]
    assert isinstance(baselines, dict) and isinstance(data["apgr"], float)
    assert data["apgr"] > baselines["length"]["apgr"]
    assert main(["calibrate", str(toy_file), "--router", str(artifact), "--cost-per-1k", "3", "--json"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    objective, achieved = data["objective"], data["achieved"]
    assert isinstance(objective, dict) and isinstance(achieved, dict)
    assert set(objective) == {"lambda"} and objective["lambda"] > 0
    assert achieved["cost_per_1k"] <= 3.0


def test_learned_router_kind_needs_training(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(toy_file), "--router", "knn"]) == 2
    assert "must be trained first" in capsys.readouterr().err


def test_cross_validated_learned_router_is_labelled_in_distribution(
    toy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(toy_file), "--router", "knn", "--folds", "2", "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "fold 2/2: training knn" in captured.err
    data = _json_last_line(captured.out)
    assert data["router"] == "knn (2-fold)" and isinstance(data["aiq"], float)
    assert str(data["protocol"]).startswith("in-distribution: 2-fold cross-validation")


@pytest.fixture
def unknown_file(tmp_path: Path) -> Path:
    """Models the shipped router has no data or profile on (``acme-chat``, ``acme-pro``) next to ones it knows."""
    rows: list[dict[str, object]] = []
    for i in range(24):
        rows.append({
            "id": str(i), "prompt": f"Explain topic {i} " + "in detail " * (i % 5),
            "scores": {"gpt-4": 1.0, "acme-pro": float(i % 4 != 0), "acme-chat": float(i % 2), "mistral-7b-chat": 0.25},
            "cost": {"gpt-4": 0.01, "acme-pro": 0.008, "acme-chat": 0.0003, "mistral-7b-chat": 0.0002},
        })  # fmt: skip
    return _rows(tmp_path / "unknown.jsonl", rows)


def test_eval_ranks_unknown_models_by_price_and_says_so(unknown_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(unknown_file), "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "'acme-pro' is unknown to it; ranked as tier:frontier, the tier of gpt-4 (nearest in mean cost)" in (
        captured.err)
    assert "'acme-chat' is unknown to it; ranked as tier:small, the tier of mistral-7b-chat" in captured.err
    assert _json_last_line(captured.out)["aiq"] is not None


def test_eval_ranks_an_unknown_free_model_as_the_cheapest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": str(i), "prompt": f"Explain topic {i}", "scores": {"gpt-4": 1.0, "house-model": float(i % 2),
                                                                      "mistral-7b-chat": 0.25},
             "cost": {"gpt-4": 0.01, "house-model": 0.0, "mistral-7b-chat": 0.0002}} for i in range(12)]
    assert main(["eval", str(_rows(tmp_path / "free.jsonl", rows)), "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert ("'house-model' is unknown to it; ranked as tier:small, the tier of mistral-7b-chat (it is free: the "
            "cheapest known model)") in captured.err
    assert _json_last_line(captured.out)["aiq"] is not None


def test_eval_data_with_only_null_scores_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _rows(tmp_path / "nulls.jsonl", [{"id": "1", "prompt": "x", "scores": {"a": None, "b": None}}])
    assert main(["eval", str(path), "--bootstrap", "0"]) == 2
    assert "no model has a score in the data (every score is null)" in capsys.readouterr().err


def test_eval_profile_option(unknown_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(unknown_file), "--strong", "acme-pro", "--weak", "acme-chat", "--bootstrap", "0",
                 "--profile", "acme-pro=gpt-4-1106-preview", "--profile", "acme-chat=tier:medium", "--json"]) == 0
    captured = capsys.readouterr()
    assert "unknown to it" not in captured.err
    assert _json_last_line(captured.out)["apgr"] is not None
    for profile, message in (("acme-pro=bard", "--profile acme-pro=bard: model 'bard' is unknown to this router"),
                             ("acme-pro", "--profile must be MODEL=KNOWN_MODEL or MODEL=tier:TIER"),
                             ("nobody=tier:small", "unknown model 'nobody'")):  # fmt: skip
        assert main(["eval", str(unknown_file), "--strong", "acme-pro", "--weak", "acme-chat", "--bootstrap", "0",
                     "--profile", profile]) == 2  # fmt: skip
        assert message in capsys.readouterr().err


def test_eval_places_an_unknown_pair_without_costs_by_role(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": str(i), "prompt": f"q{i}", "scores": {"gpt-4": 1.0, "acme-chat": float(i % 2),
                                                          "acme-pro": float(i % 3 != 0)}} for i in range(12)]
    path = _rows(tmp_path / "nocost.jsonl", rows)
    assert main(["eval", str(path), "--strong", "gpt-4", "--weak", "acme-chat", "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert ("'acme-chat' is unknown to it and has no costs; ranked as tier:large, a tier below gpt-4 (frontier), "
            "as the weak model") in captured.err
    assert _json_last_line(captured.out)["apgr"] is not None
    assert main(["eval", str(path), "--strong", "acme-pro", "--weak", "acme-chat", "--bootstrap", "0"]) == 0
    err = capsys.readouterr().err
    assert "'acme-pro' is unknown to it and has no costs; ranked as tier:frontier, the strong model" in err
    assert "'acme-chat' is unknown to it and has no costs; ranked as tier:large, the weak model" in err


def test_eval_leaves_out_unknown_models_without_costs_and_says_so(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    scores = {"gpt-4": 1.0, "mistral-7b-chat": 0.5, "gemini-1.0-pro-001": 0.75, "acme-chat": 0.25}
    rows = [{"id": str(i), "prompt": f"q{i}", "scores": scores} for i in range(10)]
    rows.append({"id": "x", "prompt": "only known models", "scores": {"gpt-4": 0.0, "mistral-7b-chat": 1.0,
                                                                        "gemini-1.0-pro-001": 0.0}})
    path = _rows(tmp_path / "nocost.jsonl", rows)
    assert main(["eval", str(path), "--models", "all", "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert "leaving out acme-chat: unknown to it, with no price to place them by" in captured.err
    data = _json_last_line(captured.out)
    assert data["left_out"] == ["acme-chat"] and set(data["picks"]) == {"gpt-4", "mistral-7b-chat",
                                                                        "gemini-1.0-pro-001"}
    assert data["prompts"] == 11  # the row without acme-chat counts again
    assert "left out 1 model(s) unknown to the router" in str(data["protocol"])
    # with a profile it is compared too
    assert main(["eval", str(path), "--models", "all", "--bootstrap", "0", "--json",
                 "--profile", "acme-chat=tier:small"]) == 0
    data = _json_last_line(capsys.readouterr().out)
    assert "left_out" not in data and "acme-chat" in data["picks"]
    # too few left to compare
    rows = [{"id": str(i), "prompt": f"q{i}", "scores": {"gpt-4": 1.0, "acme-a": 0.5, "acme-b": 0.2}} for i in range(5)]
    assert main(["eval", str(_rows(tmp_path / "few.jsonl", rows)), "--models", "all", "--bootstrap", "0"]) == 2
    assert "fewer than two models left that it can rank" in capsys.readouterr().err


def test_eval_two_models_of_equal_mean_quality_is_a_usage_error(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": str(i), "prompt": f"q{i}", "scores": {"a": float(i % 2), "b": float((i // 2) % 2)}}
            for i in range(8)]
    path = _rows(tmp_path / "equal.jsonl", rows)
    assert main(["eval", str(path), "--router", "length", "--bootstrap", "0"]) == 2
    assert "have the same mean quality (0.5000) on these 8 rows" in capsys.readouterr().err


def test_calibrate_levels_from_sparse_rows_then_eval_with_them(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # logged-style rows: one rated model each; on this workload gpt-4 fails and mistral-7b succeeds
    rows = [{"id": str(i), "prompt": f"Write a function number {i}",
             "scores": {"gpt-4": 0.0} if i % 2 else {"mistral-7b-chat": 1.0},
             "cost": {"gpt-4": 0.01} if i % 2 else {"mistral-7b-chat": 0.0002}} for i in range(80)]  # fmt: skip
    logged = _rows(tmp_path / "logged.jsonl", rows)
    levels = tmp_path / "levels.json"
    assert main(["calibrate", str(logged), "--levels", "--out", str(levels), "--json"]) == 0
    captured = capsys.readouterr()
    report = _json_last_line(captured.out)
    fitted = report["levels"]
    assert isinstance(fitted, dict) and fitted["gpt-4"] < -1.0 < 1.0 < fitted["mistral-7b-chat"]
    assert "rated" in captured.out and "in a config: candidates:" in captured.out
    assert json.loads(levels.read_text())["levels"] == fitted

    both = [{"id": str(i), "prompt": f"Write a function number {i}", "scores": {"gpt-4": 0.0, "mistral-7b-chat": 1.0},
             "cost": {"gpt-4": 0.01, "mistral-7b-chat": 0.0002}} for i in range(10)]  # fmt: skip
    test = _rows(tmp_path / "test.jsonl", both + [{**both[0], "id": "x", "scores": {"gpt-4": 1.0,
                                                                                    "mistral-7b-chat": 0.0}}])
    thresholds = []
    for extra in ([], ["--levels-file", str(levels)]):
        assert main(["calibrate", str(test), "--strong", "gpt-4", "--weak", "mistral-7b-chat", "--strong-share",
                     "0.5", "--json", *extra]) == 0  # fmt: skip
        thresholds.append(_json_last_line(capsys.readouterr().out)["objective"]["threshold"])  # type: ignore[index]
    # the score is q(gpt-4) - q(mistral): with the levels, gpt-4 is predicted far worse on this workload
    assert thresholds[1] < -0.3 and thresholds[1] < thresholds[0] - 0.3


def test_levels_usage_errors(tmp_path: Path, pair_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"levels": {"org/big-model": "high"}}')
    assert main(["eval", str(pair_file), "--router", "default", "--levels-file", str(bad), "--bootstrap", "0"]) == 2
    assert "the level of 'org/big-model' must be a number" in capsys.readouterr().err
    assert main(["eval", str(pair_file), "--levels-file", str(tmp_path / "none.json")]) == 2
    assert "--levels-file: cannot read" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text('{"org/big-model": 0.5}')
    assert main(["eval", str(pair_file), "--router", "length", "--levels-file", str(good), "--bootstrap", "0"]) == 2
    assert "applies to a learned router" in capsys.readouterr().err
    assert main(["calibrate", str(pair_file), "--levels", "--levels-file", str(good)]) == 2
    assert "leave out --levels-file" in capsys.readouterr().err


def test_training_options_reach_the_trainer(toy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--length-prior is the trainer's: with prior 1 instead of 0, a frontier model's logit gains 1.5 (tier steps
    above the centre) per doubling of the prompt length, on the same data."""
    import math

    pytest.importorskip("numpy")
    from switchpoint.routing.learned.artifact import load_predictor

    short, long = "integral " * 4, "integral " * 64
    gaps = []
    for beta in ("0", "1"):
        out = tmp_path / f"mf-{beta}.json.gz"
        argv = ["train", str(toy_file), "--router", "mf", "--out", str(out), "--length-prior", beta,
                "--source-weight", "toy=2"]
        assert main(argv) == 0
        predictor = load_predictor(str(out))
        q = [predictor.predict(text, ["gpt-4-1106-preview"])["gpt-4-1106-preview"] for text in (long, short)]
        gaps.append(math.log(q[0] / (1 - q[0])) - math.log(q[1] / (1 - q[1])))
    doublings = math.log2(len(long) + 1) - math.log2(len(short) + 1)
    assert gaps[1] - gaps[0] == pytest.approx(1.5 * doublings, abs=1e-3)
    capsys.readouterr()
    argv = ["eval", str(toy_file), "--router", "mf", "--train", str(toy_file), "--length-prior", "0",
            "--bootstrap", "0"]
    assert main(argv) == 0
    assert "trained on 80 rows of --train (--length-prior 0), evaluated" in capsys.readouterr().out
    for train in (["--train", str(toy_file), "--train", str(toy_file)], ["--train", str(toy_file), str(toy_file)]):
        assert main(["eval", str(toy_file), "--router", "mf", *train, "--bootstrap", "0"]) == 0
        assert "trained on 160 rows of --train" in capsys.readouterr().out  # a repeated --train loses no file
    # on a trained artifact, --length-prior replaces its prior: the β=1 artifact evaluated as β=0 is the β=0 one
    pair = ["--strong", "gpt-4-1106-preview", "--weak", "mistralai/mistral-7b-chat", "--bootstrap", "0", "--json"]
    assert main(["eval", str(toy_file), "--router", str(tmp_path / "mf-0.json.gz"), *pair]) == 0
    as_trained = _json_last_line(capsys.readouterr().out)
    assert main(["eval", str(toy_file), "--router", str(tmp_path / "mf-1.json.gz"), "--length-prior", "0", *pair]) == 0
    captured = capsys.readouterr().out
    assert "pre-trained artifact (--length-prior 0), evaluated" in captured
    assert _json_last_line(captured)["apgr"] == pytest.approx(as_trained["apgr"], abs=1e-9)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "{toy}", "--router", "length", "--out", "{tmp}/r.json", "--length-prior", "0"],
         "learned router kind"),
        (["eval", "{toy}", "--router", "default", "--source-weight", "toy=1"],
         "training option: add --train or --folds"),
        (["eval", "{toy}", "--router", "length", "--strong", "gpt-4-1106-preview", "--weak", "mixtral-8x7b-chat",
          "--length-prior", "0"], "not to length"),
        (["eval", "{toy}", "--router", "mf", "--train", "{toy}", "--source-weight", "toy"], "expected DATASET=W"),
        (["eval", "{toy}", "--router", "mf", "--folds", "2", "--source-weight", "toy=-1"], "expected DATASET=W"),
        (["train", "{toy}", "--router", "mf", "--out", "{tmp}/r.json", "--source-weight", "=1"], "expected DATASET=W"),
        (["train", "{toy}", "--router", "mf", "--out", "{tmp}/r.json", "--length-prior", "nan"], "finite number"),
        (["train", "{toy}", "--router", "knn", "--out", "{tmp}/r.json", "--source-weight", "toy=2"], "not to knn"),
    ],
)
def test_training_option_usage_errors(
    argv: list[str], message: str, toy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(toy=toy_file, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "switchpoint: " in err and message in err.split("switchpoint: ", 1)[1]
    assert "training mf" not in err and not (tmp_path / "r.json").exists()
