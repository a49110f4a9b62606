"""The tracker's scope stack: which scenario, case, step and budget a record made now belongs to.

Scopes follow `contextvars`, so concurrent asyncio tasks (and threads started with a copied
context) each keep their own. Every closed scope is kept as a `Run` with its wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from .budget import BudgetScope

__all__ = ["NO_FRAME", "Frame", "Run", "ScopeStack"]

Kind = Literal["case", "step"]


class Frame(NamedTuple):
    """The scope open now: what records made inside are attributed and charged to."""

    scenario: str | None
    case: str | None
    step: str | None
    budget: BudgetScope | None


class Run(NamedTuple):
    """One closed case or step scope (or a record that was a step of its own)."""

    kind: Kind
    scenario: str | None
    case: str | None
    step: str | None
    wall_ms: float | None


NO_FRAME = Frame(None, None, None, None)


class ScopeStack:
    """Nested case and step scopes of one tracker, and the runs of those that closed."""

    def __init__(self, name: str) -> None:
        #: The open frame; `var.get()` is `current()` without a Python call (for hot paths).
        self.var: ContextVar[Frame] = ContextVar(name, default=NO_FRAME)
        self._lock = threading.Lock()
        self._runs: list[Run] = []

    def current(self) -> Frame:
        """The innermost open scope (`NO_FRAME` outside every scope)."""
        return self.var.get()

    @contextmanager
    def enter(self, kind: Kind, frame: Frame) -> Iterator[None]:
        """Open `frame` until the block ends (exception or not); then keep its run, timed."""
        token = self.var.set(frame)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.var.reset(token)
            wall_ms = (time.perf_counter() - started) * 1000.0
            run = Run(
                kind, frame.scenario, frame.case, frame.step if kind == "step" else None, wall_ms
            )
            with self._lock:
                self._runs.append(run)

    def runs(self) -> list[Run]:
        """The closed scopes, in the order they closed."""
        with self._lock:
            return list(self._runs)
