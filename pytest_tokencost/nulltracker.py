"""The tracker `token_tracker` hands out when accounting is off (`--no-cost`).

Like `--benchmark-disable`: a suite written against the tracker keeps working unchanged, and
nothing is counted, priced, charged to a budget, written or printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import ScopeRun, TokenRecord, Usage
    from .summary import TokenSummary

__all__ = ["NullTokenTracker"]


class NullTokenTracker:
    """`InMemoryTokenTracker`'s interface, recording nothing.

    `observe(response)` still reads the response's usage and returns it (a test may assert on
    it), without recording it; `record(...)`, `step(...)` and `case(...)` (budgets included)
    do nothing; `summary()` is empty and `records()` is `[]`.
    """

    def __init__(self, test_id: str | None = None) -> None:
        self.test_id = test_id
        self.warnings: list[str] = []
        self.attempt = 1

    def record(self, **kwargs: Any) -> None:
        """Record nothing."""

    def observe(self, response: Any, *, provider: str | None = None, **kwargs: Any) -> Usage:
        """Read and return the response's usage; record nothing."""
        from .providers import usage_from

        return usage_from(response, provider).usage

    @contextmanager
    def step(self, name: str, **kwargs: Any) -> Iterator[None]:
        """No attribution, no timing, no budget."""
        yield

    @contextmanager
    def case(self, case_id: str, **kwargs: Any) -> Iterator[None]:
        """No attribution, no timing, no budget."""
        yield

    def current_scope(self) -> tuple[str | None, str | None]:
        """Never inside a case or step."""
        return None, None

    def records(self) -> list[TokenRecord]:
        """Always empty."""
        return []

    def scope_runs(self) -> list[ScopeRun]:
        """Always empty."""
        return []

    def summary(self) -> TokenSummary:
        """An empty summary."""
        from .summary import TokenSummary

        return TokenSummary()

    def __len__(self) -> int:
        return 0
