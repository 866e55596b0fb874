"""``switchpoint train | eval | calibrate``: train a router, evaluate it offline against the baselines, and
calibrate its threshold or λ for a target (see ``docs/routing.md``, section "Evaluation toolkit").

Usage problems (missing file, unknown model or router, bad arguments) print ``switchpoint: <message>`` to stderr
and exit with status 2. Progress goes to stderr; the report to stdout; with ``--json`` the last stdout line is one
JSON object.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("train", "eval", "calibrate")


def add_parsers(commands: Any) -> None:
    """Register ``train``, ``eval`` and ``calibrate`` on the CLI's subcommands."""
    train = commands.add_parser("train", help="train a router on routing-quality data (JSONL)")
    train.add_argument("data", nargs="+", metavar="DATA.jsonl", help="training rows: prompt, scores, cost")
    train.add_argument("--router", required=True, metavar="KIND", help="router kind: length or a learned kind (mf, …)")
    train.add_argument("--out", required=True, metavar="PATH", help="where to write the router artifact")
    _training_arguments(train)

    evaluate = commands.add_parser(
        "eval", help="evaluate a router offline: APGR/CPT (two models) or AIQ (many), next to the baselines"
    )
    evaluate.add_argument("data", nargs="+", metavar="TEST.jsonl", help="evaluation rows")
    _router_arguments(evaluate)
    evaluate.add_argument(
        "--folds", type=int, metavar="K", help="K-fold cross-validation on the test rows (pooled predictions)"
    )
    evaluate.add_argument(
        "--bootstrap", type=int, default=200, metavar="N", help="bootstrap resamples for the 95%% intervals (200)"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the resamples and folds (0)")
    evaluate.add_argument("--json", action="store_true", help="end with one JSON object on the last stdout line")
    evaluate.add_argument("--plot", metavar="FILE.png", help="draw the cost-quality curves (needs the [eval] extra)")
    evaluate.add_argument(
        "--objective", choices=("auto", "aiq", "quality"), default="auto",
        help="with --models: 'aiq' compares cost and quality (models need costs); 'quality' compares the mean quality "
        "of the model the router predicts best with the best single model and the oracle (no costs needed); 'auto' "
        "(default) is aiq when costs allow it, else quality",
    )

    calibrate = commands.add_parser(
        "calibrate", help="set a router's threshold (two models) or λ (many) for a target share or cost"
    )
    calibrate.add_argument("data", nargs="+", metavar="REF.jsonl", help="reference rows (representative prompts)")
    _router_arguments(calibrate)
    target = calibrate.add_mutually_exclusive_group(required=True)
    target.add_argument("--strong-share", type=float, metavar="X", help="share of calls to the strong model, 0..1")
    target.add_argument("--cost-per-1k", type=float, metavar="USD", help="mean cost per 1000 requests, USD")
    target.add_argument(
        "--levels", action="store_true",
        help="fit each model's level on this workload (a logit shift of its predicted quality) from the rows' "
        "scores, e.g. rows exported from the request log; rows may score one model each",
    )
    calibrate.add_argument("--out", metavar="FILE", help="also write the result (JSON) to FILE")
    calibrate.add_argument("--json", action="store_true", help="end with one JSON object on the last stdout line")


def _router_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--router",
        default="default",
        metavar="KIND|PATH|default|none",
        help="a router kind (trained on --train), an artifact path, 'default' (the recommended kind: trained on "
        "--train if given, else the shipped artifact) or 'none' (baselines only). Default: default",
    )
    parser.add_argument("--train", nargs="+", action="extend", metavar="DATA.jsonl",
                        help="train the router on these files first (repeatable: every file given counts)")
    _training_arguments(parser)
    parser.add_argument("--strong", metavar="MODEL", help="strong model (two-model mode; with --weak)")
    parser.add_argument("--weak", metavar="MODEL", help="weak model (two-model mode; with --strong)")
    parser.add_argument("--models", metavar="M1,M2,...|all", help="candidate models; 3+ with costs give AIQ")
    parser.add_argument(
        "--levels-file", dest="levels_file", metavar="FILE.json",
        help="apply per-model levels (logit shifts) written by 'calibrate --levels --out FILE.json'",
    )
    parser.add_argument(
        "--profile", action="append", default=[], metavar="MODEL=KNOWN|tier:T",
        help="rank a model of the data as a model the router knows, or as a tier (frontier, large, medium, small); "
        "repeatable. Unknown models without one are ranked as the tier of the known model nearest in price",
    )


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--length-prior", dest="length_prior", type=float, metavar="BETA",
        help="mf and linear routers: the prior that stronger models gain on longer prompts, in logits per doubling "
        "of the prompt length per tier step (shipped: 0.1; 0 leaves length to the data, e.g. for chat traffic); "
        "on an artifact, it replaces the artifact's prior",
    )
    parser.add_argument(
        "--source-weight", dest="source_weight", action="append", default=[], metavar="DATASET=W",
        help="mf and linear routers: the total weight of the rows whose 'dataset' is DATASET (each dataset weighs 1 by "
        "default; shipped: alpacaeval2=0.25); repeatable",
    )


