"""The report of a run killed before it wrote one, rebuilt from its `records.jsonl`
(pytest-free).

A run appends its records to `runs/<run id>/records.jsonl` as tests finish and writes its
`token-report.json` only at the end; a run killed in between (SIGKILL, a CI cancel that
escalates, the machine stopping) leaves the records alone. `tokencost report` and `tokencost
combine` read such a folder through `killed_run` and `rebuild`: the summary is made from the
records exactly as the run would have made it (`TokenSummary.from_records`, the same cost and
total checks), the status is `interrupted`, and a warning says the report was rebuilt and what
it cannot know. A torn last line (the kill landed while it was being written) is left out and
named.

A folder whose `records.jsonl` a live run still holds open (see `runfiles.still_writing`) is a
run in progress, not a killed one: it is never rebuilt.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import ReportFileError
from ..runfiles import RECORDS_NAME, REPORT_NAME, RUNS_DIR, still_writing
from .render import REBUILT_PREFIX

if TYPE_CHECKING:
    from ..records import TokenRecord
    from .document import TokenReport

__all__ = ["Rebuilt", "killed_run", "rebuild", "rebuilt_note"]

#: A run id starts with the time the run started (`RunState`), to the second.
_RUN_ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)-")


class Rebuilt(NamedTuple):
    """A killed run's report made from its records, the records, and their JSON lines."""

    run_dir: Path
    report: TokenReport
    records: list[TokenRecord]
    lines: list[str]


def _is_killed_run_dir(folder: Path) -> bool:
    """A run's own folder holding records but no report (an output folder has `runs/`)."""
    return (folder / RECORDS_NAME).is_file() and _without_report(folder)


def _without_report(folder: Path) -> bool:
    """Neither a report nor an output folder's `runs/`: a run's folder, killed (or empty)."""
    return not (folder / REPORT_NAME).exists() and not (folder / RUNS_DIR).is_dir()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


def _newest_killed(output_dir: Path) -> Path | None:
    """The output folder's run killed last, when it wrote after the folder's top-level report
    (so it is the newest run there); runs still writing are skipped."""
    try:
        folders = [p for p in (output_dir / RUNS_DIR).iterdir() if p.is_dir()]
    except OSError:
        return None
    killed = [
        folder
        for folder in folders
        if _is_killed_run_dir(folder) and not still_writing(folder / RECORDS_NAME)
    ]
    if not killed:
        return None
    newest = max(killed, key=lambda folder: _mtime(folder / RECORDS_NAME))
    if _mtime(newest / RECORDS_NAME) <= _mtime(output_dir / REPORT_NAME):
        return None
    return newest


def killed_run(path: Path) -> Path | None:
    """The killed run's folder that `path` stands for, else None (read its report as usual).

    `path` is a run's folder (`runs/<run id>`, or a copy of one), its missing
    `token-report.json`, or an output folder whose newest run is such a folder. Raises
    `ReportFileError` for a run's folder whose run is still writing it.
    """
    if not path.is_dir():
        if path.name != REPORT_NAME or path.exists() or not path.parent.is_dir():
            return None
        path = path.parent
    if _without_report(path):  # `rebuild` says what is missing when there are no records
        if still_writing(path / RECORDS_NAME):
            raise ReportFileError(
                f"the run writing {path / RECORDS_NAME} is still running: its report is "
                "written when it ends"
            )
        return path
    return _newest_killed(path)


def _read_lines(records_file: Path) -> tuple[list[TokenRecord], list[str], str | None]:
    """The records of `records_file`, their lines, and a note on a torn last line."""
    from pydantic import ValidationError

    from ..records import TokenRecord

    try:
        text = records_file.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ReportFileError(f"cannot read {records_file}: {exc.strerror or exc}") from exc
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    records: list[TokenRecord] = []
    lines: list[str] = []
    torn = None
    for index, (number, line) in enumerate(numbered):
        try:
            records.append(TokenRecord.model_validate_json(line.encode("utf-8", "surrogateescape")))
        except ValidationError as exc:
            if index < len(numbered) - 1:
                raise ReportFileError(
                    f"{records_file} line {number} is not a record "
                    f"({exc.errors()[0]['msg']}); only a torn last line is left out"
                ) from exc
            torn = (
                f"line {number} of {records_file} is torn (the run was killed while writing "
                f"it: {len(line.encode('utf-8', 'surrogateescape')):,} bytes, not a whole "
                "record) and is left out"
            )
            continue
        lines.append(line)
    return records, lines, torn


def _run_id(run_dir: Path, records: list[TokenRecord]) -> str:
    ids = {r.run_id for r in records if r.run_id is not None}
    if len(ids) > 1:
        raise ReportFileError(
            f"{run_dir / RECORDS_NAME} holds records of several runs ({', '.join(sorted(ids))})"
            "; a run's folder holds one run's"
        )
    return ids.pop() if ids else run_dir.name


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _started(run_id: str, records: list[TokenRecord]) -> datetime:
    """When the run started: its run id says, to the second; else its first record's time."""
    match = _RUN_ID_TIME.match(run_id)
    if match:
        return datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return min(_utc(r.timestamp) for r in records)


def rebuilt_note(records_file: Path) -> str:
    """The warning every rebuilt report carries: where it comes from, and what it lacks."""
    return (
        f"{REBUILT_PREFIX}{records_file}: the run ended (killed) before writing its "
        "token-report.json. Its recorded tokens and costs are all here; its wall clock counts "
        "from its start to its last record (it went on until it was killed, which no record "
        "says). Not known: its budgets, its warnings, its step counts and wall clock (scope "
        "runs), the tests still running when it ended that had sent nothing, and its pytest, "
        "plugin and genai-prices versions, arguments and xdist workers"
    )


def rebuild(run_dir: Path) -> Rebuilt:
    """The report of the killed run in `run_dir`, made from its `records.jsonl`.

    Raises `ReportFileError` naming the folder when there is nothing to rebuild from (no
    records file, no whole record) or a line other than the last is not a record.
    """
    from ..summary import TokenSummary
    from .checks import cost_checks, total_checks
    from .document import PriceInfo, RunInfo, TokenReport

    records_file = run_dir / RECORDS_NAME
    if not records_file.is_file():
        raise ReportFileError(
            f"{run_dir} has neither {REPORT_NAME} nor {RECORDS_NAME}: its run ended before "
            "recording anything (or it is not a run's folder); re-run the tests"
        )
    records, lines, torn = _read_lines(records_file)
    if not records:
        raise ReportFileError(
            f"{records_file} holds no whole record: the run in {run_dir} was killed before "
            "any test's tokens were written; there is nothing to report, re-run the tests"
        )
    run_id = _run_id(run_dir, records)
    started = _started(run_id, records)
    finished = max(started, *(_utc(r.timestamp) for r in records))
    interrupted = [r.test_id for r in records if r.interrupted and r.test_id is not None]
    run = RunInfo(
        run_id=run_id,
        started=started,
        finished=finished,
        wall_s=(finished - started).total_seconds(),
        pytest_version="unknown",
        plugin_version="unknown",
        argv=[],
        status="interrupted",
        interrupted_tests=list(dict.fromkeys(interrupted)),
    )
    report = TokenReport(
        run=run,
        prices=PriceInfo(genai_prices_version=None, default_rate="unknown"),
        summary=TokenSummary.from_records(records),
        cost_checks=cost_checks(records),
        total_checks=total_checks(records),
        warnings=[rebuilt_note(records_file), *([torn] if torn else [])],
    )
    return Rebuilt(run_dir, report, records, lines)
