"""Collecting a run's test payloads in the process that writes the reports (pytest-free)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .payload import TestPayload
    from .records import ScopeRun, TokenRecord
    from .report import BudgetEntry

__all__ = ["Collector"]


class Collector:
    """Records, scope runs, budgets and warnings of a run, as its tests' payloads arrive.

    `on_records` is told of every batch of records at once (the run's `records.jsonl` is
    appended as the run goes). A payload is counted once per (test, attempt): the same attempt
    arriving twice (a plugin that replays reports) is refused with a warning.

    A payload that travelled (from an xdist worker) is validated; one this process made and
    announced with `expect` arrives as the very same object and is taken as it was made.
    """

    def __init__(self, on_records: Callable[[list[TokenRecord]], None] | None = None) -> None:
        self.records: list[TokenRecord] = []
        self.runs: list[ScopeRun] = []
        self.budgets: list[BudgetEntry] = []
        self.warnings: list[str] = []
        #: Records that could not be counted (a payload that did not validate, an export
        #: error): a run that lost numbers must say so loudly, not only in a warning.
        self.lost: list[str] = []
        self.duplicates = 0
        self.interrupted_tests: list[str] = []
        self.extensions: dict[str, list[Any]] = {}
        self._on_records = on_records
        self._seen: set[tuple[str, int]] = set()
        self._expected: dict[int, tuple[Any, TestPayload]] = {}

    def expect(self, data: dict[str, Any], payload: TestPayload) -> None:
        """`data` is `payload`'s plain form, made in this process: when the same object comes
        back to `add_data` (on the test's report), take `payload` without validating it."""
        self._expected[id(data)] = (data, payload)

    def add_data(self, data: Any, source: str, *, resent: bool = False) -> TestPayload | None:
        """Take one test's payload as it travelled (plain JSON types); validate it first,
        unless this process made it (see `expect`)."""
        expected = self._expected.pop(id(data), None)
        if expected is not None and expected[0] is data:
            self.add(expected[1], resent=resent)
            return expected[1]
        from .payload import read_payload

        payload, problem = read_payload(data, source)
        if payload is None:
            problem = problem or f"the records of {source} could not be read"
            self.warnings.append(problem)
            self.lost.append(problem)
            return None
        self.add(payload, resent=resent)
        return payload

    def add(self, payload: TestPayload, *, resent: bool = False) -> None:
        """Take one test's payload. A payload `resent` after an interrupt (in case the first
        copy was lost in flight) is taken only if the first copy never arrived."""
        key = (payload.test_id, payload.attempt)
        if key in self._seen:
            if not resent:
                self.warnings.append(
                    f"the records of {payload.test_id} (attempt {payload.attempt}) arrived "
                    "twice; counted once"
                )
            return
        self._seen.add(key)
        if payload.error is not None:
            problem = f"some records of {payload.test_id} could not be exported: {payload.error}"
            self.warnings.append(problem)
            self.lost.append(problem)
        if payload.interrupted:
            self.interrupted_tests.append(payload.test_id)
        self.duplicates += payload.duplicates
        self.budgets.extend(payload.budgets)
        self.warnings.extend(payload.warnings)
        for name, value in payload.extensions.items():
            self.extensions.setdefault(name, []).append(value)
        self.add_records(payload.records, payload.runs)

    def add_records(self, records: list[TokenRecord], runs: Iterable[ScopeRun] = ()) -> None:
        """Take records (and scope runs) made outside any test payload."""
        self.records.extend(records)
        self.runs.extend(runs)
        if records and self._on_records is not None:
            self._on_records(records)

    def has_unpriced(self) -> bool:
        """True when some record of the run has no price ("not recorded")."""
        return any(record.cost_micro_usd is None for record in self.records)

    def unpriced_models(self) -> list[str]:
        """Names of the models whose records have no price."""
        from .summary import NO_MODEL

        return sorted({r.model or NO_MODEL for r in self.records if r.cost_micro_usd is None})
