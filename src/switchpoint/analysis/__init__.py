"""Request analysis: the features every routing decision is made from.

    from switchpoint.analysis import AnalysisConfig, build_pipeline

    pipeline = build_pipeline(AnalysisConfig.from_mapping(config_section))
    features = await pipeline.analyze(chat_request)      # or pipeline.analyze_sync(...)
    features.task_type.label, features.complexity, features.to_dict()

Everything runs in pure Python on the standard library (plus orjson, already a dependency);
the trained artifacts ship in ``switchpoint/analysis/artifacts``. See ``docs/analysis.md``.
"""

from __future__ import annotations

from switchpoint.analysis.build import ARTIFACTS_DIR, Artifacts, Offloaded, build_pipeline
from switchpoint.analysis.config import ANALYZER_NAMES, AnalysisConfig, IntentSpec
from switchpoint.analysis.features import (
    SCHEMA_VERSION,
    TASK_TYPES,
    UNKNOWN,
    AnalysisInfo,
    LanguageResult,
    PIIResult,
    RequestFeatures,
    SentimentResult,
    TaskTypeResult,
)
from switchpoint.analysis.pipeline import AnalysisPipeline
from switchpoint.analysis.protocol import Analyzer
from switchpoint.analysis.view import RequestView

__all__ = [
    "ANALYZER_NAMES",
    "ARTIFACTS_DIR",
    "SCHEMA_VERSION",
    "TASK_TYPES",
    "UNKNOWN",
    "AnalysisConfig",
    "AnalysisInfo",
    "AnalysisPipeline",
    "Analyzer",
    "Artifacts",
    "IntentSpec",
    "LanguageResult",
    "Offloaded",
    "PIIResult",
    "RequestFeatures",
    "RequestView",
    "SentimentResult",
    "TaskTypeResult",
    "build_pipeline",
]
