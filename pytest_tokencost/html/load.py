"""Gather a page's input: from a finished run in memory, or from an output folder on disk.

The folder's `token-report.json` is the run; its `records.jsonl` (published with it, under one
lock, so the pair belongs to one run) gives the records in time order; `*calibration-report.json`
files of the same run give the calibration section. Run history comes from the history store
when the folder has one (see `history_rows`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ReportFileError
from .model import Comparison, ComparisonRow, GateVerdict, PageInput, PastRun

if TYPE_CHECKING:
    from ..calibration_data import CalibrationData
    from ..pricing import Pricer
    from ..records import TokenRecord
    from ..report import TokenReport
    from ..session import RunState

__all__ = [
    "calibration_reports",
    "history_rows",
    "page_from_folder",
    "page_from_killed_run",
    "page_from_run",
    "pricer_for",
]

_RATE_TEXT = re.compile(r"^\$([0-9.]+)/\$([0-9.]+) per MTok$")


def calibration_reports(folder: Path, run_id: str) -> tuple[list[CalibrationData], list[str]]:
    """The calibration reports in `folder` written by run `run_id`, and problems reading any
    (read as plain data: the core never imports the calibration harness)."""
    from ..calibration_data import run_calibration_data

    return run_calibration_data(folder, run_id)


#: How many earlier runs the page shows.
HISTORY_RUNS = 30


def history_rows(folder: Path, run_id: str) -> tuple[list[PastRun] | None, PastRun | None]:
    """Earlier runs from the folder's history store (`history.sqlite`), oldest first, without
    run `run_id`, and run `run_id`'s own row when the history holds it (the report does not
    keep the git commit and branch); (None, None) when the folder keeps no history (or it
    cannot be read)."""
    from datetime import datetime

    from ..history import HISTORY_NAME, HistoryError, RunRow, read_aggregates, read_runs

    if not (folder / HISTORY_NAME).is_file():
        return None, None

    def past(run: RunRow, with_tests: bool = True) -> PastRun:
        return PastRun(
            run_id=run.run_id,
            started=datetime.fromisoformat(run.started),
            tests=run.tests,
            tokens=run.totals.total,
            cost_micro_usd=run.totals.cost_micro_usd,
            commit=run.git_commit,
            branch=run.git_branch,
            status=run.status,
            replayed_records=run.totals.replayed_records,
            recorded_micro_usd=run.totals.replayed_cost_micro_usd,
            test_costs={
                row.key: row.amounts.cost_micro_usd
                for row in read_aggregates(folder, run.run_id, "test")
            }
            if with_tests
            else {},
        )

    try:
        rows = read_runs(folder, last=HISTORY_RUNS + 1)
        runs = [run for run in rows if run.run_id != run_id]
        this = [run for run in rows if run.run_id == run_id]
        earlier = [past(run) for run in reversed(runs[:HISTORY_RUNS])]
        return earlier, (past(this[0], with_tests=False) if this else None)
    except HistoryError:
        return None, None


def comparison_for(report: TokenReport, folder: Path) -> Comparison | None:
    """The run against its baseline (`--cost-compare`, the gates), when it had one: the gates'
    verdicts, and the run's total, tests and models beside the baseline's from the history."""
    from ..history import HISTORY_NAME, HistoryError, read_aggregates, read_run
    from ..report.render import verdict_label

    baseline = report.baseline
    if baseline is None:
        return None
    gates = [
        GateVerdict(
            name=gate.gate,
            passed=gate.status != "fail",
            detail=gate.message,
            label=verdict_label(gate.status, gate.would_be),
        )
        for gate in report.gates
    ]
    rows: list[ComparisonRow] = []
    if baseline.run_id is not None and (folder / HISTORY_NAME).is_file():
        try:
            base = read_run(folder, baseline.run_id).totals
            totals = report.summary.totals
            rows.append(
                ComparisonRow(
                    "total",
                    "this run",
                    base.total,
                    totals.usage.total,
                    base.cost_micro_usd,
                    totals.cost_micro_usd,
                )
            )
            for kind, current in (
                ("test", report.summary.by_test),
                ("model", report.summary.by_model),
            ):
                before = {
                    row.key: row.amounts for row in read_aggregates(folder, baseline.run_id, kind)
                }
                for name in sorted(set(before) | set(current)):
                    was, now = before.get(name), current.get(name)
                    rows.append(
                        ComparisonRow(
                            kind,
                            name,
                            was.total if was else None,
                            now.usage.total if now else None,
                            was.cost_micro_usd if was else None,
                            now.cost_micro_usd if now else None,
                        )
                    )
        except HistoryError:
            rows = []
    label = baseline.run_id or f"{baseline.ref} (none found: {baseline.note or 'no run'})"
    return Comparison(baseline=label, rows=rows, gates=gates)


def pricer_for(report: TokenReport) -> tuple[Pricer | None, str | None]:
    """A pricer like the run's (override file, default rate), to price what the cache saved.

    None, with a note, when the run's override file cannot be read any more.
    """
    from decimal import Decimal

    from ..errors import PriceFileError
    from ..pricing import Pricer, Rate, load_price_overrides

    prices = report.prices
    rate = None
    match = _RATE_TEXT.match(prices.default_rate)
    if match:
        rate = Rate(input_mtok=Decimal(match[1]), output_mtok=Decimal(match[2]))
    overrides = None
    if prices.override_file:
        try:
            overrides = load_price_overrides(Path(prices.override_file))
        except PriceFileError as exc:
            return None, f"cache savings not recorded: the run's price file is unreadable ({exc})"
    pricer = Pricer(overrides, rate, prices.default_rate_for_unknown_models) if rate else None
    if pricer is None:
        return None, f"cache savings not recorded: unknown default rate {prices.default_rate!r}"
    return pricer, None


def read_records(path: Path, run_id: str) -> tuple[list[TokenRecord], list[str]]:
    """The run's records from `records.jsonl`; unreadable lines are named, not guessed."""
    from pydantic import ValidationError

    from ..records import TokenRecord

    records: list[TokenRecord] = []
    bad: list[int] = []
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return [], [f"{path} is missing: the cumulative cost line and cache figures are empty"]
    except OSError as exc:
        raise ReportFileError(f"cannot read records {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = TokenRecord.model_validate_json(line)
                except ValidationError:
                    bad.append(number)
                    continue
                if record.run_id in (None, run_id):
                    records.append(record)
        except UnicodeDecodeError as exc:
            raise ReportFileError(f"records {path} is not UTF-8 text (byte {exc.start})") from exc
    notes = []
    if bad:
        notes.append(
            f"{len(bad)} unreadable line(s) of {path} left out of the cumulative cost line and "
            f"cache figures (first: line {bad[0]}); the totals come from token-report.json"
        )
    return records, notes


def page_from_folder(folder: Path) -> PageInput:
    """A page for the run last published in an output folder (raises ReportFileError)."""
    from ..report import read_report
    from ..runfiles import RECORDS_NAME, REPORT_NAME

    report = read_report(folder / REPORT_NAME)
    run_id = report.run.run_id
    records, notes = read_records(folder / RECORDS_NAME, run_id)
    calibration, problems = calibration_reports(folder, run_id)
    pricer, pricer_note = pricer_for(report)
    history, this_run = history_rows(folder, run_id)
    return PageInput(
        report=report,
        records=records,
        history=history,
        this_run=this_run,
        comparison=comparison_for(report, folder),
        calibration=calibration,
        pricer=pricer,
        notes=[*notes, *problems, *([pricer_note] if pricer_note else [])],
    )


def page_from_killed_run(run_dir: Path) -> PageInput:
    """A page for a run killed before it wrote its report: the report rebuilt from its
    `records.jsonl` (`report.rebuild`), with its output folder's history when `run_dir` is one
    of that folder's `runs/` (raises ReportFileError)."""
    from ..report.rebuild import rebuild
    from ..runfiles import RUNS_DIR

    rebuilt = rebuild(run_dir)
    report = rebuilt.report
    run_id = report.run.run_id
    folder = run_dir.parent.parent if run_dir.parent.name == RUNS_DIR else run_dir
    history, this_run = history_rows(folder, run_id)
    pricer, pricer_note = pricer_for(report)
    return PageInput(
        report=report,
        records=rebuilt.records,
        history=history,
        this_run=this_run,
        comparison=comparison_for(report, folder),
        pricer=pricer,
        notes=[pricer_note] if pricer_note else [],
    )


def page_from_run(state: RunState) -> PageInput:
    """A page for a run that has just finished (its report built)."""
    report = state.report
    if report is None:
        raise ValueError("the run's report is not built yet")
    folder = state.settings.output_dir
    calibration, problems = (
        calibration_reports(folder, state.run_id) if folder.is_dir() else ([], [])
    )
    history, this_run = history_rows(folder, state.run_id)
    return PageInput(
        report=report,
        records=state.records,
        history=history,
        this_run=this_run,
        comparison=comparison_for(report, folder),
        calibration=calibration,
        pricer=state.pricer(),
        warn_at=state.settings.warn_at,
        notes=problems,
    )
