"""What `tokencost history` prints: a table or a JSON document of the run history.

The document is built from the history's rows with plain Python (the command answers fast);
its JSON Schema comes from the pydantic models in `history_schema`, and a test checks that
the documents validate against them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from .history import Amounts, RunRow, TestRunRow

__all__ = ["HISTORY_JSON_VERSION", "history_document", "history_table", "test_table"]

#: Version of the `tokencost history --json` document (2: replayed calls in every totals).
HISTORY_JSON_VERSION = 2


def _change(head: Amounts, base: Amounts | None) -> dict[str, Any] | None:
    """Head against the run before it (None for the oldest run shown)."""
    if base is None:
        return None
    tokens = head.total - base.total
    percent = float(round(Decimal(tokens * 100) / base.total, 2)) if base.total else None
    hc, bc = head.cost_micro_usd, base.cost_micro_usd
    return {
        "tokens": tokens,
        "tokens_percent": percent,
        "cost_micro_usd": None if hc is None or bc is None else hc - bc,
    }


def _pairs(rows: list[Any], older: Any | None) -> list[tuple[Any, Any | None]]:
    """Each row with the one before it in time (rows are newest first)."""
    return [(row, rows[i + 1] if i + 1 < len(rows) else older) for i, row in enumerate(rows)]


def _run_json(row: RunRow, previous: RunRow | None) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "started": row.started,
        "finished": row.finished,
        "wall_s": row.wall_s,
        "status": row.status,
        "exit_status": row.exit_status,
        "interrupted": row.interrupted,
        "git": {"commit": row.git_commit, "branch": row.git_branch, "dirty": row.git_dirty},
        "argv": row.argv,
        "workers": row.workers,
        "adapter": row.adapter,
        "genai_prices_version": row.genai_prices_version,
        "override_file": row.override_file,
        "override_sha256": row.override_sha256,
        "tests": row.tests,
        "totals": row.totals.as_json(),
        "change": _change(row.totals, previous.totals if previous else None),
        "budget_status": row.budget_status,
        "scenario": row.scenario,
        "m18": row.m18,
        "pass_rate": row.pass_rate,
        "baseline_run_id": row.baseline_run_id,
        "gates": row.gates,
    }


def _test_json(row: TestRunRow, previous: TestRunRow | None) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "started": row.started,
        "git": {"commit": row.git_commit, "branch": row.git_branch, "dirty": None},
        "totals": row.amounts.as_json(),
        "change": _change(row.amounts, previous.amounts if previous else None),
    }


def history_document(
    path: Path,
    runs: list[RunRow],
    older: RunRow | None,
    test: str | None = None,
    test_runs: list[TestRunRow] | None = None,
    test_older: TestRunRow | None = None,
) -> dict[str, Any]:
    """The `tokencost history --json` document (`older`: the run before the oldest shown)."""
    return {
        "schema_version": HISTORY_JSON_VERSION,
        "history": str(path),
        "test": test,
        "runs": [_run_json(row, prev) for row, prev in _pairs(runs, older)],
        "test_runs": None
        if test_runs is None
        else [_test_json(row, prev) for row, prev in _pairs(test_runs, test_older)],
    }


def _usd(micro: int | None) -> str:
    from ..money import format_usd

    return format_usd(micro)


def _change_text(change: dict[str, Any] | None) -> str:
    if change is None:
        return "-"
    percent = change["tokens_percent"]
    text = f"{change['tokens']:+,}" + (f" ({percent:+.1f}%)" if percent is not None else "")
    cost = change["cost_micro_usd"]
    if cost is not None:
        text += f", {'-' if cost < 0 else '+'}{_usd(abs(cost))}"
    return text


#: Under the runs table (each line fits 80 columns), each when its column is shown: "*" only
#: when a commit shown has uncommitted changes (never outside git), "recorded" when shown.
_DIRTY_NOTE = "* uncommitted changes"
_CHANGE_NOTE = "change: against the run before"
_RECORDED_NOTE = "(cost: money spent; recorded: what replayed calls would cost live)"


def _recorded(totals: dict[str, Any]) -> str:
    """The recorded cost of the replayed calls: "-" without any, or when not kept (a run
    added to the history before it kept them)."""
    if not totals["replayed_records"]:
        return "-"
    return _usd(totals["replayed_cost_micro_usd"])


def _when(text: str) -> str:
    return text[:16].replace("T", " ")


def _commit(git: dict[str, Any]) -> str:
    commit = (git["commit"] or "-")[:9]
    return commit + ("*" if git["dirty"] else "")


def _width(cells: list[list[str]], keep: list[int]) -> int:
    return sum(max(len(row[i]) for row in cells) for i in keep) + 2 * (len(keep) - 1)


def _kept_columns(cells: list[list[str]], width: int | None, drops: tuple[str, ...]) -> list[int]:
    """The columns that stay: those named in `drops` go until the table fits `width`, first
    those that say nothing in any row ("-"), then in the order given."""
    headers = cells[0]
    keep = list(range(len(headers)))
    if width is None or _width(cells, keep) <= width:
        return keep
    names = [headers.index(name) for name in drops if name in headers]
    empty = [i for i in names if all(row[i] == "-" for row in cells[1:])]
    for index in [*empty, *(i for i in names if i not in empty)]:
        if _width(cells, keep) <= width:
            break
        keep.remove(index)
    return keep


def _tabulate(
    rows: list[tuple[Any, ...]],
    headers: list[str],
    align: str,
    width: int | None = None,
    drops: tuple[str, ...] = (),
) -> list[str]:
    """A plain text table (`align`: one 'l' or 'r' per column). Not tabulate: it imports
    importlib.metadata, which would double the command's start-up.

    Wider than `width`: the columns named in `drops` go, first those that say nothing in any
    row ("-"), then in the order given, until it fits."""
    cells = [headers, *([str(cell) for cell in row] for row in rows)]
    keep = _kept_columns(cells, width, drops)
    cells = [[row[i] for i in keep] for row in cells]
    align = "".join(align[i] for i in keep)
    widths = [max(len(row[i]) for row in cells) for i in range(len(keep))]

    def line(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if a == "l" else cell.rjust(w)
            for cell, w, a in zip(row, widths, align, strict=True)
        ).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]


def history_table(document: dict[str, Any], width: int | None = None) -> list[str]:
    """The runs of a history document as a table, newest first (fitting `width` columns:
    when (the run id starts with its time), branch, commit, budget, tests and change give
    way, in that order)."""
    rows = [
        (
            run["run_id"],
            _when(run["started"]),
            _commit(run["git"]),
            run["git"]["branch"] or "-",
            run["tests"],
            f"{run['totals']['total']:,}",
            _usd(run["totals"]["cost_micro_usd"]),
            _recorded(run["totals"]),
            _change_text(run["change"]),
            run["budget_status"] or "-",
            run["status"],
        )
        for run in document["runs"]
    ]
    headers = ["run", "when (UTC)", "commit", "branch", "tests", "tokens", "cost", "recorded"]
    # a run id begins with its start time: "when" is the first to go after the empty ones
    drops = ("when (UTC)", "branch", "commit", "budget", "tests", "recorded", "change")
    headers += ["change", "budget", "status"]
    table = _tabulate(rows, headers, "llllrrrrrll", width, drops)
    return [*table, *_notes(table, any(row[2].endswith("*") for row in rows))]


def _notes(table: list[str], dirty: bool) -> list[str]:
    """The footnotes of the columns `table` shows (its first line holds the headers)."""
    shown = f" {table[0]} "
    first = [
        note
        for note, column in ((_DIRTY_NOTE, " commit "), (_CHANGE_NOTE, " change "))
        if column in shown and (note != _DIRTY_NOTE or dirty)
    ]
    notes = [f"({'; '.join(first)})"] if first else []
    return notes + ([_RECORDED_NOTE] if " recorded " in shown else [])


def test_table(document: dict[str, Any], width: int | None = None) -> list[str]:
    """One test's runs as a table, newest first (fitting `width`, as `history_table`)."""
    rows = [
        (
            run["run_id"],
            _when(run["started"]),
            _commit(run["git"]),
            run["git"]["branch"] or "-",
            f"{run['totals']['input']:,}",
            f"{run['totals']['output']:,}",
            f"{run['totals']['total']:,}",
            _usd(run["totals"]["cost_micro_usd"]),
            _recorded(run["totals"]),
            _change_text(run["change"]),
        )
        for run in document["test_runs"] or []
    ]
    headers = ["run", "when (UTC)", "commit", "branch", "input", "output", "tokens", "cost"]
    drops = ("when (UTC)", "branch", "commit", "input", "output", "recorded", "change")
    table = _tabulate(rows, [*headers, "recorded", "change"], "llllrrrrrr", width, drops)
    return [f"Test {document['test']}:", *table]
