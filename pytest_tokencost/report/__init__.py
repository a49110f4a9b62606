"""The report family: every output made from a run's `TokenReport` (pytest-free).

* `document` — the `token-report.json` models, their JSON Schema, reading a report back;
* `empty_report` — the same document of a run that recorded nothing, without the models;
* `render` — the terminal "Token & Cost" section; `ci` — Markdown, the GitHub step summary and
  annotations; `junit` — JUnit XML properties;
* `history`, `history_schema`, `history_view`, `run_history` — the SQLite run history, its
  JSON form, `tokencost history`, and a run's part in it;
* `compare`, `gates`, `gate_options` — a run against a baseline, and the cost gates;
* `combine` — `tokencost combine`, adding up sharded runs;
* `rebuild` — the report of a run killed before it wrote one, from its `records.jsonl`;
  `checks` — the report's cost and total checks, made from records.

The HTML page lives beside this package, in `pytest_tokencost.html` (it has templates, assets
and loaders of its own). The report models are exported here, imported on first use, so that
loading a module of this family (the terminal section of a run that recorded nothing) does not
import pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .document import (
        SCHEMA_VERSION,
        Baseline,
        BudgetEntry,
        CostCheck,
        GateVerdict,
        PriceInfo,
        RunInfo,
        TokenReport,
        TotalCheck,
        load_json,
        read_json_model,
        read_report,
        report_schema,
    )

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BudgetEntry",
    "CostCheck",
    "GateVerdict",
    "PriceInfo",
    "RunInfo",
    "TokenReport",
    "TotalCheck",
    "load_json",
    "read_json_model",
    "read_report",
    "report_schema",
]

# ReportFileError: importable from here as before the package split.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {**dict.fromkeys(__all__, "document"), "ReportFileError": ".errors"},
    __all__,
    globals(),
)
