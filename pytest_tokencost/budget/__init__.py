"""Budgets: conserved pools of tokens and micro-USD, per scope and for the whole session.

* `limits` — channels, limits from marker keywords, statuses (one ladder), the exception;
* `scope` — `BudgetScope`, the in-process tree of nested pools (session > test > case > step);
* `ledger` — `BudgetLedger`, the session pool shared by every process of a run (SQLite);
* `charger` — `BudgetCharger`, what one record's spend does to the pools that cover it.

The names below are the package's public API, importable from ``pytest_tokencost.budget`` as
before it became a package. The ledger (and so `sqlite3`) is imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .charger import BudgetCharger, UnpricedUnderBudget
from .limits import (
    MAX_LIMIT,
    BudgetStatus,
    Channel,
    Status,
    TokenBudgetExceeded,
    amount_text,
    channel_name,
    limits_from_kwargs,
    status_of,
)
from .scope import BudgetScope, Reservation

if TYPE_CHECKING:
    from .ledger import LEDGER_NAME, BudgetLedger, LedgerError

__all__ = [
    "LEDGER_NAME",
    "MAX_LIMIT",
    "BudgetCharger",
    "BudgetLedger",
    "BudgetScope",
    "BudgetStatus",
    "Channel",
    "LedgerError",
    "Reservation",
    "Status",
    "TokenBudgetExceeded",
    "UnpricedUnderBudget",
    "amount_text",
    "channel_name",
    "limits_from_kwargs",
    "status_of",
]


_LEDGER_NAMES = frozenset({"LEDGER_NAME", "BudgetLedger", "LedgerError"})


def __getattr__(name: str) -> Any:
    """The ledger's names, imported on first use (it needs `sqlite3`)."""
    if name in _LEDGER_NAMES:
        from . import ledger

        return getattr(ledger, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
