"""The session budget ledger: one pool shared by every process of a run, in SQLite.

pytest-xdist workers are separate processes, so the session's pool lives in a small SQLite
file in the output folder (WAL journal, one short ``BEGIN IMMEDIATE`` transaction per charge).
A run with ``-n 4`` stops at the same budget as a serial run; it can overshoot by at most the
records that were already in flight when the cap was hit, one per worker.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..constants import DEFAULT_WARN_AT
from ..errors import TokenCostError
from .limits import BudgetStatus, Channel, TokenBudgetExceeded, amount_text, channel_name, status_of

__all__ = ["LEDGER_NAME", "BudgetLedger", "LedgerError"]

LEDGER_NAME = "budget-ledger.sqlite"
SESSION = "session"


class LedgerError(TokenCostError):
    """The ledger file cannot be opened or is not a budget ledger."""

    __module__ = "pytest_tokencost.ledger"  # its name in messages, as before budget/ existed


class BudgetLedger:
    """A session budget pool in SQLite; `total == free + reserved + committed` per channel."""

    def __init__(self, path: Path, run_id: str, warn_at: float = DEFAULT_WARN_AT) -> None:
        self.path = path
        self.run_id = run_id
        self.warn_at = warn_at
        self._lock = threading.Lock()
        self.limits_usd = False
        try:
            self._db = sqlite3.connect(
                path, timeout=60, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self.limits_usd = (
                self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'pools'").fetchone()
                is not None
                and self._db.execute(
                    "SELECT 1 FROM pools WHERE run_id = ? AND channel = ?",
                    (run_id, Channel.MICRO_USD.value),
                ).fetchone()
                is not None
            )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the budget ledger {path}: {exc}") from exc

    @classmethod
    def create(
        cls,
        path: Path,
        run_id: str,
        limits: Mapping[Channel, int],
        warn_at: float = DEFAULT_WARN_AT,
    ) -> BudgetLedger:
        """Start this run's pool (the controller does this once, before any worker charges)."""
        ledger = cls(path, run_id, warn_at)
        try:
            with ledger._lock:
                ledger._db.execute(
                    "CREATE TABLE IF NOT EXISTS pools (run_id TEXT, channel TEXT, total INTEGER, "
                    "free INTEGER, reserved INTEGER, committed INTEGER, warned INTEGER, "
                    "PRIMARY KEY (run_id, channel))"
                )
                ledger._db.execute("DELETE FROM pools WHERE run_id != ?", (run_id,))
                ledger._db.executemany(
                    "INSERT OR REPLACE INTO pools VALUES (?, ?, ?, ?, 0, 0, 0)",
                    [(run_id, channel.value, limit, limit) for channel, limit in limits.items()],
                )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot create the budget ledger {path}: {exc}") from exc
        ledger.limits_usd = Channel.MICRO_USD in limits
        return ledger

    def _transaction(
        self, sql: str, params: list[tuple[object, ...]], warned: bool = False
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    previously = dict(
                        self._db.execute(
                            "SELECT channel, warned FROM pools WHERE run_id = ?", (self.run_id,)
                        ).fetchall()
                    )
                    self._db.executemany(sql, params)
                    rows = [
                        (*row[:5], bool(row[5]) and not previously.get(row[0]))
                        if warned
                        else row[:5]
                        for row in self._db.execute(
                            "SELECT channel, total, free, reserved, committed, warned FROM pools "
                            "WHERE run_id = ?",
                            (self.run_id,),
                        ).fetchall()
                    ]
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise LedgerError(f"budget ledger {self.path}: {exc}") from exc
        if not rows:
            raise LedgerError(f"budget ledger {self.path} has no pool for run {self.run_id}")
        return rows

    def charge(self, spent: Mapping[Channel, int]) -> list[str]:
        """Commit spend that happened; return the warn lines it crossed (each once per run).

        Raises `TokenBudgetExceeded` if the session reached a limit.
        """
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        charged = {channel: amount for channel, amount in spent.items() if amount}
        rows = self._transaction(
            "UPDATE pools SET committed = committed + ?, free = free - ?, "
            "warned = warned OR (committed + ? + reserved >= total * ?) "
            "WHERE run_id = ? AND channel = ?",
            [
                (amount, amount, amount, self.warn_at, self.run_id, channel.value)
                for channel, amount in charged.items()
            ],
            warned=True,
        )
        warnings = []
        for channel, total, _free, _reserved, committed, newly_warned in rows:
            kind = Channel(channel)
            if kind in charged and committed >= total:
                raise TokenBudgetExceeded(SESSION, kind, committed, total)
            if newly_warned and committed < total:
                warnings.append(
                    f"budget warning: the session reached {100 * committed / total:.0f}% of "
                    f"its {channel_name(kind)} budget ({amount_text(kind, committed)} of "
                    f"{amount_text(kind, total)})"
                )
        return warnings

    def reserve(self, amounts: Mapping[Channel, int]) -> None:
        """Set `amounts` aside if they fit on every channel; else raise and reserve nothing."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        wanted = {channel.value: amount for channel, amount in amounts.items() if amount}
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for channel, amount in wanted.items():
                    row = self._db.execute(
                        "SELECT total, free, committed, reserved FROM pools "
                        "WHERE run_id = ? AND channel = ?",
                        (self.run_id, channel),
                    ).fetchone()
                    if row is not None and amount > row[1]:
                        self._db.execute("ROLLBACK")
                        raise TokenBudgetExceeded(
                            SESSION, Channel(channel), row[2] + row[3] + amount, row[0]
                        )
                self._db.executemany(
                    "UPDATE pools SET reserved = reserved + ?, free = free - ? "
                    "WHERE run_id = ? AND channel = ?",
                    [(a, a, self.run_id, channel) for channel, a in wanted.items()],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise LedgerError(f"budget ledger {self.path}: {exc}") from exc

    def reconcile(self, reserved: Mapping[Channel, int], spent: Mapping[Channel, int]) -> None:
        """Release a reservation and commit what was really spent."""
        __tracebackhide__ = True  # a budget failure shows the test's line, not ours
        self._transaction(
            "UPDATE pools SET reserved = reserved - ?, free = free + ? "
            "WHERE run_id = ? AND channel = ?",
            [(a, a, self.run_id, ch.value) for ch, a in reserved.items()],
        )
        self.charge(spent)

    def exhausted(self) -> bool:
        """Whether any session channel is used up (new tests must not start)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM pools WHERE run_id = ? AND committed >= total LIMIT 1",
                (self.run_id,),
            ).fetchone()
        return row is not None

    def statuses(self) -> list[BudgetStatus]:
        """Every session channel, as reports show it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel, total, free, reserved, committed FROM pools WHERE run_id = ? "
                "ORDER BY channel",
                (self.run_id,),
            ).fetchall()
        result = []
        for channel, total, free, reserved, committed in rows:
            if total != free + reserved + committed:
                raise LedgerError(f"budget ledger {self.path}: {channel} is not conserved")
            status = status_of(committed, reserved, total, self.warn_at)
            result.append(
                BudgetStatus(
                    scope=SESSION,
                    channel=Channel(channel),
                    limit=total,
                    used=committed,
                    reserved=reserved,
                    remaining=free,
                    percent=round(100.0 * committed / total, 2),
                    status=status,
                    own=0,
                    children=committed,
                )
            )
        return result

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            self._db.close()
