"""`tokencost combine`: the output folders of sharded runs merged into one report (pytest-free).

A suite split across CI jobs (pytest-split, a job matrix) writes one output folder per shard.
Combining follows coverage.py's discipline: nothing lost (every record and every breakdown of
every readable shard), nothing counted twice (a shard given twice, or two copies of one run,
is refused: records are keyed by run id, test and attempt), an unreadable input is named and
left where it is (nothing is ever deleted), and the rest is still combined. The combined
summary is the exact sum of the shards' summaries, so its totals equal those of one unsharded
run of the same tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from ..errors import ReportFileError, TokenCostError
from ..records import TokenRecord
from ..runfiles import RECORDS_NAME, REPORT_NAME, RunFiles
from ..summary import TokenSummary
from .document import BudgetEntry, RunInfo, TokenReport, read_report

__all__ = ["Combined", "Shard", "add_to_history", "combine", "read_shard"]

#: A combined run's status is its worst shard's, in this order.
_STATUS_ORDER = ("internal-error", "interrupted", "usage-error", "failed", "passed", "no-tests")


class Shard(NamedTuple):
    """One readable input: its report and its records (as read, and as their JSON lines)."""

    path: Path
    report: TokenReport
    records: list[TokenRecord]
    lines: list[str]


class Combined(NamedTuple):
    """What `combine` wrote, and the inputs it left out (each named, with why)."""

    report: TokenReport
    shards: list[Shard]
    unreadable: list[str]
    problems: list[str]


def _report_path(path: Path) -> Path:
    return path / REPORT_NAME if path.is_dir() else path


def read_shard(path: Path) -> Shard:
    """One shard: an output folder (or a run's folder `runs/<run id>`), or its
    `token-report.json`, with the `records.jsonl` beside it. Raises `ReportFileError` saying
    what is wrong when it cannot be combined as it is.

    A killed run's folder (records, no report; see `rebuild`) is read from its records.
    """
    from .rebuild import killed_run, rebuild

    run_dir = killed_run(path)
    if run_dir is not None:
        rebuilt = rebuild(run_dir)
        return Shard(path, rebuilt.report, rebuilt.records, rebuilt.lines)
    report_file = _report_path(path)
    report = read_report(report_file)
    records_file = report_file.with_name(RECORDS_NAME)
    try:
        text = records_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
        if report.summary.totals.records:
            raise ReportFileError(
                f"{records_file} is missing, and its report counts "
                f"{report.summary.totals.records:,} records"
            ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportFileError(f"cannot read {records_file}: {exc}") from exc
    records: list[TokenRecord] = []
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            records.append(TokenRecord.model_validate_json(line))
        except ValidationError as exc:
            raise ReportFileError(
                f"{records_file} line {number} is not a record ({exc.errors()[0]['msg']}); "
                "a torn last line means the run was killed while writing"
            ) from exc
    if len(records) != report.summary.totals.records:
        raise ReportFileError(
            f"{records_file} holds {len(records):,} records and {report_file} counts "
            f"{report.summary.totals.records:,}: they are not the same run's"
        )
    others = {r.run_id for r in records if r.run_id is not None} - {report.run.run_id}
    if others:
        raise ReportFileError(
            f"{records_file} holds records of run(s) {', '.join(sorted(others))}, not only of "
            f"its report's run {report.run.run_id}"
        )
    return Shard(path, report, records, lines)


def _check_once(shards: Sequence[Shard]) -> None:
    """Refuse records that two inputs both hold (the same run, test and attempt)."""
    owner: dict[tuple[str | None, str | None, int], int] = {}
    clashes: list[str] = []
    for index, shard in enumerate(shards):
        keys = {(shard.report.run.run_id, r.test_id, r.attempt) for r in shard.records}
        if not keys:
            keys = {(shard.report.run.run_id, None, 1)}  # a run with no records is a run too
        for key in sorted(keys, key=str):
            first = owner.setdefault(key, index)
            if first != index:
                clashes.append(
                    f"run {key[0]}"
                    + (f" test {key[1]} attempt {key[2]}" if key[1] is not None else "")
                    + f" is in both {shards[first].path} and {shard.path}"
                )
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise TokenCostError(
            f"refusing to count records twice: {clashes[0]}{more}; give each shard's output "
            "folder once"
        )


def _session_scoped(entry: BudgetEntry, run_id: str) -> BudgetEntry:
    """A shard's session budget was its own pool: name its run."""
    if entry.scope != "session":
        return entry
    return entry.model_copy(update={"scope": f"session of run {run_id}"})


def _joined(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def _worst_status(runs: Sequence[RunInfo]) -> tuple[str, int | None]:
    """The combined status (the worst of the shards') and the exit status of a shard with it."""
    statuses = {run.status for run in runs}
    status = next((s for s in _STATUS_ORDER if s in statuses), sorted(statuses)[0])
    return status, next(run.exit_status for run in runs if run.status == status)


def _run_info(shards: Sequence[Shard], argv: list[str]) -> RunInfo:
    runs = [shard.report.run for shard in shards]
    started = min(run.started for run in runs)
    finished = max(run.finished for run in runs)
    status, exit_status = _worst_status(runs)
    adapters = {run.adapter for run in runs}
    now = datetime.now(UTC)
    return RunInfo(
        run_id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
        started=started,
        finished=finished,
        wall_s=max(0.0, (finished - started).total_seconds()),
        pytest_version=_joined(run.pytest_version for run in runs),
        plugin_version=_joined(run.plugin_version for run in runs),
        argv=argv,
        adapter=adapters.pop() if len(adapters) == 1 else None,
        workers=sum(run.workers for run in runs),
        exit_status=exit_status,
        status=status,
        interrupted_tests=[test for run in runs for test in run.interrupted_tests],
        combined_from=[run.run_id for run in runs],
    )


def _check_paths(paths: Sequence[Path], out: Path) -> None:
    """Refuse missing inputs, an unusable `out`, and an `out` that is one of the inputs."""
    from ..runfiles import OutputDirError, check_output_dir

    for path in paths:
        if not path.exists():
            raise TokenCostError(f"no such file or folder: {path}")
    try:
        check_output_dir(out.resolve(), "--out")
    except OutputDirError as exc:
        raise TokenCostError(str(exc)) from None
    targets = {_report_path(path).resolve().parent for path in paths}
    if out.resolve() in targets:
        raise TokenCostError(
            f"--out {out} is one of the inputs; combining into it would replace that shard's "
            "report: choose another folder"
        )


def _read_shards(paths: Sequence[Path]) -> tuple[list[Shard], list[str]]:
    """The readable shards, oldest first, and the problems of the unreadable ones."""
    shards: list[Shard] = []
    unreadable: list[str] = []
    for path in paths:
        try:
            shards.append(read_shard(path))
        except ReportFileError as exc:
            unreadable.append(f"{path}: {exc}")
    if not shards:
        raise TokenCostError(
            "nothing to combine: no input could be read; " + "; ".join(unreadable[:3])
        )
    shards.sort(key=lambda shard: (shard.report.run.started, shard.report.run.run_id))
    return shards, unreadable


def _warnings(shards: Sequence[Shard], unreadable: Sequence[str]) -> list[str]:
    """The shards' warnings (each naming its run), a price-data mismatch, unreadable inputs."""
    warnings = [f"run {s.report.run.run_id}: {w}" for s in shards for w in s.report.warnings]
    if len({s.report.prices.genai_prices_version for s in shards}) > 1:
        warnings.append(
            "the shards were priced with different genai-prices versions: "
            + ", ".join(
                f"{s.report.run.run_id}: {s.report.prices.genai_prices_version}" for s in shards
            )
        )
    return warnings + [f"left out, unreadable: {problem}" for problem in unreadable]


def combine(paths: Sequence[Path], out: Path, argv: list[str]) -> Combined:
    """Merge the shards in `paths` into the output folder `out` (its runs/<id>/ folder and
    top-level pair, as a pytest run writes them).

    Raises `TokenCostError` before writing anything when a path does not exist, `out` is one
    of the inputs, records would count twice, or no input can be read.
    """
    from ..redact import redact, redact_argv

    _check_paths(paths, out)
    shards, unreadable = _read_shards(paths)
    _check_once(shards)
    summary = sum((shard.report.summary for shard in shards), TokenSummary())
    run = _run_info(shards, redact_argv(argv))
    report = TokenReport(
        run=run,
        prices=shards[0].report.prices,
        summary=summary,
        budgets=[_session_scoped(b, s.report.run.run_id) for s in shards for b in s.report.budgets],
        cost_checks=[check for s in shards for check in s.report.cost_checks],
        total_checks=[check for s in shards for check in s.report.total_checks],
        duplicates_dropped=sum(s.report.duplicates_dropped for s in shards),
        warnings=[redact(w) for w in dict.fromkeys(_warnings(shards, unreadable))],
    )
    files = RunFiles(out, run.run_id, ())
    for shard in shards:
        files.append_records(shard.lines)
    files.publish(report.model_dump_json(indent=2) + "\n")
    return Combined(report, shards, unreadable, list(files.problems))


def add_to_history(report: TokenReport, out: Path, cwd: Path) -> list[str]:
    """Append a combined run to `out`'s history.sqlite, as a pytest run writing there does
    (git commit and branch read at `cwd`). Returns problems: a history that cannot be used
    is named, never fatal (the combined report is already written)."""
    import sqlite3

    from ..gitinfo import read_git
    from .history import HISTORY_NAME, HistoryStore, entry_from_report

    path = out / HISTORY_NAME
    git = read_git(cwd)
    try:
        if path.is_symlink():
            raise OSError(f"{path} is a symbolic link; remove it")
        store, warnings = HistoryStore.open(path)
        try:
            store.append(entry_from_report(report, git=(git.commit, git.branch, git.dirty)))
        finally:
            store.close()
    except (OSError, sqlite3.Error) as exc:
        return [f"the combined run could not be added to the history {path}: {exc}"]
    return warnings
