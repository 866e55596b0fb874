"""Predictors: artifact round trip, profile fallback, errors; a tiny training run when numpy is there."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from switchpoint.routing.learned.artifact import load_predictor, save_predictor
from switchpoint.routing.learned.features import PromptFeaturizer
from switchpoint.routing.learned.predictors import FactorPredictor, KNNPredictor, QualityPredictor
from switchpoint.routing.learned.profiles import ProfileRegistry


@pytest.fixture(scope="module")
def featurizer() -> PromptFeaturizer:
    return PromptFeaturizer.load()


def _hand_made(featurizer: PromptFeaturizer) -> FactorPredictor:
    dims = featurizer.dims
    length = featurizer.dense_names.index("len")
    strong = [0.0] * dims
    strong[length] = 2.0  # the strong model gains on long prompts
    weak = [0.0] * dims
    models = {"gpt-4-1106-preview": (1.0, strong), "mixtral-8x7b": (0.0, weak)}
    tiers = {"frontier": models["gpt-4-1106-preview"], "large": models["mixtral-8x7b"]}
    return FactorPredictor("mf", featurizer, offset=0.5, models=models, tiers=tiers, sparse={"#math": -1.0},
                           registry=ProfileRegistry(models, tiers))


def test_factor_predictor_by_hand(featurizer: PromptFeaturizer) -> None:
    predictor = _hand_made(featurizer)
    assert isinstance(predictor, QualityPredictor)
    text = "Explain briefly why the sky is blue."
    f = featurizer.features(text)
    expected_shared = 0.5 + (-1.0 if "#math" in f.sparse else 0.0) / math.sqrt(len(f.sparse))
    q = predictor.predict(text, ["gpt-4o", "mistralai/Mixtral-8x7B-Instruct-v0.1"])
    length = f.dense[featurizer.dense_names.index("len")]
    assert q["gpt-4o"] == pytest.approx(1 / (1 + math.exp(-(expected_shared + 1.0 + 2.0 * length))))
    assert q["mistralai/Mixtral-8x7B-Instruct-v0.1"] == pytest.approx(1 / (1 + math.exp(-expected_shared)))
    with pytest.raises(KeyError, match="unknown to this router"):
        predictor.predict(text, ["gpt-4o", "my-house-model"])


def test_round_trip(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    predictor = _hand_made(featurizer)
    path = tmp_path / "router.json.gz"
    save_predictor(predictor, path)
    loaded = load_predictor(path, featurizer=featurizer)
    assert loaded.kind == "mf"
    assert list(loaded.models()) == ["gpt-4-1106-preview", "mixtral-8x7b"]
    for text in ("hi", "Prove that there are infinitely many primes. " * 20):
        assert loaded.predict(text, ["gpt-4", "mixtral-8x7b"]) == pytest.approx(
            predictor.predict(text, ["gpt-4", "mixtral-8x7b"]))
    first = path.read_bytes()
    save_predictor(loaded, path)
    assert path.read_bytes() == first  # deterministic bytes


def test_knn_round_trip(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    dims = featurizer.embedder.dims
    texts = ["What is the capital of France?", "Write a Python function that sorts a list."]
    vectors = [featurizer.features(t).dense[:dims] for t in texts]
    predictor = KNNPredictor(featurizer, vectors=vectors, outcomes={"gpt-4-1106-preview": [1.0, 1.0],
                                                                     "mixtral-8x7b": [1.0, None]},
                             k=1, shrink=0.0, registry=ProfileRegistry(["gpt-4-1106-preview", "mixtral-8x7b"], []))
    q = predictor.predict("What is the capital city of France?", ["gpt-4-1106-preview", "mixtral-8x7b"])
    assert q == {"gpt-4-1106-preview": 1.0, "mixtral-8x7b": 1.0}
    path = tmp_path / "knn.json.gz"
    save_predictor(predictor, path)
    assert load_predictor(path, featurizer=featurizer).predict("What is the capital city of France?",
                                                               ["mixtral-8x7b"]) == {"mixtral-8x7b": 1.0}


def test_bad_artifacts(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_predictor(tmp_path / "missing.json.gz", featurizer=featurizer)
    wrong = tmp_path / "wrong.json.gz"
    wrong.write_bytes(gzip.compress(b'{"format": "other"}'))
    with pytest.raises(ValueError, match="not a switchpoint-router/2 artifact"):
        load_predictor(wrong, featurizer=featurizer)
    old = tmp_path / "old.json.gz"  # format 1 did not record its feature models
    old.write_bytes(gzip.compress(b'{"format": "switchpoint-router/1", "kind": "mf", "dense_names": []}'))
    with pytest.raises(ValueError, match=r"no record of its feature models\); retrain"):
        load_predictor(old, featurizer=featurizer)
    stale = tmp_path / "stale.json.gz"
    stale.write_bytes(gzip.compress(b'{"format": "switchpoint-router/2", "kind": "mf", "dense_names": ["x"]}'))
    with pytest.raises(ValueError, match="retrain"):
        load_predictor(stale, featurizer=featurizer)


def test_tiny_training_run(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("scipy")
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = []
    for i in range(40):
        hard = i % 2 == 0
        prompt = ("Prove the following theorem about prime numbers and modular arithmetic, step by step. " * 3
                  if hard else "Say hello.") + f" #{i}"
        rows.append({"id": str(i), "dataset": "toy", "prompt": prompt,
                     "scores": {"gpt-4-1106-preview": 1.0, "mistral-7b-chat": 0.0 if hard else 1.0,
                                "constant": 0.5}})
    for kind in ("mf", "linear", "knn"):
        predictor = train(kind, rows, featurizer=featurizer, options=TrainOptions(iterations=150, rank=2))
        assert "constant" not in predictor.models()  # a constant column carries nothing
        hard_q = predictor.predict(rows[0]["prompt"], ["gpt-4-1106-preview", "mistral-7b-chat"])
        easy_q = predictor.predict(rows[1]["prompt"], ["gpt-4-1106-preview", "mistral-7b-chat"])
        gain_hard = hard_q["gpt-4-1106-preview"] - hard_q["mistral-7b-chat"]
        gain_easy = easy_q["gpt-4-1106-preview"] - easy_q["mistral-7b-chat"]
        assert gain_hard > gain_easy + 0.2, kind
    with pytest.raises(ValueError, match="unknown predictor kind"):
        train("forest", rows, featurizer=featurizer)


def test_judge_reference_kept_only_when_asked(featurizer: PromptFeaturizer) -> None:
    from switchpoint.routing.learned.train import prepare

    rows = [{"id": str(i), "dataset": "judge", "prompt": f"Write a haiku about tide {i}.",
             "scores": {"gpt4_1106_preview": 0.5, "claude-2": 0.1 * (i % 5), "never": None}} for i in range(6)]
    dropped = prepare(rows, featurizer)
    assert dropped.models == ["claude-v2"] and len(dropped.pairs) == 6
    kept = prepare(rows, featurizer, keep_reference=True)
    assert kept.models == ["claude-v2", "gpt-4-1106-preview"]
    reference = kept.models.index("gpt-4-1106-preview")
    assert sorted(v for _, m, v in kept.pairs if m == reference) == [0.5] * 6


def test_length_prior_replaced_after_training(featurizer: PromptFeaturizer) -> None:
    """The prior is added after fitting, so replacing it on a trained predictor gives the predictor trained
    with the new one (tiers included: a name resolved to a tier shifts with it)."""
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = [{"id": str(i), "dataset": "toy", "prompt": "Explain why the sky is blue. " * (1 + i % 9),
             "scores": {"gpt-4-1106-preview": 1.0, "mistral-7b-chat": float(i % 3 == 0), "acme-70b": 0.5 + (i % 2) / 4}}
            for i in range(36)]
    fits = {beta: train("mf", rows, featurizer=featurizer, options=TrainOptions(iterations=60, rank=2,
                                                                                 length_prior=beta))
            for beta in (0.0, 0.3)}
    assert isinstance(fits[0.3], FactorPredictor) and fits[0.3].meta["length_prior"] == 0.3
    moved = fits[0.3].with_length_prior(0.0)
    assert moved.meta["length_prior"] == 0.0 and fits[0.3].meta["length_prior"] == 0.3  # a new predictor
    names = ["gpt-4-1106-preview", "mistral-7b-chat", "acme-70b", "tier:frontier", "tier:small", "other-3b"]
    for text in ("Hi", "Explain why the sky is blue. " * 200):
        expected, got = fits[0.0].predict(text, names), moved.predict(text, names)
        assert got == pytest.approx(expected, abs=1e-5)
    unrecorded = _hand_made(featurizer)
    with pytest.raises(ValueError, match="does not record the length prior"):
        unrecorded.with_length_prior(0.0)


def test_default_router_records_its_length_prior() -> None:
    predictor = load_predictor("default")
    assert isinstance(predictor, FactorPredictor) and predictor.meta["length_prior"] == 0.1
    same = predictor.with_length_prior(0.1)
    text = "Summarise this report. " * 80
    names = ["gpt-4o", "mixtral-8x7b"]
    assert same.predict(text, names) == pytest.approx(predictor.predict(text, names))
    # the prior is taken back off on prompts like AlpacaEval's (chat), all five of its groups
    assert len(predictor.prior_off) == 5 and all(g.startswith("alpacaeval2:") for g in predictor.prior_off)


def test_length_prior_by_hand(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.predictors import add_length_prior as _length_prior

    zeros = [0.0] * featurizer.dims
    models = _length_prior({"gpt-4-1106-preview": (0.0, zeros), "mistral-7b-chat": (0.0, zeros), "odd": (0.0, zeros)},
                           featurizer, 0.1)
    assert models["odd"] == (0.0, zeros)  # no known tier: left as learned
    predictor = FactorPredictor("mf", featurizer, offset=0.0, models=models, tiers={}, sparse={},
                                registry=ProfileRegistry(models, []))

    def gap(text: str) -> float:
        q = predictor.predict(text, ["gpt-4-1106-preview", "mistral-7b-chat"])
        return math.log(q["gpt-4-1106-preview"] / (1 - q["gpt-4-1106-preview"])) - math.log(
            q["mistral-7b-chat"] / (1 - q["mistral-7b-chat"]))

    # frontier (rank 3) vs small (rank 0): 3 tier steps x 0.1 logit per doubling, zero at 1 KB (log2 = 10)
    assert gap("a " * 511 + "a") == pytest.approx(0.0, abs=1e-9)  # 1023 chars: log2(1024) = 10
    assert gap("a " * 1023 + "a") == pytest.approx(0.3, abs=1e-9)  # 2047 chars: one doubling


def test_common_scale_by_hand() -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.train import _common_scale

    levels = {
        "gpt-4-1106-preview": {"anchor": 2.0},
        "mixtral-8x7b": {"anchor": 1.0, "judge": -1.0},  # shared: the judge's scale is 2 lower
        "alpaca-7b": {"judge": -3.0},
        "mistral-7b-chat": {"anchor": 0.0},
        "zephyr-7b-beta": {"island": 5.0},  # no model in common: placed by tier (small -> 0.0 on the anchor)
    }
    assert _common_scale(levels, "anchor") == {"anchor": 0.0, "judge": 2.0, "island": -5.0}


def test_shipped_default_ranks_tiers() -> None:
    predictor = load_predictor("default")
    prompt = "Write a Python function that merges two sorted lists in linear time, and explain its complexity."
    q = predictor.predict(prompt, ["gpt-4o", "tier:large", "mistral-7b-instruct", "acme-7b-chat"])
    assert q["gpt-4o"] > q["tier:large"] > q["mistral-7b-instruct"]
    # by size to the small tier, whose one member measured on the anchor (RouterBench) is mistral-7b-chat
    assert q["acme-7b-chat"] == q["mistral-7b-instruct"]


def _with_tasks(featurizer: PromptFeaturizer) -> FactorPredictor:
    """The hand-made predictor plus a task recogniser on prompt length: short prompts are "chat", long "exam";
    gpt-4 is 1 logit better than its average on exams, Mixtral has no level on them (its average holds)."""
    base = _hand_made(featurizer)
    dims = featurizer.dims
    length = featurizer.dense_names.index("len")
    exam = [0.0] * dims
    exam[length] = 80.0  # "len" is log2(chars + 1) / 14: 18 for "Hi there", 64 for 2 KB
    tasks = {"chat": (24.0, [0.0] * dims), "exam": (0.0, exam)}
    offsets = {"gpt-4-1106-preview": {"chat": -0.5, "exam": 1.0}, "mixtral-8x7b": {"chat": 0.3},
               "tier:frontier": {"exam": 2.0}}
    return FactorPredictor("mf", featurizer, offset=base.offset, models=base._models, tiers=base._tiers,
                           sparse=base.sparse, registry=base.registry, meta={"length_prior": 0.0},
                           tasks=tasks, task_offsets=offsets)


def test_task_levels_by_hand(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    plain, tasked = _hand_made(featurizer), _with_tasks(featurizer)
    names = ["gpt-4-1106-preview", "mixtral-8x7b", "tier:large", "gpt-4o"]
    for text in ("Hi there", "Prove that there are infinitely many primes, in full detail. " * 40):
        dense = featurizer.features(text).dense
        p_chat, p_exam = tasked.task_probabilities(dense)
        assert p_chat + p_exam == pytest.approx(1.0)
        assert (p_chat > 0.99) if len(text) < 20 else (p_exam > 0.99)
        logit = dict(zip(names, plain.logits(dense, names), strict=True))
        got = tasked.logits(dense, names)
        assert got[0] == pytest.approx(logit["gpt-4-1106-preview"] - 0.5 * p_chat + 1.0 * p_exam)
        assert got[1] == pytest.approx(logit["mixtral-8x7b"] + 0.3 * p_chat)
        # a tier without offsets keeps its members' average level; gpt-4o resolves to the frontier tier's
        assert got[2:] == pytest.approx([logit["tier:large"], logit["gpt-4o"] + 2.0 * p_exam])
        q = tasked.predict(text, names)
        assert list(q.values()) == pytest.approx([1 / (1 + math.exp(-v)) for v in tasked.logits(
            dense, names, (-1.0 if "#math" in featurizer.features(text).sparse else 0.0)
            / math.sqrt(len(featurizer.features(text).sparse)))])
    path = tmp_path / "tasks.json.gz"
    save_predictor(tasked, path)
    loaded = load_predictor(path, featurizer=featurizer)
    assert isinstance(loaded, FactorPredictor) and list(loaded.tasks) == ["chat", "exam"]
    for text in ("Hi there", "Prove it. " * 300):
        assert loaded.predict(text, names) == pytest.approx(tasked.predict(text, names), abs=1e-6)
    moved = tasked.with_length_prior(0.2)  # the prior leaves the task levels in place
    assert moved.tasks == tasked.tasks and moved.task_offsets == tasked.task_offsets
    with pytest.raises(ValueError, match=r"task offsets of 'mixtral-8x7b': unknown model or task\(s\) \['code'\]"):
        FactorPredictor("mf", featurizer, offset=0.0, models=plain._models, tiers=plain._tiers, sparse={},
                        registry=plain.registry, tasks=tasked.tasks, task_offsets={"mixtral-8x7b": {"code": 1.0}})
    with pytest.raises(ValueError, match="task offsets of 'tier:medium'"):
        FactorPredictor("mf", featurizer, offset=0.0, models=plain._models, tiers=plain._tiers, sparse={},
                        registry=plain.registry, tasks=tasked.tasks, task_offsets={"tier:medium": {"chat": 1.0}})


def test_task_levels_learned_per_benchmark(featurizer: PromptFeaturizer) -> None:
    """Two benchmarks of distinct formats; each of two models is the better one on one of them. With task levels
    the router keeps each model's level per benchmark (as an offset from its average) and recognises which
    benchmark a prompt is like; without them it has neither."""
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = []
    for i in range(60):
        code = i % 2 == 0
        prompt = (f"def f{i}(xs):\n    return sorted(xs)[{i % 5}]\n\nWrite a unit test for this Python function."
                  if code else f"Write a short, warm birthday poem for my friend number {i}, about the sea.")
        rows.append({"id": str(i), "dataset": "toy", "meta": {"subset": "code" if code else "poems"},
                     "prompt": prompt, "scores": {"code-llama-34b": float(code), "mistral-7b-chat": float(not code)}})
    plain = train("mf", rows, featurizer=featurizer, options=TrainOptions(iterations=150, rank=2, task_levels=False))
    assert isinstance(plain, FactorPredictor) and not plain.tasks and not plain.task_offsets
    predictor = train("mf", rows, featurizer=featurizer, options=TrainOptions(iterations=150, rank=2,
                                                                              trivial_prompts=False))
    assert isinstance(predictor, FactorPredictor) and list(predictor.tasks) == ["toy:code", "toy:poems"]
    assert sorted(predictor.task_offsets) == ["code-llama-instruct-34b-chat", "mistral-7b-chat",  # canonical names
                                              "tier:medium", "tier:small"]  # each tier: its one member's offsets
    assert predictor.task_offsets["tier:small"] == predictor.task_offsets["mistral-7b-chat"]
    code, poems = predictor.task_offsets["code-llama-instruct-34b-chat"], predictor.task_offsets["mistral-7b-chat"]
    assert code["toy:code"] > 0 > code["toy:poems"]
    assert poems["toy:poems"] > 0 > poems["toy:code"]
    for row in rows:
        p_code, p_poems = predictor.task_probabilities(featurizer.features(str(row["prompt"])).dense)
        assert (p_code if row["meta"]["subset"] == "code" else p_poems) > 0.9  # type: ignore[index]
        q = predictor.predict(str(row["prompt"]), ["code-llama-34b", "mistral-7b-chat"])
        assert row["scores"][max(q, key=q.__getitem__)] == 1.0  # type: ignore[index]


def test_length_prior_taken_off_on_chat_like_prompts(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    """``prior_off``: the length prior (folded into the weights) is taken back off in proportion to the
    probability of the named tasks: a prompt sure to be "chat" is predicted as with no prior, an "exam" one as
    with the full prior; models and tiers of no known tier have no prior to take off."""
    tasked = _with_tasks(featurizer)
    beta = 0.2
    kwargs = dict(offset=tasked.offset, models=tasked._models, tiers=tasked._tiers, sparse={},
                  registry=tasked.registry, tasks=tasked.tasks, task_offsets=tasked.task_offsets)
    plain = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, **kwargs).with_length_prior(beta)
    gated = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, prior_off=("chat",),
                            **kwargs).with_length_prior(beta)
    assert gated.prior_off == ("chat",)
    names = ["gpt-4-1106-preview", "mixtral-8x7b", "tier:large"]
    chat, exam = "Hi there", "Prove that there are infinitely many primes, in full detail. " * 40
    no_prior = plain.with_length_prior(0.0)
    dense = featurizer.features(chat).dense
    assert gated.task_probabilities(dense)[0] > 0.99
    assert gated.logits(dense, names) == pytest.approx(no_prior.logits(dense, names), abs=0.02)
    assert gated.logits(dense, names) != pytest.approx(plain.logits(dense, names), abs=0.02)
    dense = featurizer.features(exam).dense
    assert gated.logits(dense, names) == pytest.approx(plain.logits(dense, names), abs=1e-3)
    path = tmp_path / "gated.json.gz"
    save_predictor(gated, path)
    loaded = load_predictor(path, featurizer=featurizer)
    assert isinstance(loaded, FactorPredictor) and loaded.prior_off == ("chat",)
    for text in (chat, exam):
        assert loaded.predict(text, names) == pytest.approx(gated.predict(text, names), abs=1e-6)
    with pytest.raises(ValueError, match=r"prior_off names unknown tasks: \['code'\]"):
        FactorPredictor("mf", featurizer, meta={}, prior_off=("code",), **kwargs)


def test_prior_off_sources_name_their_groups(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = [{"id": str(i), "dataset": "chat" if i % 2 else "exam", "meta": {"subset": f"s{i % 4}"},
             "prompt": ("Tell me a story about a cat." if i % 2 else "What is 12 * 13? Answer with a number.") + str(i),
             "scores": {"gpt-4-1106-preview": 1.0, "mistral-7b-chat": float(i % 3 == 0)}} for i in range(40)]
    predictor = train("mf", rows, featurizer=featurizer,
                      options=TrainOptions(iterations=30, rank=2, prior_off_sources=("chat",), prior_off_head=False,
                                           trivial_prompts=False))
    assert isinstance(predictor, FactorPredictor)
    assert sorted(predictor.tasks) == ["chat:s1", "chat:s3", "exam:s0", "exam:s2"]
    assert predictor.prior_off == ("chat:s1", "chat:s3")
    assert predictor.prior_head is None  # without the detector, the recogniser takes the prior off


def test_a_prior_off_detector_replaces_the_recogniser(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    """``prior_head``: a logistic detector's probability, not p(prior_off tasks), says how much of the prior
    comes off; it is saved and loaded with the artifact and kept by ``with_length_prior``."""
    tasked = _with_tasks(featurizer)
    kwargs = dict(offset=tasked.offset, models=tasked._models, tiers=tasked._tiers, sparse={},
                  registry=tasked.registry, tasks=tasked.tasks, task_offsets=tasked.task_offsets)
    dims = featurizer.dims
    names = ["gpt-4-1106-preview", "mixtral-8x7b", "tier:large"]
    chat = "Hi there"  # the recogniser is sure it is "chat"
    dense = featurizer.features(chat).dense
    plain = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, **kwargs).with_length_prior(0.2)
    never = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, prior_off=("chat",),
                            prior_head=(-40.0, [0.0] * dims), **kwargs).with_length_prior(0.2)
    always = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, prior_off=("chat",),
                             prior_head=(40.0, [0.0] * dims), **kwargs).with_length_prior(0.2)
    assert never.prior_head == (-40.0, [0.0] * dims)  # kept by with_length_prior
    assert never.logits(dense, names) == pytest.approx(plain.logits(dense, names), abs=1e-9)  # the prior stays
    assert always.logits(dense, names) == pytest.approx(plain.with_length_prior(0.0).logits(dense, names), abs=1e-6)
    path = tmp_path / "detector.json.gz"
    save_predictor(never, path)
    loaded = load_predictor(path, featurizer=featurizer)
    assert isinstance(loaded, FactorPredictor) and loaded.prior_head == never.prior_head
    assert loaded.predict(chat, names) == pytest.approx(never.predict(chat, names), abs=1e-9)
    with pytest.raises(ValueError, match="prior_head needs prior_off tasks"):
        FactorPredictor("mf", featurizer, meta={}, prior_head=(0.0, [0.0] * dims), **kwargs)
    with pytest.raises(ValueError, match="prior_head needs prior_off tasks"):
        FactorPredictor("mf", featurizer, meta={}, prior_off=("chat",), prior_head=(0.0, [0.0]), **kwargs)


def test_a_detector_floor_keeps_the_prior_below_it(tmp_path: Path, featurizer: PromptFeaturizer) -> None:
    """``prior_floor``: a detector probability up to the floor takes none of the prior off, and above it the prior
    comes off linearly (p = 0.75 with floor 0.5: half of it); saved, loaded and kept by ``with_length_prior``."""
    tasked = _with_tasks(featurizer)
    kwargs = dict(offset=tasked.offset, models=tasked._models, tiers=tasked._tiers, sparse={},
                  registry=tasked.registry, tasks=tasked.tasks, task_offsets=tasked.task_offsets, prior_off=("chat",))
    dims = featurizer.dims
    names = ["gpt-4-1106-preview", "mixtral-8x7b", "tier:large"]
    dense = featurizer.features("Prove that there are infinitely many primes, in full detail. " * 40).dense

    def build(p: float, floor: float) -> FactorPredictor:
        bias = math.log(p / (1 - p))
        return FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, prior_head=(bias, [0.0] * dims),
                               prior_floor=floor, **kwargs).with_length_prior(0.2)

    full = build(0.001, 0.0)  # p ≈ 0: the whole prior
    none = FactorPredictor("mf", featurizer, meta={"length_prior": 0.0}, **kwargs)  # no prior at all
    full_l, none_l = full.logits(dense, names), none.logits(dense, names)
    assert full_l != pytest.approx(none_l, abs=0.05)  # a long prompt: the prior moves the logits

    def share_off(predictor: FactorPredictor) -> list[float]:  # how much of the prior came off, per model
        return [(f - g) / (f - n) for f, g, n in zip(full_l, predictor.logits(dense, names), none_l, strict=True)
                if abs(f - n) > 1e-6]

    assert share_off(build(0.5, 0.0)) == pytest.approx([0.5] * 3, abs=0.01)
    assert share_off(build(0.5, 0.5)) == pytest.approx([0.0] * 3, abs=0.01)
    assert share_off(build(0.3, 0.5)) == pytest.approx([0.0] * 3, abs=0.01)
    assert share_off(build(0.75, 0.5)) == pytest.approx([0.5] * 3, abs=0.01)
    floored = build(0.75, 0.5)
    assert floored.prior_floor == 0.5
    path = tmp_path / "floor.json.gz"
    save_predictor(floored, path)
    loaded = load_predictor(path, featurizer=featurizer)
    assert isinstance(loaded, FactorPredictor) and loaded.prior_floor == 0.5
    assert loaded.logits(dense, names) == pytest.approx(floored.logits(dense, names), abs=1e-6)
    with pytest.raises(ValueError, match="prior_floor must be in"):
        build(0.5, 1.0)
    with pytest.raises(ValueError, match="needs a prior_head"):
        FactorPredictor("mf", featurizer, meta={}, prior_floor=0.5, **kwargs)


def test_prior_off_detector_is_trained_on_its_sources(featurizer: PromptFeaturizer) -> None:
    pytest.importorskip("numpy")
    from switchpoint.routing.learned.train import TrainOptions, train

    rows = [{"id": str(i), "dataset": "chat" if i % 2 else "exam", "meta": {"subset": f"s{i % 4}"},
             "prompt": ("Tell me a story about a cat." if i % 2 else "What is 12 * 13? Answer with a number.") + str(i),
             "scores": {"gpt-4-1106-preview": 1.0, "mistral-7b-chat": float(i % 3 == 0)}} for i in range(40)]
    predictor = train("mf", rows, featurizer=featurizer, options=TrainOptions(
        iterations=30, rank=2, prior_off_sources=("chat",), trivial_prompts=False))  # the detector: on by default
    assert isinstance(predictor, FactorPredictor) and predictor.prior_head is not None
    for row in rows:
        dense = featurizer.features(str(row["prompt"])).dense
        off = predictor._prior_off(dense, predictor.task_probabilities(dense))
        assert (off > 0.9) if row["dataset"] == "chat" else (off < 0.1)
    assert predictor.prior_floor == 0.5  # the default (RESEARCH.md, session 8)
    proportional = train("mf", rows, featurizer=featurizer, options=TrainOptions(
        iterations=30, rank=2, prior_off_sources=("chat",), trivial_prompts=False, prior_off_floor=0.0))
    assert isinstance(proportional, FactorPredictor) and proportional.prior_floor == 0.0
    assert proportional.prior_head == predictor.prior_head  # the same detector, read from 0 instead of its floor
    without = train("mf", rows, featurizer=featurizer, options=TrainOptions(
        iterations=30, rank=2, prior_off_sources=("chat",), trivial_prompts=False, prior_off_floor=0.5,
        prior_off_head=False))
    assert isinstance(without, FactorPredictor) and without.prior_floor == 0.0  # no detector, no floor
