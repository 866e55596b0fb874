"""Analytics over the request log: read-only aggregates for the HTTP API, the CLI and the dashboard.

- :mod:`.filters`: the time range and filters of a question, and their SQL.
- :mod:`.readers`: read-only connections to the SQLite or Postgres log database.
- :mod:`.queries`: totals, time series and the per-model table.
- :mod:`.routing`: the routing mix, quality from feedback, and savings.
- :mod:`.explorer`: the paged request list and one request in full.
- :mod:`.feedback`: validating feedback and attaching it to a request.

``docs/analytics.md`` documents every answer.
"""

from __future__ import annotations

from switchpoint.analytics.explorer import get_request, list_requests
from switchpoint.analytics.feedback import Feedback, UnknownRequest, parse_feedback, record_feedback, submit_feedback
from switchpoint.analytics.filters import Filters, parse_time
from switchpoint.analytics.queries import Prices, model_table, summary, timeseries
from switchpoint.analytics.readers import LogReader, open_reader, reader_for
from switchpoint.analytics.routing import prices_from_groups, routing_mix, savings

__all__ = [
    "Feedback",
    "Filters",
    "LogReader",
    "Prices",
    "UnknownRequest",
    "get_request",
    "list_requests",
    "model_table",
    "open_reader",
    "parse_feedback",
    "parse_time",
    "prices_from_groups",
    "reader_for",
    "record_feedback",
    "routing_mix",
    "savings",
    "submit_feedback",
    "summary",
    "timeseries",
]
