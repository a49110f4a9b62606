"""Collecting a calibration run's case results and writing its report (pytest-free)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_tokencost.records import Provenance, ScopeRun, TokenRecord
from pytest_tokencost.summary import TokenSummary

from .metrics import compute_metrics
from .report import CALIBRATION_REPORT_NAME, CalibrationReport
from .runner import CaseResult

__all__ = ["CalibrationCollector"]


class CalibrationCollector:
    """Case results by scenario, as they arrive (from this process or from xdist workers)."""

    def __init__(self, adapter: str, provenance: Provenance, ratios_file: Path | None) -> None:
        self.adapter = adapter
        self.provenance = provenance
        self.ratios_file = ratios_file
        self.results: dict[str, dict[str, CaseResult]] = {}
        self.warnings: list[str] = []

    def add(self, payload: Any) -> None:
        """Take one case's exported result (``{"scenario": id, "result": {...}}``)."""
        try:
            scenario = str(payload["scenario"])
            result = CaseResult.model_validate(payload["result"])
        except (TypeError, KeyError, ValueError) as exc:
            self.warnings.append(f"a calibration case result could not be read: {exc}")
            return
        self.results.setdefault(scenario, {})[result.case_id] = result

    def reports(
        self, run_id: str, records: Iterable[TokenRecord], runs: Iterable[ScopeRun]
    ) -> dict[str, CalibrationReport]:
        """One report per scenario, its Token & Cost taken from the run's records."""
        records, runs = list(records), list(runs)
        reports = {}
        for scenario, by_case in sorted(self.results.items()):
            results = [by_case[case_id] for case_id in sorted(by_case)]
            # Scenarios may share case ids: a case is (scenario, case id), and a plain test's
            # case() (no scenario) is never part of a scenario's figures.
            tokens = TokenSummary.from_records(
                [r for r in records if r.scenario == scenario and r.case_id in by_case],
                [r for r in runs if r.scenario == scenario and r.case_id in by_case],
            )
            reports[scenario] = CalibrationReport(
                run_id=run_id,
                scenario=scenario,
                adapter=self.adapter,
                adapter_provenance=self.provenance,
                ratios_file=str(self.ratios_file) if self.ratios_file else None,
                metrics=compute_metrics(results, tokens),
                cases=results,
                tokens=tokens,
            )
        return reports

    @staticmethod
    def file_name(scenario: str, scenarios: int) -> str:
        """`calibration-report.json`, or `<scenario>.calibration-report.json` for several."""
        return (
            CALIBRATION_REPORT_NAME if scenarios == 1 else f"{scenario}.{CALIBRATION_REPORT_NAME}"
        )
