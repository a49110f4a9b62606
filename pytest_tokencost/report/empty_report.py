"""The report of a run that recorded nothing, from the standard library alone.

A suite that never records still prints its Token & Cost section and writes its
`token-report.json` (with `--cost-report`). Building that document through the report models
would import pydantic, the models and the pricing module (about 100 ms) to write zeros; this
module writes the same document — the same keys and values as
`TokenReport.model_dump(mode="json")` — from plain dicts. `tests/test_empty_report.py` checks
it against the models, the committed JSON Schema and `tokencost report`.

Only a run with no records, no scope runs and no budget of any scope takes this path; warnings,
interrupted tests and the run's metadata are plain strings and numbers, so they may be present.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["NO_TOKENS", "SCHEMA_VERSION", "describe_rate", "empty_report_data", "iso_datetime"]

#: What the Token & Cost section says for a run without records (and without budgets).
NO_TOKENS = "No tokens recorded."

#: `SCHEMA_VERSION` of `document.py`, repeated here so the empty path imports no model;
#: `tests/test_empty_report.py` checks that the two agree.
SCHEMA_VERSION = 5


def describe_rate(text: str) -> str:
    """``$3/$15 per MTok`` for a rate given as ``INPUT,OUTPUT`` (as `pricing.Rate.describe`)."""
    given, taken = (Decimal(part.strip()) for part in text.split(","))
    return f"${given.normalize():f}/${taken.normalize():f} per MTok"


def iso_datetime(moment: datetime) -> str:
    """A UTC datetime as pydantic writes it in JSON: ``2026-01-01T10:20:30.123456Z``."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _empty_usage() -> dict[str, Any]:
    return {
        "input": 0,
        "output": 0,
        "cache_read": None,
        "cache_write": None,
        "reasoning": None,
        "cache_write_1h": None,
        "web_searches": None,
    }


def _empty_summary() -> dict[str, Any]:
    return {
        "totals": {
            "records": 0,
            "steps": 0,
            "usage": _empty_usage(),
            "cost_micro_usd": None,
            "input_cost_micro_usd": None,
            "output_cost_micro_usd": None,
            "records_by_price_source": {},
            "wall_ms": 0.0,
            "tokens_by_provenance": {},
            "replayed_records": 0,
            "replayed_tokens": 0,
            "replayed_cost_micro_usd": None,
            "replayed_unpriced_records": 0,
        },
        "by_test": {},
        "by_case": {},
        "by_step": {},
        "by_model": {},
        "unpriced_models": [],
        "model_ids": {},
    }


def empty_report_data(
    run: dict[str, Any],
    prices: dict[str, Any],
    duplicates: int,
    warnings: list[str],
    baseline: dict[str, Any] | None = None,
    gates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report document of a run without records, runs or budgets, as plain JSON types.

    `run` holds `RunInfo`'s fields (datetimes as `datetime`), `prices` `PriceInfo`'s;
    `baseline` and `gates` are the JSON dumps of the history's models (a run that compared
    or gated has imported them already).
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            key: iso_datetime(value) if isinstance(value, datetime) else value
            for key, value in run.items()
        },
        "prices": dict(prices),
        "summary": _empty_summary(),
        "budgets": [],
        "cost_checks": [],
        "total_checks": [],
        "duplicates_dropped": duplicates,
        "warnings": list(warnings),
        "baseline": baseline,
        "gates": list(gates or []),
    }
