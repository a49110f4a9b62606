"""The run history: `history.sqlite` in the output folder, one row per run (pytest-free).

Every pytest run that writes a `token-report.json` appends one row here (the xdist controller
does it, once), with its totals and per-test, per-step, per-model and per-(scenario, case)
aggregates. `tokencost history`, `tokencost compare` and the cost gates read it back.

This module imports only the standard library, so that `tokencost history` answers fast and
other tools (the HTML page) can read the store without pytest or pydantic. The read API:

* `read_runs(where, last=None, branch=None)` -> `list[RunRow]`, newest first;
* `read_run(where, ref)` -> `RunRow` (a run id, or a negative index: ``-1`` is the latest);
* `read_aggregates(where, run_id, kind=None)` -> `list[AggregateRow]`;
* `read_test_history(where, test_id, last=None)` -> `list[TestRunRow]`, newest first.

`where` is the output folder or the `history.sqlite` file itself. Readers never change the
file; a file that is not a history, or one written by a newer pytest-tokencost, raises
`HistoryError` with a message saying what to do. The writer (`HistoryStore.open`) instead moves
such a file aside and starts a new one: a run never fails because of its history.

SQLite in WAL mode, one short `BEGIN IMMEDIATE` transaction per appended run, and a busy
timeout, so that two runs finishing at once both land. The schema's version is SQLite's
`user_version`; `_MIGRATIONS` takes an older file forward step by step.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TokenCostError

if TYPE_CHECKING:
    from ..summary import TokenTotals
    from .document import TokenReport

__all__ = [
    "AGGREGATE_KINDS",
    "HISTORY_NAME",
    "SCHEMA_VERSION",
    "AggregateRow",
    "Amounts",
    "CalibrationRow",
    "HistoryError",
    "HistoryStore",
    "RunEntry",
    "RunRow",
    "TestRunRow",
    "entry_from_empty_document",
    "entry_from_report",
    "history_path",
    "read_aggregates",
    "read_calibration",
    "read_run",
    "read_runs",
    "read_test_history",
]

HISTORY_NAME = "history.sqlite"
#: The version of the tables below; `_MIGRATIONS[v - 1]` takes a file from version v-1 to v.
SCHEMA_VERSION = 2
#: What per-run aggregates are kept: tests, steps, models, and calibration (scenario::case).
AGGREGATE_KINDS = ("test", "step", "model", "case")
_BUSY_MS = 30_000

_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    wall_s REAL NOT NULL,
    exit_status INTEGER,
    status TEXT NOT NULL,
    interrupted INTEGER NOT NULL,
    git_commit TEXT,
    git_branch TEXT,
    git_dirty INTEGER,
    argv TEXT NOT NULL,
    workers INTEGER NOT NULL,
    adapter TEXT,
    genai_prices_version TEXT,
    override_file TEXT,
    override_sha256 TEXT,
    default_rate TEXT,
    default_rate_unknown INTEGER NOT NULL,
    tests INTEGER NOT NULL,
    records INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_read INTEGER,
    cache_write INTEGER,
    reasoning INTEGER,
    cost_micro_usd INTEGER,
    unpriced_records INTEGER NOT NULL,
    budget_status TEXT,
    scenario TEXT,
    m18 INTEGER,
    pass_rate REAL,
    baseline_run_id TEXT,
    gates TEXT NOT NULL
);
CREATE INDEX runs_branch ON runs (git_branch, id);
CREATE TABLE aggregates (
    run INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    records INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_read INTEGER,
    cache_write INTEGER,
    reasoning INTEGER,
    cost_micro_usd INTEGER,
    unpriced_records INTEGER NOT NULL,
    wall_ms REAL NOT NULL,
    PRIMARY KEY (run, kind, key)
) WITHOUT ROWID;
CREATE TABLE calibration (
    run INTEGER NOT NULL,
    scenario TEXT NOT NULL,
    cases INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    pass_rate REAL NOT NULL,
    m18 INTEGER NOT NULL,
    m18_source TEXT NOT NULL,
    PRIMARY KEY (run, scenario)
) WITHOUT ROWID;
"""

#: Version 2: replayed calls (a cassette, a mocked transport) apart from the money spent, on
#: runs and aggregates. Rows of a version-1 file keep NULL there: not kept, never 0.
_V2 = """
ALTER TABLE runs ADD COLUMN replayed_records INTEGER;
ALTER TABLE runs ADD COLUMN replayed_tokens INTEGER;
ALTER TABLE runs ADD COLUMN replayed_cost_micro_usd INTEGER;
ALTER TABLE aggregates ADD COLUMN replayed_records INTEGER;
ALTER TABLE aggregates ADD COLUMN replayed_tokens INTEGER;
ALTER TABLE aggregates ADD COLUMN replayed_cost_micro_usd INTEGER;
"""