def _train_options(args: argparse.Namespace, kind: str | None) -> Any:
    """The learned trainer's options from ``--length-prior`` / ``--source-weight`` (None when neither is given)."""
    if args.length_prior is None and not args.source_weight:
        return None
    from dataclasses import replace

    from switchpoint.routing.evaluation.routers import LENGTH
    from switchpoint.routing.learned.train import TrainOptions

    if kind is None or kind == LENGTH:
        raise _Usage("--length-prior and --source-weight train a learned router kind: give --router KIND or default")
    if kind == "knn":  # nearest neighbours have no weights for a prior, and average outcomes unweighted
        raise _Usage("--length-prior and --source-weight apply to mf and linear routers, not to knn")

    options = TrainOptions()
    changes: dict[str, Any] = {}
    if args.length_prior is not None:
        changes["length_prior"] = _finite_length_prior(args.length_prior)
    if args.source_weight:
        weights = dict(options.source_weights)
        for item in args.source_weight:
            name, sep, value = item.partition("=")
            try:
                weight = float(value)
            except ValueError:
                weight = -1.0
            if not sep or not name or not math.isfinite(weight) or weight < 0:
                raise _Usage(f"--source-weight {item!r}: expected DATASET=W with W a number ≥ 0")
            weights[name] = weight
        changes["source_weights"] = weights
    return replace(options, **changes)


def _finite_length_prior(beta: float) -> float:
    if not math.isfinite(beta):
        raise _Usage("--length-prior must be a finite number")
    return beta


class _Usage(Exception):
    """A usage problem: printed as ``switchpoint: message``, exit status 2."""


def run(args: argparse.Namespace) -> int:
    from switchpoint.routing.evaluation.data import DataError
    from switchpoint.routing.evaluation.routers import EvaluationError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        return _calibrate(args)
    except (_Usage, DataError, EvaluationError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"switchpoint: {message}", file=sys.stderr)
        return 2


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _train(args: argparse.Namespace) -> int:
    from switchpoint.routing.evaluation.data import load_rows
    from switchpoint.routing.evaluation.routers import DEFAULT_KIND, save_router, train_router

    out = Path(args.out)
    if not out.parent.is_dir():
        raise _Usage(f"--out: no such directory {out.parent}")
    rows = load_rows(*args.data)
    kind = DEFAULT_KIND if args.router == "default" else args.router
    options = _train_options(args, kind)
    _progress(f"training {kind} on {len(rows)} rows from {len(args.data)} file(s)")
    router = train_router(kind, rows, _progress, options=options)
    save_router(router, out)
    print(f"wrote {kind} router to {out}")
    return 0


# ---------------------------------------------------------------------------------------------------- shared


