"""Collecting a run's test payloads in the process that writes the reports (pytest-free)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .records import ScopeRun, TokenRecord
    from .report import BudgetEntry

__all__ = ["Collector"]

_Model = TypeVar("_Model", bound="BaseModel")


class _Documents(Generic[_Model]):
    """Items that arrive as JSON documents (or models) and are read as models.

    A test's payload keeps its records as plain documents until the end of the run: a model
    per record would cost the test its build and every garbage collection its objects.
    """

    def __init__(self, load: Callable[[], type[_Model]]) -> None:
        self.items: list[Any] = []
        self._load = load
        self._validated = 0

    def extend(self, items: Iterable[Any]) -> None:
        self.items.extend(items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def models(self) -> list[_Model]:
        """Every item as a model (documents validated once, in place)."""
        items = self.items
        if self._validated < len(items):
            model = self._load()
            for index in range(self._validated, len(items)):
                if isinstance(items[index], dict):
                    items[index] = model.model_validate(items[index])
            self._validated = len(items)
        return items


def _record_model() -> type[TokenRecord]:
    from .records import TokenRecord

    return TokenRecord


def _run_model() -> type[ScopeRun]:
    from .records import ScopeRun

    return ScopeRun


def _budget_model() -> type[BudgetEntry]:
    from .report import BudgetEntry

    return BudgetEntry


class Collector:
    """Records, scope runs, budgets and warnings of a run, as its tests' payloads arrive.

    `on_records` is told of every batch of records at once (the run's `records.jsonl` is
    appended as the run goes): documents (dicts) when a payload brought them, models when
    a harness added them. A payload is counted once per (test, attempt): the same attempt
    arriving twice (a plugin that replays reports) is refused with a warning.

    A payload that travelled (from an xdist worker) is validated; one this process made and
    announced with `expect` arrives as the very same object and is taken as it was made.
    """

    def __init__(self, on_records: Callable[[list[Any]], None] | None = None) -> None:
        self._records: _Documents[TokenRecord] = _Documents(_record_model)
        self._runs: _Documents[ScopeRun] = _Documents(_run_model)
        self._budgets: _Documents[BudgetEntry] = _Documents(_budget_model)
        self.warnings: list[str] = []
        #: Records that could not be counted (a payload that did not validate, an export
        #: error): a run that lost numbers must say so loudly, not only in a warning.
        self.lost: list[str] = []
        self.duplicates = 0
        self.interrupted_tests: list[str] = []
        self.extensions: dict[str, list[Any]] = {}
        self._on_records = on_records
        self._seen: set[tuple[str, int]] = set()
        self._expected: dict[int, dict[str, Any]] = {}

    @property
    def records(self) -> list[TokenRecord]:
        """The records collected so far, as models."""
        return self._records.models()

    @property
    def runs(self) -> list[ScopeRun]:
        """The scope runs collected so far, as models."""
        return self._runs.models()

    @property
    def budgets(self) -> list[BudgetEntry]:
        """The budget statuses of the tests collected so far, as models."""
        return self._budgets.models()

    def has_records(self) -> bool:
        """Whether any record was collected."""
        return bool(self._records)

    def has_data(self) -> bool:
        """Whether any record, scope run or test budget was collected."""
        return bool(self._records or self._runs or self._budgets)

    def expect(self, data: dict[str, Any]) -> None:
        """`data` is a payload made in this process (`payload.export_data`): when the same
        object comes back to `add_data` (on the test's report), take it without validating."""
        self._expected[id(data)] = data

    def add_data(self, data: Any, source: str, *, resent: bool = False) -> bool:
        """Take one test's payload as it travelled (plain JSON types); validate it first,
        unless this process made it (see `expect`). False when it could not be read."""
        made_here = self._expected.pop(id(data), None)
        if made_here is not None and made_here is data:
            self._take(made_here, resent)
            return True
        from .payload import read_payload

        payload, problem = read_payload(data, source)
        if payload is None:
            problem = problem or f"the records of {source} could not be read"
            self.warnings.append(problem)
            self.lost.append(problem)
            return False
        self._take(dict(payload), resent)
        return True

    def _take(self, payload: Mapping[str, Any], resent: bool) -> None:
        """Take one payload's fields (plain documents, or models inside a validated one).
        A payload `resent` after an interrupt (in case the first copy was lost in flight) is
        taken only if the first copy never arrived."""
        test_id, attempt = payload["test_id"], payload["attempt"]
        key = (test_id, attempt)
        if key in self._seen:
            if not resent:
                self.warnings.append(
                    f"the records of {test_id} (attempt {attempt}) arrived twice; counted once"
                )
            return
        self._seen.add(key)
        if payload["error"] is not None:
            problem = f"some records of {test_id} could not be exported: {payload['error']}"
            self.warnings.append(problem)
            self.lost.append(problem)
        if payload["interrupted"]:
            self.interrupted_tests.append(test_id)
        self.duplicates += payload["duplicates"]
        self._budgets.extend(payload["budgets"])
        self.warnings.extend(payload["warnings"])
        for name, value in payload["extensions"].items():
            self.extensions.setdefault(name, []).append(value)
        self.add_records(payload["records"], payload["runs"])

    def add_records(self, records: list[Any], runs: Iterable[Any] = ()) -> None:
        """Take records and scope runs (models, or their JSON documents) made outside a test
        payload, or a payload's."""
        self._records.extend(records)
        self._runs.extend(runs)
        if records and self._on_records is not None:
            self._on_records(records)

    def has_unpriced(self) -> bool:
        """True when some record of the run has no price ("not recorded")."""
        return any(record.cost_micro_usd is None for record in self.records)

    def unpriced_models(self) -> list[str]:
        """Names of the models whose records have no price."""
        from .summary import NO_MODEL

        return sorted({r.model or NO_MODEL for r in self.records if r.cost_micro_usd is None})