#: Forward migrations: index i takes a file from version i to i + 1 (version 0: an empty file).
_MIGRATIONS: tuple[str, ...] = (_V1, _V2)

#: The replayed columns (version 2), in table order, and what a version-1 file reads as.
_REPLAYED = ("replayed_records", "replayed_tokens", "replayed_cost_micro_usd")
_REPLAYED_V1 = ("NULL", "NULL", "NULL")


class HistoryError(TokenCostError):
    """The history file cannot be read (not a history, a newer schema, missing run)."""


# -- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amounts:
    """Tokens by channel and cost of a group of records (a run, a test, a step, a model).

    `priced_micro_usd` sums the priced records; `cost_micro_usd` is that sum only when every
    record was priced, else `None` ("not recorded": never a partial sum shown as the cost); a
    group without records cost nothing. Both are money spent: replayed records (a cassette, a
    mocked transport) are counted in the tokens, and their recorded cost (what the calls would
    cost live) is `replayed_cost_micro_usd`, apart. The replayed figures are `None` in rows of
    a history written before it kept them.
    """

    records: int = 0
    input: int = 0
    output: int = 0
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    priced_micro_usd: int | None = None
    unpriced_records: int = 0
    replayed_records: int | None = 0
    replayed_tokens: int | None = 0
    replayed_cost_micro_usd: int | None = None

    @property
    def total(self) -> int:
        """Input plus output tokens."""
        return self.input + self.output

    @property
    def cost_micro_usd(self) -> int | None:
        """The cost, or `None` when some record has no price (0 when nothing was recorded)."""
        if self.unpriced_records:
            return None
        return 0 if self.records == 0 else self.priced_micro_usd

    @classmethod
    def of(cls, totals: TokenTotals) -> Amounts:
        """The amounts of a report's `TokenTotals`."""
        usage = totals.usage
        return cls(
            records=totals.records,
            input=usage.input,
            output=usage.output,
            cache_read=usage.cache_read,
            cache_write=usage.cache_write,
            reasoning=usage.reasoning,
            priced_micro_usd=totals.cost_micro_usd,
            unpriced_records=totals.unpriced_records,
            replayed_records=totals.replayed_records,
            replayed_tokens=totals.replayed_tokens,
            replayed_cost_micro_usd=totals.replayed_cost_micro_usd,
        )

    def as_json(self) -> dict[str, int | None]:
        """Plain JSON form (`cost_micro_usd` is null when not recorded)."""
        return {
            "records": self.records,
            "input": self.input,
            "output": self.output,
            "total": self.total,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
            "cost_micro_usd": self.cost_micro_usd,
            "priced_micro_usd": self.priced_micro_usd,
            "unpriced_records": self.unpriced_records,
            "replayed_records": self.replayed_records,
            "replayed_tokens": self.replayed_tokens,
            "replayed_cost_micro_usd": self.replayed_cost_micro_usd,
        }


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run of the history."""

    run_id: str
    started: str
    finished: str
    wall_s: float
    exit_status: int | None
    status: str
    interrupted: bool
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    argv: list[str]
    workers: int
    adapter: str | None
    genai_prices_version: str | None
    override_file: str | None
    override_sha256: str | None
    default_rate: str | None
    default_rate_unknown: bool
    tests: int
    totals: Amounts
    budget_status: str | None
    scenario: str | None
    m18: int | None
    pass_rate: float | None
    baseline_run_id: str | None
    gates: list[dict[str, Any]]
    seq: int = 0
    """Order of appending (larger is newer)."""


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """One test, step, model or calibration case of one run."""

    run_id: str
    kind: str
    key: str
    amounts: Amounts
    wall_ms: float


@dataclass(frozen=True, slots=True)
class TestRunRow:
    """One test in one run (for `tokencost history --test`)."""

    run_id: str
    started: str
    git_commit: str | None
    git_branch: str | None
    amounts: Amounts


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """The calibration metrics of one scenario in one run."""

    scenario: str
    cases: int
    passed: int
    pass_rate: float
    m18: int
    m18_source: str


@dataclass
class RunEntry:
    """What one run appends: its row, and its aggregates by kind."""

    row: RunRow
    aggregates: dict[str, dict[str, tuple[Amounts, float]]] = field(default_factory=dict)
    calibration: list[CalibrationRow] = field(default_factory=list)


# -- from a report ------------------------------------------------------------------------------


def _worst_budget(report: TokenReport) -> str | None:
    order = {"ok": 0, "warn": 1, "exceeded": 2}
    statuses = [entry.status.value for entry in report.budgets]
    return max(statuses, key=order.__getitem__) if statuses else None


def entry_from_report(
    report: TokenReport,
    *,
    git: tuple[str | None, str | None, bool | None] = (None, None, None),
    override_sha256: str | None = None,
    default_rate: str | None = None,
    calibration: Sequence[CalibrationRow] = (),
) -> RunEntry:
    """The history entry of a finished run's report (`git` is (commit, branch, dirty))."""
    run, summary = report.run, report.summary
    scenario = ", ".join(row.scenario for row in calibration) or None
    cases = sum(row.cases for row in calibration)
    row = RunRow(
        run_id=run.run_id,
        started=run.started.isoformat(),
        finished=run.finished.isoformat(),
        wall_s=run.wall_s,
        exit_status=run.exit_status,
        status=run.status,
        interrupted=run.status == "interrupted",
        git_commit=git[0],
        git_branch=git[1],
        git_dirty=git[2],
        argv=list(run.argv),  # already redacted by the report
        workers=run.workers,
        adapter=run.adapter,
        genai_prices_version=report.prices.genai_prices_version,
        override_file=report.prices.override_file,
        override_sha256=override_sha256,
        default_rate=default_rate,
        default_rate_unknown=report.prices.default_rate_for_unknown_models,
        tests=len(summary.by_test),
        totals=Amounts.of(summary.totals),
        budget_status=_worst_budget(report),
        scenario=scenario,
        m18=sum(row.m18 for row in calibration) if calibration else None,
        pass_rate=(sum(row.passed for row in calibration) / cases) if cases else None,
        baseline_run_id=report.baseline.run_id if report.baseline is not None else None,
        gates=[verdict.model_dump(mode="json") for verdict in report.gates],
    )
    groups = {
        "test": summary.by_test,
        "step": summary.by_step,
        # one row per model, as the section shows it: dated and undated names together
        "model": summary.rows_by_model_id()[0],
        "case": summary.by_case,
    }
    aggregates = {
        kind: {key: (Amounts.of(totals), totals.wall_ms) for key, totals in group.items()}
        for kind, group in groups.items()
    }
    return RunEntry(row, aggregates, list(calibration))


