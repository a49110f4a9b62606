"""The calibration section of the core's outputs, read as plain data.

The calibration harness (`calibrate`) writes `*calibration-report.json` next to
`token-report.json`; the HTML page shows them. The core reads those files through the models
here, which hold only what the page shows and ignore the rest, so the core never imports the
harness (and runs without it installed). The harness's own model
(`calibrate.report.CalibrationReport`) is the complete, strict one: every report it writes
reads here (tests/test_calibration_data.py checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .constants import CALIBRATION_REPORT_NAME
from .errors import ReportFileError
from .summary import TokenSummary

__all__ = [
    "CALIBRATION_REPORT_NAME",
    "CalibrationCase",
    "CalibrationData",
    "CalibrationMetricsData",
    "CalibrationStep",
    "read_calibration_data",
    "run_calibration_data",
]

_READ = ConfigDict(frozen=True, extra="ignore")


class CalibrationStep(BaseModel):
    """One step's accuracy across the cases that reached it."""

    model_config = _READ

    step: str
    runs: int
    errors: int
    accuracy: float
    fields_matched: int
    fields_scored: int


class CalibrationMetricsData(BaseModel):
    """The run's calibration metrics (M18 and the pass rate among them)."""

    model_config = _READ

    cases: int
    passed: int
    pass_rate: float
    steps: list[CalibrationStep]
    m18_total_prompt_tokens: int
    m18_source: str


class CalibrationCase(BaseModel):
    """One case: its token totals, wall clock and whether it passed."""

    model_config = _READ

    case_id: str
    prompt_tokens: int
    artifact_tokens: int
    step_count: int
    wall_ms: float
    passed: bool


class CalibrationData(BaseModel):
    """What the core shows of one `calibration-report.json` (schema version 1)."""

    model_config = _READ

    schema_version: Literal[1] = 1
    run_id: str
    scenario: str
    adapter: str
    token_counts: str
    metrics: CalibrationMetricsData
    cases: list[CalibrationCase]
    tokens: TokenSummary


def read_calibration_data(path: Path) -> CalibrationData:
    """Load a calibration report's shown part (raises `ReportFileError` naming the file)."""
    from .report import read_json_model

    return read_json_model(path, CalibrationData, "calibration report")


def run_calibration_data(folder: Path, run_id: str) -> tuple[list[CalibrationData], list[str]]:
    """The calibration reports in `folder` written by run `run_id`, and problems reading any."""
    reports, problems = [], []
    for path in sorted(folder.glob(f"*{CALIBRATION_REPORT_NAME}")):
        try:
            report = read_calibration_data(path)
        except ReportFileError as exc:
            problems.append(f"calibration section left out: {exc}")
            continue
        if report.run_id == run_id:
            reports.append(report)
    return reports, problems
