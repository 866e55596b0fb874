"""Learned cost-quality routing: quality predictors, model profiles, decision rules, calibration.

- ``predictors.py``: the :class:`QualityPredictor` protocol (``predict(text, models) -> {model: q̂}``)
  and its families (``mf``/``linear``: :class:`FactorPredictor`; ``knn``: :class:`KNNPredictor`);
- ``profiles.py``: model names, aliases and tiers, so a router can rank models absent from its data;
- ``features.py``: the prompt features (pure Python; feature models pinned in ``artifacts/features``
  and checked against each router artifact's record at load);
- ``choose.py``: the decision rules (threshold, quality floor, λ trade-off, budget);
- ``calibrate.py``: threshold for a strong-call share, λ for a cost per 1k requests;
- ``artifact.py``: :func:`load_predictor` / :func:`save_predictor` (``"default"`` = the shipped router);
- ``train.py``: ``train(kind, rows, ...)`` (build time; needs the ``train`` extra: numpy, scipy).

Serving needs no numpy: only ``train`` imports it, lazily.
"""

from switchpoint.routing.learned.artifact import DEFAULT_ARTIFACT, load_predictor, save_predictor
from switchpoint.routing.learned.calibrate import calibrate_lambda, calibrate_threshold
from switchpoint.routing.learned.choose import (
    Choice,
    Option,
    choose_budget,
    choose_floor,
    choose_lambda,
    choose_threshold,
)
from switchpoint.routing.learned.predictors import FactorPredictor, KNNPredictor, QualityPredictor
from switchpoint.routing.learned.profiles import ModelProfile, ProfileRegistry

__all__ = [
    "DEFAULT_ARTIFACT",
    "Choice",
    "FactorPredictor",
    "KNNPredictor",
    "ModelProfile",
    "Option",
    "ProfileRegistry",
    "QualityPredictor",
    "calibrate_lambda",
    "calibrate_threshold",
    "choose_budget",
    "choose_floor",
    "choose_lambda",
    "choose_threshold",
    "load_predictor",
    "save_predictor",
]