def entry_from_empty_document(
    document: dict[str, Any],
    *,
    git: tuple[str | None, str | None, bool | None] = (None, None, None),
    override_sha256: str | None = None,
    default_rate: str | None = None,
    calibration: Sequence[CalibrationRow] = (),
) -> RunEntry:
    """`entry_from_report` of a run that recorded nothing, from its report document as plain
    JSON (`empty_report.empty_report_data`), so that such a run never imports the models."""
    from datetime import datetime

    run, prices = document["run"], document["prices"]
    scenario = ", ".join(row.scenario for row in calibration) or None
    cases = sum(row.cases for row in calibration)
    baseline = document.get("baseline")
    row = RunRow(
        run_id=run["run_id"],
        started=datetime.fromisoformat(run["started"]).isoformat(),
        finished=datetime.fromisoformat(run["finished"]).isoformat(),
        wall_s=run["wall_s"],
        exit_status=run["exit_status"],
        status=run["status"],
        interrupted=run["status"] == "interrupted",
        git_commit=git[0],
        git_branch=git[1],
        git_dirty=git[2],
        argv=list(run["argv"]),
        workers=run["workers"],
        adapter=run["adapter"],
        genai_prices_version=prices["genai_prices_version"],
        override_file=prices["override_file"],
        override_sha256=override_sha256,
        default_rate=default_rate,
        default_rate_unknown=prices["default_rate_for_unknown_models"],
        tests=0,
        totals=Amounts(),
        budget_status=None,  # a run with a budget of any scope is not an empty run
        scenario=scenario,
        m18=sum(row.m18 for row in calibration) if calibration else None,
        pass_rate=(sum(row.passed for row in calibration) / cases) if cases else None,
        baseline_run_id=baseline["run_id"] if baseline is not None else None,
        gates=list(document.get("gates", [])),
    )
    aggregates: dict[str, dict[str, tuple[Amounts, float]]] = {
        kind: {} for kind in ("test", "step", "model", "case")
    }
    return RunEntry(row, aggregates, list(calibration))


