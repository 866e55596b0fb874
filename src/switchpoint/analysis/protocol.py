"""The analyser contract: a small unit that adds some features to a request's record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from switchpoint.analysis.view import RequestView

__all__ = ["Analyzer"]


class Analyzer(Protocol):
    """One pluggable analysis step.

    ``name`` identifies it in config and in ``analysis.degraded``. ``provides`` names the
    :class:`~switchpoint.analysis.features.RequestFeatures` fields it sets. ``inline`` analysers
    are cheap (well under a millisecond) and run on the caller's thread; the others run in a
    worker thread under the remaining time budget.

    ``analyze`` gets the request view and the features produced so far (read only) and returns
    the fields it sets. It may raise: the pipeline then leaves its fields at their unknown values.

    An inline analyser whose cost grows with the prompt may also have an ``inline_chars``
    attribute (an int): for a request with more text than that (``view.total_chars``), the
    pipeline runs it in the worker thread instead, so that a huge prompt does not hold the caller's
    thread (the event loop) for its whole scan.
    """

    @property
    def name(self) -> str: ...

    @property
    def provides(self) -> tuple[str, ...]: ...

    @property
    def inline(self) -> bool: ...

    def analyze(self, view: RequestView, partial: Mapping[str, Any]) -> Mapping[str, Any]: ...
