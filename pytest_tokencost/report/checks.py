"""The report's checks of what a source said about its own usage (pytest-free): made from
the records alone, so a run's report and a report rebuilt from `records.jsonl` agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..records import TokenRecord
    from .document import CostCheck, TotalCheck

__all__ = ["cost_checks", "total_checks"]


def cost_checks(records: Sequence[TokenRecord]) -> list[CostCheck]:
    """Records whose source reported its own cost, against the computed one (1 micro-USD
    of rounding allowed)."""
    from .document import CostCheck

    return [
        CostCheck(
            test_id=r.test_id,
            model=r.model,
            computed_micro_usd=r.cost_micro_usd,
            reported_micro_usd=r.reported_cost_micro_usd,
            agrees=r.cost_micro_usd is not None
            and abs(r.cost_micro_usd - r.reported_cost_micro_usd) <= 1,
        )
        for r in records
        if r.reported_cost_micro_usd is not None
    ]


def total_checks(records: Sequence[TokenRecord]) -> list[TotalCheck]:
    """Records whose source's total_tokens disagrees with the usage's total."""
    from .document import TotalCheck

    return [
        TotalCheck(
            test_id=r.test_id,
            model=r.model,
            computed=r.usage.total,
            reported=r.reported_total_tokens,
        )
        for r in records
        if r.reported_total_tokens is not None and r.reported_total_tokens != r.usage.total
    ]