# -- the file -----------------------------------------------------------------------------------


def history_path(where: Path) -> Path:
    """The history file of an output folder (or `where` itself when it names a file)."""
    return where if where.suffix == ".sqlite" or where.is_file() else where / HISTORY_NAME


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000)
    else:
        connection = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
    return connection


def _version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _check_readable(connection: sqlite3.Connection, path: Path) -> None:
    version = _version(connection)
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"history {path} has schema version {version}, newer than this pytest-tokencost "
            f"reads ({SCHEMA_VERSION}): upgrade pytest-tokencost"
        )


@contextmanager
def _reading(where: Path) -> Iterator[tuple[sqlite3.Connection, int]]:
    """A read-only connection to the history of `where`, and its schema version."""
    path = history_path(where)
    if not path.is_file():
        raise HistoryError(
            f"no run history at {path}: run pytest with the tokencost plugin first "
            "(history is on unless --cost-no-history or tokencost_history = false)"
        )
    try:
        connection = _connect(path, read_only=True)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open history {path}: {exc}") from exc
    try:
        try:
            _check_readable(connection, path)
            version = _version(connection)
            yield connection, version
        except sqlite3.DatabaseError as exc:
            raise HistoryError(
                f"history {path} cannot be read ({exc}); the next pytest run moves it aside "
                "and starts a new one"
            ) from exc
    finally:
        connection.close()


_RUN_COLUMNS = (
    "id, run_id, started, finished, wall_s, exit_status, status, interrupted, git_commit, "
    "git_branch, git_dirty, argv, workers, adapter, genai_prices_version, override_file, "
    "override_sha256, default_rate, default_rate_unknown, tests, records, input, output, "
    "cache_read, cache_write, reasoning, cost_micro_usd, unpriced_records, budget_status, "
    "scenario, m18, pass_rate, baseline_run_id, gates"
)


def _replayed(version: int, prefix: str = "") -> str:
    """The replayed columns to select (NULLs from a version-1 file, which has none)."""
    names = _REPLAYED_V1 if version < 2 else tuple(prefix + name for name in _REPLAYED)
    return ", ".join(names)


def _run_columns(version: int) -> str:
    return f"{_RUN_COLUMNS}, {_replayed(version)}"


def _run_row(values: Sequence[Any]) -> RunRow:
    (seq, run_id, started, finished, wall_s, exit_status, status, interrupted, commit) = values[:9]
    (branch, dirty, argv, workers, adapter, genai, override, sha, rate, unknown) = values[9:19]
    tests = values[19]
    counts = values[20:28]
    budget, scenario, m18, pass_rate, baseline, gates = values[28:34]
    return RunRow(
        run_id=run_id,
        started=started,
        finished=finished,
        wall_s=wall_s,
        exit_status=exit_status,
        status=status,
        interrupted=bool(interrupted),
        git_commit=commit,
        git_branch=branch,
        git_dirty=None if dirty is None else bool(dirty),
        argv=json.loads(argv),
        workers=workers,
        adapter=adapter,
        genai_prices_version=genai,
        override_file=override,
        override_sha256=sha,
        default_rate=rate,
        default_rate_unknown=bool(unknown),
        tests=tests,
        totals=Amounts(*counts, *values[34:37]),
        budget_status=budget,
        scenario=scenario,
        m18=m18,
        pass_rate=pass_rate,
        baseline_run_id=baseline,
        gates=json.loads(gates),
        seq=seq,
    )


def read_runs(where: Path, last: int | None = None, branch: str | None = None) -> list[RunRow]:
    """Runs of the history, newest first: the `last` ones, on `branch` if given."""
    query = "SELECT {columns} FROM runs"
    params: list[Any] = []
    if branch is not None:
        query += " WHERE git_branch = ?"
        params.append(branch)
    query += " ORDER BY id DESC"
    if last is not None:
        query += " LIMIT ?"
        params.append(last)
    with _reading(where) as (connection, version):
        query = query.format(columns=_run_columns(version))
        return [_run_row(values) for values in connection.execute(query, params)]


