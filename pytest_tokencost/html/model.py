"""What the HTML page is made from: the run's report and records, and what other parts know.

The page is a pure function of a `PageInput`. The run history and the baseline comparison come
from the history store when it exists; until then, or when a folder has no history, they are
empty and the page says "no history yet". Nothing here imports pytest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..calibration_data import CalibrationData
    from ..pricing import Pricer
    from ..records import TokenRecord
    from ..report import TokenReport

__all__ = ["Comparison", "ComparisonRow", "GateVerdict", "PageInput", "PastRun"]


@dataclass(frozen=True, slots=True)
class PastRun:
    """One earlier run, as the run history table shows it."""

    run_id: str
    started: datetime
    tests: int
    tokens: int
    cost_micro_usd: int | None
    commit: str | None = None
    branch: str | None = None
    status: str | None = None
    #: Cost of each test in that run (for one test's trend); empty when not kept.
    test_costs: dict[str, int | None] = field(default_factory=dict)
    #: Calls replayed from a recording (a cassette); None when the history did not keep it.
    replayed_records: int | None = 0
    #: What those calls would cost live ("recorded cost"), never in `cost_micro_usd`.
    recorded_micro_usd: int | None = None


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One compared figure: the run's total, a test or a model, against the baseline's."""

    kind: str  # "total", "test" or "model"
    name: str
    baseline_tokens: int | None
    current_tokens: int | None
    baseline_micro_usd: int | None
    current_micro_usd: int | None


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """One cost gate's outcome (e.g. "total cost +20% at most")."""

    name: str
    passed: bool
    detail: str
    #: The verdict's word (PASS, FAIL, WARN, NOT ENFORCED (would FAIL)), as the section says it.
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The run against its baseline (`--cost-compare`), with the gates' verdicts."""

    baseline: str
    rows: Sequence[ComparisonRow] = ()
    gates: Sequence[GateVerdict] = ()


@dataclass(frozen=True, slots=True)
class PageInput:
    """Everything one page shows.

    `history` holds earlier runs, oldest first, without this one; `this_run` is this run's own
    row of the history when it is there (its git commit and branch: the report does not keep
    them). `pricer` prices what the cache saved (uncached prices); without one the savings are
    "not recorded". `warn_at` is the run's --cost-warn-at when the report does not say it.
    """

    report: TokenReport
    records: Sequence[TokenRecord]
    history: Sequence[PastRun] | None = None
    this_run: PastRun | None = None
    comparison: Comparison | None = None
    calibration: Sequence[CalibrationData] = ()
    pricer: Pricer | None = None
    warn_at: float | None = None
    notes: Sequence[str] = ()