def _named_models(args: argparse.Namespace, known: list[str], *, least: int = 2) -> tuple[list[str], bool]:
    """The models the arguments name (resolved against the data), and whether they are an explicit strong/weak."""
    from switchpoint.routing.evaluation.data import resolve_model

    if (args.strong is None) != (args.weak is None):
        raise _Usage("--strong and --weak go together")
    if args.strong is not None and args.models is not None:
        raise _Usage("give either --strong/--weak or --models, not both")
    if args.strong is not None:
        models = [resolve_model(args.strong, known), resolve_model(args.weak, known)]
        if models[0] == models[1]:
            raise _Usage("--strong and --weak name the same model")
        return models, True
    if args.models is None or args.models == "all":
        models = known
    else:
        names = [name.strip() for name in args.models.split(",") if name.strip()]
        models = list(dict.fromkeys(resolve_model(name, known) for name in names))
    if not known:
        raise _Usage("no model has a score in the data (every score is null)")
    if len(models) < least:
        raise _Usage(f"need at least two models; the data has {', '.join(known)}")
    return models, False


def _profiles(items: Sequence[str], models: Sequence[str]) -> dict[str, str]:
    """``--profile MODEL=KNOWN`` options: data model -> the name the router ranks it as."""
    from switchpoint.routing.evaluation.data import resolve_model

    out: dict[str, str] = {}
    for item in items:
        model, sep, profile = item.partition("=")
        if not sep or not model.strip() or not profile.strip():
            raise _Usage(f"--profile must be MODEL=KNOWN_MODEL or MODEL=tier:TIER, not {item!r}")
        out[resolve_model(model.strip(), list(models))] = profile.strip()
    return out


