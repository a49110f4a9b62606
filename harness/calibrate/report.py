"""The calibration report: metrics, per-case and per-step results, and their Token & Cost."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pytest_tokencost.constants import CALIBRATION_REPORT_NAME
from pytest_tokencost.outdir import atomic_write_text
from pytest_tokencost.records import Provenance
from pytest_tokencost.render import format_duration, format_usd
from pytest_tokencost.report import read_json_model
from pytest_tokencost.summary import TokenSummary, TokenTotals, case_key

from .metrics import CalibrationMetrics, provenance_label
from .runner import CaseResult

__all__ = [
    "CALIBRATION_REPORT_NAME",
    "UNATTRIBUTED",
    "CalibrationReport",
    "counts_of",
    "read_calibration_report",
    "render_calibration",
]


class CalibrationReport(BaseModel):
    """The whole `calibration-report.json` document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    run_id: str
    scenario: str
    adapter: str
    adapter_provenance: Provenance = Field(
        description="Where the counts really came from: the least exact provenance among the "
        "records (the adapter's nominal one only when nothing was recorded)."
    )
    token_counts: str = Field(
        description='The counts\' provenance as measured: "reported", or a mix such as '
        '"mixed: 9,000 reported, 1,200 estimated".'
    )
    ratios_file: str | None = Field(default=None, description="--cost-calibration file applied.")
    metrics: CalibrationMetrics
    cases: list[CaseResult]
    tokens: TokenSummary = Field(description="Token & Cost of the calibration cases only.")
    unattributed: TokenTotals | None = Field(
        default=None,
        description="Transcript usage logged during the run outside every dispatch window "
        "(--cost-transcripts): counted, never dropped, attributed to no case or step.",
    )
    warnings: list[str] = Field(default_factory=list)

    def write(self, path: Path) -> None:
        """Write atomically (temp file + rename)."""
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")


def read_calibration_report(path: Path) -> CalibrationReport:
    """Load a `calibration-report.json` (or the one in the folder `path`)."""
    if path.is_dir():
        path = path / CALIBRATION_REPORT_NAME
    return read_json_model(path, CalibrationReport, "calibration report")


def render_calibration(report: CalibrationReport) -> list[str]:
    """The lines of the Calibration section: metrics, then per-case Token & Cost."""
    lines = _headline(report)
    lines += ["", "Per step:", *_step_table(report)]
    lines += ["", "Per case:", *_case_table(report)]
    failures = [case for case in report.cases if case.error]
    lines += [f"{case.case_id}: {case.error}" for case in failures]
    lines += [f"Warning: {warning}" for warning in report.warnings]
    return lines


def _headline(report: CalibrationReport) -> list[str]:
    """Scenario, adapter, pass rate and M18; the ratios applied and unattributed usage."""
    metrics = report.metrics
    lines = [
        f"Scenario {report.scenario} via {report.adapter} (token counts {report.token_counts})",
        f"Cases passed:    {metrics.passed} of {metrics.cases} ({metrics.pass_rate:.0%})",
        f"M18 total_prompt_tokens: {metrics.m18_total_prompt_tokens:,} ({metrics.m18_source})",
    ]
    if report.ratios_file:
        lines.append(f"Estimates scaled by the ratios in {report.ratios_file} (calibrated)")
    loose = report.unattributed
    if loose is not None and loose.records:
        lines.append(
            f"Unattributed:    {loose.records} logged response(s) outside every dispatch "
            f"window: {loose.usage.input:,} input, {loose.usage.output:,} output tokens "
            f"({format_usd(loose.cost_micro_usd)}); in token-report.json as test "
            f"{UNATTRIBUTED!r}"
        )
    return lines


def _cost(tokens: TokenTotals | None) -> str:
    """A row's cost: "-" when nothing was recorded."""
    return format_usd(tokens.cost_micro_usd) if tokens and tokens.records else "-"


def _step_table(report: CalibrationReport) -> list[str]:
    """Accuracy and Token & Cost per step."""
    from tabulate import tabulate

    step_tokens = report.tokens.by_step
    rows: list[tuple[object, ...]] = []
    for step in report.metrics.steps:
        tokens = step_tokens.get(step.step)
        rows.append(
            (
                step.step,
                step.runs,
                step.errors,
                f"{step.accuracy:.0%}",
                f"{tokens.usage.input:,}" if tokens else "-",
                f"{tokens.usage.output:,}" if tokens else "-",
                _cost(tokens),
            )
        )
    table: str = tabulate(
        rows,
        ["step", "runs", "errors", "accuracy", "input", "output", "cost"],
        colalign=("left", "right", "right", "right", "right", "right", "right"),
    )
    return table.splitlines()


def _case_table(report: CalibrationReport) -> list[str]:
    """Token & Cost, wall clock and result per case."""
    from tabulate import tabulate

    case_tokens = report.tokens.by_case
    rows = [
        (
            case.case_id,
            case.step_count,
            f"{case.prompt_tokens:,}",
            f"{case.artifact_tokens:,}",
            _cost(case_tokens.get(case_key(report.scenario, case.case_id))),
            format_duration(case.wall_ms / 1000),
            "pass" if case.passed else "FAIL",
        )
        for case in report.cases
    ]
    table: str = tabulate(
        rows,
        ["case", "steps", "input", "output", "cost", "wall", "result"],
        colalign=("left", "right", "right", "right", "right", "right", "left"),
    )
    return table.splitlines()


#: The test id of records that no dispatch window took (see `calibrate.session`).
UNATTRIBUTED = "(unattributed)"


def counts_of(tokens: TokenSummary, nominal: Provenance) -> tuple[Provenance, str]:
    """The real provenance of a run's counts (the least exact present) and its label."""
    from .recording import weakest

    present = [kind for kind, count in tokens.totals.tokens_by_provenance.items() if count > 0]
    kind = weakest(present) or nominal
    return kind, provenance_label(tokens.totals.tokens_by_provenance) or (
        f"{nominal.value} (nothing recorded)"
    )
