"""What one test carries to the process that writes the reports: one versioned, typed payload.

A test's tracker is exported once per attempt into a `TestPayload`; it travels on the test's
teardown report as plain JSON types (so pytest-xdist's serializer takes it), and the collecting
process validates it back. Everything a test contributes is in it: records, scope runs, budget
statuses, warnings, duplicates dropped, an `error` that keeps its text, and `extensions`, a slot
for data of other packages (the calibration harness puts each case's result there).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError

from .records import ScopeRun, TokenRecord
from .report import BudgetEntry

if TYPE_CHECKING:
    from .tracker import InMemoryTokenTracker

__all__ = ["PAYLOAD_VERSION", "TestPayload", "export_tracker", "read_payload"]

PAYLOAD_VERSION: Literal[1] = 1


class TestPayload(BaseModel):
    """Everything one attempt of one test recorded."""

    __test__ = False  # not a test class, whatever pytest's collection thinks of the name

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    test_id: str
    attempt: PositiveInt = 1
    records: list[TokenRecord] = Field(default_factory=list)
    runs: list[ScopeRun] = Field(default_factory=list)
    budgets: list[BudgetEntry] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    duplicates: NonNegativeInt = Field(
        default=0, description="Responses recorded twice (capture and observe()) and not counted."
    )
    interrupted: bool = Field(
        default=False, description="The test was still running when the run was interrupted."
    )
    error: str | None = Field(
        default=None, description="Why some of the test's records could not be exported."
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Data of other packages, by package name."
    )


def export_tracker(
    tracker: InMemoryTokenTracker,
    *,
    interrupted: bool = False,
    extensions: dict[str, Any] | None = None,
) -> TestPayload:
    """A tracker's priced records, scope runs and budgets as one payload.

    Records are built one by one, so a record that cannot be built (a bug, never bad input:
    `record()` validates its arguments) costs only itself, and `error` keeps its text.
    """
    records = tracker.records()
    error = "; ".join(tracker.build_errors) or None
    if interrupted:
        records = [record.model_copy(update={"interrupted": True}) for record in records]
    budgets = [
        BudgetEntry.model_validate(
            {**asdict(status), "test_id": tracker.test_id, "attempt": tracker.attempt}
        )
        for scope in tracker.budget_scopes
        for status in scope.statuses()
    ]
    # Validated (the records and other models inside are taken as they are): pydantic-core
    # does it faster than model_construct.
    return TestPayload(
        version=PAYLOAD_VERSION,
        test_id=tracker.test_id or "",
        attempt=tracker.attempt,
        records=records,
        runs=tracker.scope_runs(),
        budgets=budgets,
        warnings=list(tracker.warnings),
        duplicates=tracker.duplicates,
        interrupted=interrupted,
        error=error,
        extensions=dict(extensions or {}),
    )


def read_payload(data: Any, source: str) -> tuple[TestPayload | None, str | None]:
    """Validate a payload that arrived from a test; on failure, a warning saying what was wrong."""
    try:
        return TestPayload.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return None, (
            f"the records of {source} could not be read and are left out "
            f"({exc.error_count()} problem(s); first at {where}: {first['msg']})"
        )