def _levels_file(path: str, models: Sequence[str]) -> dict[str, float]:
    """Per-model logit shifts from a ``calibrate --levels --out`` file (or a plain ``{model: shift}`` object)."""
    from switchpoint.routing.evaluation.data import resolve_model

    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise _Usage(f"--levels-file: cannot read {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise _Usage(f"--levels-file: {path} is not JSON ({exc})") from None
    levels = data.get("levels", data) if isinstance(data, dict) else None
    if not isinstance(levels, dict):
        raise _Usage(f"--levels-file: {path} holds no levels object ({{model: shift}})")
    out: dict[str, float] = {}
    for model, shift in levels.items():
        if isinstance(shift, bool) or not isinstance(shift, int | float) or not math.isfinite(shift):
            raise _Usage(f"--levels-file: the level of {model!r} must be a number, not {shift!r}")
        try:
            out[resolve_model(str(model), list(models))] = float(shift)
        except KeyError:
            _progress(f"--levels-file: {model!r} is not among the models compared here; its level is not used")
    return out


def _with_any_cost(models: Sequence[str], rows: Sequence[Any]) -> list[str]:
    """The models with a cost on at least one row."""
    return [m for m in models if any(row.cost.get(m) is not None for row in rows)]


def _costs_missing(models: Sequence[str], costed: Sequence[str], *, listed: bool) -> bool:
    """Whether AIQ is out of reach: a listed model has no cost, or fewer than two of "all" have any."""
    return len(costed) < len(models) if listed else len(costed) < 2


def _costed(models: list[str], costed: list[str], *, listed: bool, hint: str) -> list[str]:
    """The models with costs (``costed``), for AIQ. Models listed by name must all have costs; from "all", the
    others are left out (said on stderr, with ``hint``: what else the command can do)."""
    missing = [m for m in models if m not in costed]
    if missing and listed:
        raise _Usage(f"AIQ needs costs; no cost for {', '.join(missing)}")
    if missing:
        _progress(f"AIQ needs costs: leaving out {len(missing)} model(s) without any ({', '.join(missing)})"
                  + (f"; {hint}" if hint else ""))
    if len(costed) < 2:
        raise _Usage("AIQ needs at least two models with costs; compare two models with --strong and --weak")
    return costed


class _Setup:
    """Rows, the models to compare and how to get the router's predictions, from the common arguments."""

    def __init__(self, args: argparse.Namespace, *, folds: int | None = None, sparse: bool = False,
                 objective: str | None = None) -> None:
        from switchpoint.routing.evaluation.data import load_rows, mean_score, models_in, rows_with

        self.data_name = ", ".join(Path(p).name for p in args.data)
        rows = load_rows(*args.data)
        if not rows:
            raise _Usage(f"{self.data_name}: no rows")
        self._all_rows = rows
        models, explicit_pair = _named_models(args, models_in(rows), least=1 if sparse else 2)
        if explicit_pair and objective == "quality":
            raise _Usage("--objective applies to --models; --strong/--weak compare two models by APGR")
        self.quality_only = False  # many models compared on quality alone (no costs)
        self.two_model = len(models) == 2 and not sparse and objective != "quality"
        if sparse:  # every row that scores one of the models (levels are fitted per model)
            self.rows = [row for row in rows if any(m in row.scores for m in models)]
        else:
            listed = args.models not in (None, "all")
            if not self.two_model:
                costed = _with_any_cost(models, rows)
                if objective == "quality" or (objective == "auto" and _costs_missing(models, costed, listed=listed)):
                    self.quality_only = True
                    if objective == "auto":
                        _progress("no costs to compare: comparing the models on quality alone (mean quality of the "
                                  "model the router predicts best)")
                else:
                    # objective None: a command without --objective (calibrate: AIQ only)
                    hint = "--objective quality compares them all on quality alone" if objective is not None else ""
                    models = _costed(models, costed, listed=listed, hint=hint)
                    self.two_model = len(models) == 2
            self.rows = rows_with(rows, models, need_cost=not (self.two_model or self.quality_only))
            if not self.rows:
                raise _Usage(f"{self.data_name}: no row has a score (and cost) for every one of {', '.join(models)}")
            if len(self.rows) < len(rows):
                _progress(f"using {len(self.rows)} of {len(rows)} rows: the others lack a score or cost of some model")
        if self.two_model and not explicit_pair:
            models = sorted(models, key=lambda m: mean_score(self.rows, m), reverse=True)
        self.models = models
        self.levels = _levels_file(args.levels_file, models) if args.levels_file else {}
        self.train_rows = load_rows(*args.train) if args.train else []
        self.folds = folds
        self.router_ref: str = args.router
        self.profiles = _profiles(args.profile, models)
        self.seed: int = getattr(args, "seed", 0)
        self._args = args
        self._loaded = ""  # name of the loaded router, once loaded
        self.left_out: list[str] = []  # models the router could not place (unknown, no profile, no price)
        self._check_protocol(args)

    def _check_protocol(self, args: argparse.Namespace) -> None:
        if not args.train:
            return
        tested = {Path(p).resolve() for p in args.data}
        overlap = [p for p in args.train if Path(p).resolve() in tested]
        if overlap:
            _progress(f"warning: training on the evaluation file(s) {', '.join(overlap)}: the figures are in-sample")

    @property
    def strong(self) -> str:
        return self.models[0]

    @property
    def weak(self) -> str:
        return self.models[1]

    def _kind(self) -> str | None:
        from switchpoint.routing.evaluation.routers import DEFAULT_KIND, LENGTH, learned_kinds

        ref = self.router_ref
        if ref == "default":
            return DEFAULT_KIND
        if ref == LENGTH or ref in learned_kinds():
            return ref
        return None

    def router_name(self) -> str:
        kind = self._kind()
        if self.folds:
            return f"{kind} ({self.folds}-fold)"
        if self.train_rows:
            return f"{kind} (trained)"
        if self.router_ref == "default":
            return f"default artifact ({self._loaded})" if self._loaded else "default artifact"
        if kind is None:
            name = Path(self.router_ref).name
            return f"{name} ({self._loaded})" if self._loaded and self._loaded != name else name
        return kind

    def protocol(self) -> str:
        """How the router's figures were obtained, in words (a k-fold figure is in-distribution)."""
        if self.router_ref == "none":
            return "baselines only"
        if self._kind() == "length" or self._loaded == "length":
            return "no training (the prompt-length router), evaluated on these rows"
        if self.folds:
            extra = f" plus {len(self.train_rows)} rows of --train" if self.train_rows else ""
            return (
                f"in-distribution: {self.folds}-fold cross-validation on these rows{extra}{self._options_text()} "
                "(trained on the other folds, pooled held-out predictions)"
            )
        if self.train_rows:
            return (f"trained on {len(self.train_rows)} rows of --train{self._options_text()}, evaluated on these "
                    f"rows{self._left_out_text()}")
        return f"pre-trained artifact{self._options_text()}, evaluated on these rows{self._left_out_text()}"

    def _left_out_text(self) -> str:
        if not self.left_out:
            return ""
        return (f"; left out {len(self.left_out)} model(s) unknown to the router, with no price to place them by "
                f"({', '.join(self.left_out)}): --profile MODEL=KNOWN_MODEL|tier:TIER includes them")

    def _leave_out(self, router: Any) -> None:
        """Many models: leave out those the router cannot place (said on stderr and in the protocol), and take the
        rows again for the rest."""
        from switchpoint.routing.evaluation.data import rows_with

        self.left_out = router.unplaceable(self.rows, self.models)
        if not self.left_out:
            return
        _progress(f"router {router.name}: leaving out {', '.join(self.left_out)}: unknown to it, with no price to "
                  "place them by; --profile MODEL=KNOWN_MODEL|tier:TIER includes them")
        self.models = [m for m in self.models if m not in self.left_out]
        if len(self.models) < 2:
            raise _Usage(f"router {router.name}: fewer than two models left that it can rank; give --profile "
                         "MODEL=KNOWN_MODEL or MODEL=tier:TIER for the others")
        self.rows = rows_with(self._all_rows, self.models, need_cost=not self.quality_only)

    @staticmethod
    def _set_length_prior(router: Any, beta: float) -> None:
        """``--length-prior`` on a trained artifact: its prior replaced (it is added after fitting)."""
        change = getattr(getattr(router, "predictor", None), "with_length_prior", None)
        if change is None:
            raise _Usage(f"--length-prior applies to mf and linear routers, not to {router.name}")
        try:
            router.predictor = change(_finite_length_prior(beta))
        except ValueError as exc:
            raise _Usage(f"--length-prior: {exc}") from None

    def _options_text(self) -> str:
        given = []
        if self._args.length_prior is not None:
            given.append(f"--length-prior {self._args.length_prior:g}")
        given += [f"--source-weight {item}" for item in self._args.source_weight]
        return f" ({', '.join(given)})" if given else ""

    def predictions(self, what: str) -> list[Any] | None:
        """The router's two-model scores (``what="scores"``) or per-model qualities (``"qualities"``)."""
        from switchpoint.routing.evaluation.routers import (
            LENGTH,
            EvalRouter,
            PredictorRouter,
            cross_validated,
            load_router,
            train_router,
        )

        if self.router_ref == "none":
            if self.folds:
                raise _Usage("--folds needs a router")
            return None

        def predict(router: EvalRouter, rows: Sequence[Any]) -> Sequence[Any]:
            if isinstance(router, PredictorRouter):
                router.profiles.update(self.profiles)
                router.levels.update(self.levels)
                router.note = _progress
            elif self.levels:
                raise _Usage("--levels-file applies to a learned router, not to the length router")
            if what == "scores":
                return router.two_model_scores(rows, self.strong, self.weak)
            return router.qualities(rows, self.models)

        kind = self._kind()
        if not (self.folds or self.train_rows) and self._args.source_weight:
            raise _Usage("--source-weight is a training option: add --train or --folds")
        if self.folds:
            if kind is None:
                raise _Usage("--folds trains a router kind on the other folds: give --router KIND or default")
            return cross_validated(
                kind, self.rows, self.folds, predict, extra_train=self.train_rows, seed=self.seed, progress=_progress,
                options=_train_options(self._args, kind),
            )
        if self.train_rows:
            if kind is None:
                raise _Usage("--train needs a router kind (--router KIND or default), not an artifact path")
            options = _train_options(self._args, kind)
            _progress(f"training {kind} on {len(self.train_rows)} rows")
            router = train_router(kind, self.train_rows, _progress, options=options)
        else:
            router = load_router(LENGTH if kind == LENGTH else self.router_ref)
            self._loaded = router.name
            if self._args.length_prior is not None:
                self._set_length_prior(router, self._args.length_prior)
        if what == "qualities" and isinstance(router, PredictorRouter):
            router.profiles.update(self.profiles)
            router.note = _progress
            self._leave_out(router)
        _progress(f"predicting {len(self.rows)} prompts with {router.name}")
        return list(predict(router, self.rows))


def _last_line_json(obj: Any) -> None:
    print(orjson.dumps(obj).decode())


# ---------------------------------------------------------------------------------------------------- eval


def _eval(args: argparse.Namespace) -> int:
    from switchpoint.routing.evaluation.report import many_model_report, plot, quality_report, two_model_report

    if args.folds is not None and args.folds < 2:
        raise _Usage("--folds needs at least 2")
    if args.bootstrap < 0:
        raise _Usage("--bootstrap must be >= 0")
    if args.plot:
        _check_plot_target(args.plot)
    setup = _Setup(args, folds=args.folds, objective=args.objective)
    # the predictions first: they load the router (its name) and may leave models out of setup.models and rows
    predictions = setup.predictions("scores" if setup.two_model else "qualities")
    common = {"router_name": setup.router_name(), "data": setup.data_name, "resamples": args.bootstrap,
              "seed": args.seed}
    report: Any
    if setup.two_model:
        report = two_model_report(setup.rows, setup.strong, setup.weak, predictions, **common)
    else:
        build = quality_report if setup.quality_only else many_model_report
        report = build(setup.rows, setup.models, predictions, **common)
    protocol = setup.protocol()
    print(report.text())
    print(f"\nprotocol: {protocol}")
    if args.plot:
        try:
            plot(report, args.plot)
        except RuntimeError as exc:
            raise _Usage(str(exc)) from None
        _progress(f"wrote {args.plot}")
    if args.json:
        left_out = {"left_out": setup.left_out} if setup.left_out else {}
        _last_line_json({**report.to_dict(), "protocol": protocol, **left_out})
    return 0


def _check_plot_target(path: str) -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise _Usage("--plot needs matplotlib: pip install 'switchpoint[eval]'")
    parent = Path(path).parent
    if not parent.is_dir():
        raise _Usage(f"--plot: no such directory {parent}")


# ---------------------------------------------------------------------------------------------------- calibrate


def _check_calibrate(args: argparse.Namespace) -> None:
    if args.strong_share is not None and not 0.0 <= args.strong_share <= 1.0:
        raise _Usage("--strong-share must be within 0..1")
    if args.cost_per_1k is not None and not (math.isfinite(args.cost_per_1k) and args.cost_per_1k > 0):
        raise _Usage("--cost-per-1k must be a positive number of USD")
    if args.router == "none":
        raise _Usage("calibrate needs a router")
    if args.levels and args.levels_file:
        raise _Usage("--levels fits levels afresh: leave out --levels-file")


def _calibrate(args: argparse.Namespace) -> int:
    from switchpoint.routing.evaluation.calibration import lambda_for_cost, threshold_for_cost, threshold_for_share

    _check_calibrate(args)
    if args.levels:
        return _calibrate_levels(args)
    setup = _Setup(args)
    rows = setup.rows
    try:
        if setup.two_model:
            scores = setup.predictions("scores")
            assert scores is not None
            strong_q = [r.scores[setup.strong] for r in rows]
            weak_q = [r.scores[setup.weak] for r in rows]
            costs = [[r.cost.get(m) for r in rows] for m in (setup.strong, setup.weak)]
            known = all(c is not None for column in costs for c in column)
            strong_cost = [float(c or 0.0) for c in costs[0]] if known else None
            weak_cost = [float(c or 0.0) for c in costs[1]] if known else None
            if args.strong_share is not None:
                result = threshold_for_share(scores, args.strong_share, strong_q, weak_q, strong_cost, weak_cost)
            else:
                if strong_cost is None or weak_cost is None:
                    raise _Usage("--cost-per-1k needs costs for both models on every reference row")
                result = threshold_for_cost(scores, args.cost_per_1k, strong_q, weak_q, strong_cost, weak_cost)
        else:
            if args.strong_share is not None:
                raise _Usage("--strong-share needs two models (--strong/--weak); for many models use --cost-per-1k")
            qualities = setup.predictions("qualities")
            assert qualities is not None
            true = [{m: r.scores[m] for m in setup.models} for r in rows]
            cost = [{m: float(r.cost[m] or 0.0) for m in setup.models} for r in rows]
            result = lambda_for_cost(qualities, true, cost, args.cost_per_1k)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    target = {"strong_share": args.strong_share} if args.strong_share is not None else {"cost_per_1k": args.cost_per_1k}
    out = {
        "router": setup.router_name(),
        "data": setup.data_name,
        "prompts": len(rows),
        "models": setup.models,
        "target": target,
        "objective": {result.setting: result.value},
        "achieved": {"strong_share": result.strong_share, "cost_per_1k": result.cost_per_1k, "quality": result.quality},
    }
    lines = [f"{setup.router_name()} on {setup.data_name} ({len(rows)} prompts): {result.setting} = {result.value:.6g}"]
    if result.strong_share is not None:
        lines.append(f"  strong-call share {result.strong_share:.1%} ({setup.strong} vs {setup.weak})")
    if result.cost_per_1k is not None:
        lines.append(f"  cost ${result.cost_per_1k:.4f} per 1k requests")
    lines.append(f"  mean quality {result.quality:.4f}")
    print("\n".join(lines))
    return _finish(args, out)


def _finish(args: argparse.Namespace, out: dict[str, Any]) -> int:
    """Write ``out`` to ``--out`` (JSON) and, with ``--json``, as the last stdout line."""
    if args.out:
        try:
            Path(args.out).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise _Usage(f"cannot write {args.out}: {exc.strerror or exc}") from None
        _progress(f"wrote {args.out}")
    if args.json:
        _last_line_json(out)
    return 0


def _calibrate_levels(args: argparse.Namespace) -> int:
    """``calibrate --levels``: each model's logit shift on this workload, from the rows' scores."""
    from switchpoint.routing.levels import fit_level

    setup = _Setup(args, sparse=True)
    qualities = setup.predictions("qualities")
    assert qualities is not None
    fits = {}
    for model in setup.models:
        pairs = [(q[model], row.scores[model]) for q, row in zip(qualities, setup.rows, strict=True)
                 if model in row.scores]  # fmt: skip
        if pairs:
            fits[model] = fit_level([p for p, _ in pairs], [y for _, y in pairs])
    name = setup.router_name()
    lines = [f"{name} on {setup.data_name}: levels (logit shifts) from {len(setup.rows)} rated prompts",
             f"  {'model':<40} {'rated':>6} {'observed':>9} {'predicted':>10} {'calibrated':>11} {'level':>8}"]
    for model, fit in fits.items():
        lines.append(f"  {model:<40} {fit.n:>6} {fit.observed:>9.4f} {fit.predicted:>10.4f} {fit.calibrated:>11.4f} "
                     f"{fit.shift:>+8.3f}")
    if any(fit.n < 30 for fit in fits.values()):
        lines.append("  (fewer than 30 rated answers: the level stays near 0 until more arrive)")
    lines.append("  in a config: candidates: {GROUP: {profile: ..., level: <level>}}")
    print("\n".join(lines))
    out = {"router": name, "data": setup.data_name, "prompts": len(setup.rows),
           "levels": {m: round(f.shift, 6) for m, f in fits.items()},
           "fits": {m: f.to_dict() for m, f in fits.items()}}  # fmt: skip
    return _finish(args, out)