def read_run(where: Path, ref: str) -> RunRow:
    """One run: by run id, or by a negative index (``-1`` the latest, ``-2`` the one before)."""
    with _reading(where) as (connection, version):
        columns = _run_columns(version)
        if ref.startswith("-") and ref[1:].isdigit() and int(ref) < 0:
            offset = -int(ref) - 1
            values = connection.execute(
                f"SELECT {columns} FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?", (offset,)
            ).fetchone()
            if values is None:
                count = connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                raise HistoryError(
                    f"run {ref} is not in the history {history_path(where)}: it holds "
                    f"{count} run(s)"
                )
            return _run_row(values)
        values = connection.execute(
            f"SELECT {columns} FROM runs WHERE run_id = ?", (ref,)
        ).fetchone()
        if values is None:
            raise HistoryError(
                f"no run {ref!r} in the history {history_path(where)} (see tokencost history)"
            )
        return _run_row(values)


def read_aggregates(where: Path, run_id: str, kind: str | None = None) -> list[AggregateRow]:
    """The per-test / step / model / case aggregates of one run (of one `kind` if given)."""
    query = (
        "SELECT a.kind, a.key, a.records, a.input, a.output, a.cache_read, a.cache_write, "
        "a.reasoning, a.cost_micro_usd, a.unpriced_records, {replayed}, a.wall_ms "
        "FROM aggregates a JOIN runs r ON r.id = a.run WHERE r.run_id = ?"
    )
    params: list[Any] = [run_id]
    if kind is not None:
        query += " AND a.kind = ?"
        params.append(kind)
    query += " ORDER BY a.kind, a.key"
    with _reading(where) as (connection, version):
        query = query.format(replayed=_replayed(version, "a."))
        return [
            AggregateRow(run_id, values[0], values[1], Amounts(*values[2:13]), values[13])
            for values in connection.execute(query, params)
        ]


def read_test_history(where: Path, test_id: str, last: int | None = None) -> list[TestRunRow]:
    """One test's tokens and cost in every run that recorded it, newest first."""
    # Aggregates are clustered by run (appending a run writes one contiguous range, not one
    # page per test, as an index by test would): walk the runs newest first, and look the
    # test up in each by primary key.
    query = (
        "SELECT r.run_id, r.started, r.git_commit, r.git_branch, a.records, a.input, a.output, "
        "a.cache_read, a.cache_write, a.reasoning, a.cost_micro_usd, a.unpriced_records, "
        "{replayed} FROM runs r CROSS JOIN aggregates a "
        "ON a.run = r.id AND a.kind = 'test' AND a.key = ? ORDER BY r.id DESC"
    )
    params: list[Any] = [test_id]
    if last is not None:
        query += " LIMIT ?"
        params.append(last)
    with _reading(where) as (connection, version):
        query = query.format(replayed=_replayed(version, "a."))
        return [
            TestRunRow(values[0], values[1], values[2], values[3], Amounts(*values[4:15]))
            for values in connection.execute(query, params)
        ]


def read_calibration(where: Path, run_id: str) -> list[CalibrationRow]:
    """The calibration metrics of one run, per scenario (empty for a run without --adapter)."""
    with _reading(where) as (connection, _):
        return [
            CalibrationRow(*values)
            for values in connection.execute(
                "SELECT c.scenario, c.cases, c.passed, c.pass_rate, c.m18, c.m18_source "
                "FROM calibration c JOIN runs r ON r.id = c.run WHERE r.run_id = ? "
                "ORDER BY c.scenario",
                (run_id,),
            )
        ]


# -- writing ------------------------------------------------------------------------------------


