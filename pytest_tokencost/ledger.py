"""The session budget ledger's old import path: it lives in `pytest_tokencost.budget.ledger`."""

from __future__ import annotations

from .budget.ledger import LEDGER_NAME, BudgetLedger, LedgerError
from .budget.limits import BudgetStatus, Channel, Status, TokenBudgetExceeded

__all__ = [
    "LEDGER_NAME",
    "BudgetLedger",
    "BudgetStatus",
    "Channel",
    "LedgerError",
    "Status",
    "TokenBudgetExceeded",
]
