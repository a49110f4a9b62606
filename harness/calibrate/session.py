"""Collecting a calibration run's case results and writing its report (pytest-free)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_tokencost.record_builder import transcript_fields
from pytest_tokencost.records import Provenance, ScopeRun, TokenRecord, Usage
from pytest_tokencost.summary import TokenSummary

from .metrics import compute_metrics
from .recording import provider_of
from .report import CALIBRATION_REPORT_NAME, UNATTRIBUTED, CalibrationReport, counts_of
from .runner import CaseResult

if TYPE_CHECKING:
    from pytest_tokencost.pricing import Pricer
    from pytest_tokencost.transcripts import LateAnswer, TranscriptResponse, TranscriptWatch

__all__ = ["LATE_ANSWER", "CalibrationCollector", "remove_stale_reports"]

#: The test id of late answers found only when the run ended.
LATE_ANSWER = "(late answer)"


class CalibrationCollector:
    """Case results by scenario, as they arrive (from this process or from xdist workers)."""

    def __init__(self, adapter: str, provenance: Provenance, ratios_file: Path | None) -> None:
        self.adapter = adapter
        self.provenance = provenance
        self.ratios_file = ratios_file
        self.results: dict[str, dict[str, CaseResult]] = {}
        self.warnings: list[str] = []
        self.unattributed: list[TokenRecord] = []

    def add(self, payload: Any) -> None:
        """Take one case's exported result (``{"scenario": id, "result": {...}}``)."""
        try:
            scenario = str(payload["scenario"])
            result = CaseResult.model_validate(payload["result"])
        except (TypeError, KeyError, ValueError) as exc:
            self.warnings.append(f"a calibration case result could not be read: {exc}")
            return
        self.results.setdefault(scenario, {})[result.case_id] = result
        self.warnings.extend(result.warnings)

    def counted_responses(self) -> set[str]:
        """Identities of every transcript response some case already counted."""
        return {
            key
            for by_case in self.results.values()
            for result in by_case.values()
            for key in (
                *result.late_response_ids,
                *(key for step in result.steps for key in step.response_ids),
            )
        }

    def sweep(
        self, watch: TranscriptWatch, since: datetime, pricer: Pricer, run_id: str | None = None
    ) -> list[TokenRecord]:
        """At the end of a run: records for the transcript usage no window took.

        Late answers of timed-out steps whose done marker came after the last window are
        counted in their own case and step (test id ``(late answer)``); every other response
        stamped since `since` is unattributed (test id ``(unattributed)``, no case, no step).
        Each comes with a warning. The records are kept for the reports and returned.
        """
        watch.taken |= self.counted_responses()
        loose = watch.sweep(since)
        records: list[TokenRecord] = []
        for late in watch.late_answers():
            for response in late.responses:
                records.append(_record(response, len(records), pricer, run_id, LATE_ANSWER, late))
            if late.responses:
                self.warnings.append(
                    f"late answer: case {late.case!r} step {late.step!r} was answered after "
                    f"its deadline ({late.deadline:%H:%M:%S} UTC); its {len(late.responses)} "
                    "logged response(s) are counted in that step"
                )
        for response in loose:
            record = _record(response, len(records), pricer, run_id, UNATTRIBUTED, None)
            records.append(record)
            self.unattributed.append(record)
        if loose:
            usage = sum((r.usage for r in loose), Usage())
            self.warnings.append(
                f"{len(loose)} transcript response(s) logged during the run fell outside every "
                f"dispatch window ({usage.input:,} input, {usage.output:,} output tokens): "
                f"counted as unattributed (test {UNATTRIBUTED!r}, no case or step)"
            )
        for problem in watch.problems:
            if problem not in self.warnings:
                self.warnings.append(problem)
        return records

    def reports(
        self, run_id: str, records: Iterable[TokenRecord], runs: Iterable[ScopeRun]
    ) -> dict[str, CalibrationReport]:
        """One report per scenario, its Token & Cost taken from the run's records."""
        records, runs = list(records), list(runs)
        unattributed = (
            TokenSummary.from_records(self.unattributed, []).totals if self.unattributed else None
        )
        reports = {}
        for scenario, by_case in sorted(self.results.items()):
            results = [by_case[case_id] for case_id in sorted(by_case)]
            # Scenarios may share case ids: a case is (scenario, case id), and a plain test's
            # case() (no scenario) is never part of a scenario's figures.
            tokens = TokenSummary.from_records(
                [r for r in records if r.scenario == scenario and r.case_id in by_case],
                [r for r in runs if r.scenario == scenario and r.case_id in by_case],
            )
            provenance, label = counts_of(tokens, self.provenance)
            reports[scenario] = CalibrationReport(
                run_id=run_id,
                scenario=scenario,
                adapter=self.adapter,
                adapter_provenance=provenance,
                token_counts=label,
                ratios_file=str(self.ratios_file) if self.ratios_file else None,
                metrics=compute_metrics(results, tokens),
                cases=results,
                tokens=tokens,
                unattributed=unattributed,
                warnings=list(dict.fromkeys(self.warnings)),
            )
        return reports

    @staticmethod
    def file_name(scenario: str, scenarios: int) -> str:
        """`calibration-report.json`, or `<scenario>.calibration-report.json` for several."""
        return (
            CALIBRATION_REPORT_NAME if scenarios == 1 else f"{scenario}.{CALIBRATION_REPORT_NAME}"
        )


def remove_stale_reports(folder: Path, written: Iterable[str]) -> None:
    """Delete calibration reports of earlier runs that this run did not rewrite."""
    keep = set(written)
    for path in folder.glob(f"*{CALIBRATION_REPORT_NAME}"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _record(
    response: TranscriptResponse,
    seq: int,
    pricer: Pricer,
    run_id: str | None,
    test_id: str,
    late: LateAnswer | None,
) -> TokenRecord:
    from datetime import UTC

    when = response.timestamp or datetime.now(UTC)
    price = pricer.price(response.model, provider_of(response), response.usage, when)
    return TokenRecord(
        **transcript_fields(
            response,
            seq=seq,
            price=price,
            timestamp=when,
            run_id=run_id,
            test_id=test_id,
            scenario=late.scenario if late is not None else None,
            case_id=late.case if late is not None else None,
            step=late.step if late is not None else None,
            late=late is not None,
        )
    )