def _move_aside(path: Path, why: str) -> str:
    """Rename a history file (and its WAL files) out of the way; returns the warning."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.{why}-{stamp}-{os.getpid()}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    return target.name


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to `SCHEMA_VERSION` in one transaction (two runs may race to do it)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _version(connection)
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step].split(";"):
                if statement.strip():
                    connection.execute(statement)
        if version < SCHEMA_VERSION:
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class HistoryStore:
    """The writer's handle on a history file: opened (and repaired) once, appended to once."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection = connection

    @classmethod
    def open(cls, path: Path) -> tuple[HistoryStore, list[str]]:
        """Open `path`, creating or migrating it; a corrupt or newer-schema file is moved
        aside first. Returns the store and warnings to show. Raises `OSError` or
        `sqlite3.Error` only when a fresh file cannot be made either."""
        warnings: list[str] = []
        for attempt in range(2):
            connection = None
            try:
                connection = _connect(path, read_only=False)
                version = _version(connection)  # reads the header: fails on a non-database
                if version > SCHEMA_VERSION:
                    connection.close()
                    moved = _move_aside(path, f"v{version}")
                    warnings.append(
                        f"history {path} has schema version {version}, newer than this "
                        f"pytest-tokencost writes ({SCHEMA_VERSION}): moved aside as {moved}, "
                        "a new history started (upgrade pytest-tokencost to keep using it)"
                    )
                    continue
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                _migrate(connection)
                connection.execute("SELECT COUNT(*) FROM runs").fetchone()
                return cls(path, connection), warnings
            except sqlite3.DatabaseError as exc:
                if connection is not None:
                    connection.close()
                if attempt or (isinstance(exc, sqlite3.OperationalError) and _busy(exc)):
                    raise
                moved = _move_aside(path, "corrupt")
                warnings.append(
                    f"history {path} could not be read ({exc}): moved aside as {moved}, "
                    "a new history started"
                )
        raise sqlite3.DatabaseError(f"history {path} cannot be created")

    @classmethod
    def reopen_damaged(cls, path: Path, error: Exception) -> tuple[HistoryStore, list[str]]:
        """Move a file that failed mid-write aside and open a new one."""
        moved = _move_aside(path, "corrupt")
        store, warnings = cls.open(path)
        warning = (
            f"history {path} is damaged ({error}): moved aside as {moved}, a new history started"
        )
        return store, [warning, *warnings]

    def close(self) -> None:
        """Close the file."""
        self._connection.close()

    def append(self, entry: RunEntry, keep: int | None = None) -> None:
        """Add one run with its aggregates (replacing a run of the same id); then, with
        `keep`, remove all but the newest `keep` runs. One transaction."""
        row = entry.row
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            old = connection.execute("SELECT id FROM runs WHERE run_id = ?", (row.run_id,))
            for (old_id,) in old.fetchall():
                _delete_runs(connection, [old_id])
            totals = row.totals
            cursor = connection.execute(
                f"INSERT INTO runs ({_run_columns(SCHEMA_VERSION).removeprefix('id, ')}) "
                f"VALUES ({', '.join('?' * 36)})",
                (
                    row.run_id,
                    row.started,
                    row.finished,
                    row.wall_s,
                    row.exit_status,
                    row.status,
                    int(row.interrupted),
                    row.git_commit,
                    row.git_branch,
                    None if row.git_dirty is None else int(row.git_dirty),
                    json.dumps(row.argv),
                    row.workers,
                    row.adapter,
                    row.genai_prices_version,
                    row.override_file,
                    row.override_sha256,
                    row.default_rate,
                    int(row.default_rate_unknown),
                    row.tests,
                    *_counts(totals),
                    row.budget_status,
                    row.scenario,
                    row.m18,
                    row.pass_rate,
                    row.baseline_run_id,
                    json.dumps(row.gates),
                    *_replayed_counts(totals),
                ),
            )
            run = cursor.lastrowid
            connection.executemany(
                f"INSERT INTO aggregates (run, kind, key, records, input, output, cache_read, "
                f"cache_write, reasoning, cost_micro_usd, unpriced_records, wall_ms, "
                f"{_replayed(SCHEMA_VERSION)}) VALUES ({', '.join('?' * 15)})",
                (
                    (run, kind, key, *_counts(amounts), wall_ms, *_replayed_counts(amounts))
                    for kind, group in entry.aggregates.items()
                    for key, (amounts, wall_ms) in group.items()
                ),
            )
            connection.executemany(
                "INSERT INTO calibration VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (run, c.scenario, c.cases, c.passed, c.pass_rate, c.m18, c.m18_source)
                    for c in entry.calibration
                ),
            )
            if keep is not None:
                stale = connection.execute(
                    "SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,)
                ).fetchall()
                _delete_runs(connection, [stale_id for (stale_id,) in stale])
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _counts(amounts: Amounts) -> tuple[int | None, ...]:
    return (
        amounts.records,
        amounts.input,
        amounts.output,
        amounts.cache_read,
        amounts.cache_write,
        amounts.reasoning,
        amounts.priced_micro_usd,
        amounts.unpriced_records,
    )


def _replayed_counts(amounts: Amounts) -> tuple[int | None, ...]:
    return (amounts.replayed_records, amounts.replayed_tokens, amounts.replayed_cost_micro_usd)


def _delete_runs(connection: sqlite3.Connection, ids: Iterable[int]) -> None:
    rows = [(run,) for run in ids]
    for table, column in (("aggregates", "run"), ("calibration", "run"), ("runs", "id")):
        connection.executemany(f"DELETE FROM {table} WHERE {column} = ?", rows)
