"""What one test carries to the process that writes the reports: one versioned, typed payload.

A test's tracker is exported once per attempt into a `TestPayload`; it travels on the test's
teardown report as plain JSON types (so pytest-xdist's serializer takes it), and the collecting
process validates it back. Everything a test contributes is in it: records, scope runs, budget
statuses, warnings, duplicates dropped, an `error` that keeps its text, and `extensions`, a slot
for data of other packages (the calibration harness puts each case's result there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError

from .records import ScopeRun, TokenRecord
from .report import BudgetEntry

if TYPE_CHECKING:
    from .tracker import InMemoryTokenTracker

__all__ = [
    "PAYLOAD_VERSION",
    "TestPayload",
    "export_tracker",
    "payload_data",
    "read_payload",
    "record_data",
]

PAYLOAD_VERSION = 1


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
    `record()` validates its arguments) costs only itself, and the error keeps its text.
    """
    records: list[TokenRecord] = []
    error = None
    try:
        records = tracker.records()
    except Exception as exc:  # the test's other numbers must still arrive
        error = f"{type(exc).__name__}: {exc}"
    if interrupted:
        records = [record.model_copy(update={"interrupted": True}) for record in records]
    budgets = [
        BudgetEntry.model_validate(status, from_attributes=True)
        for scope in tracker.budget_scopes
        for status in scope.statuses()
    ]
    return TestPayload.model_construct(
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


#: `Usage`'s fields in their order (tests/test_payload_data.py checks them against the model).
USAGE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "cache_write_1h",
    "web_searches",
)


def record_data(record: TokenRecord) -> dict[str, Any]:
    """`record.model_dump(mode="json")`, written out: the same keys, order and values.

    Every recording test's records go through here, and pydantic's serializer costs several
    times more for a model this wide; tests/test_payload_data.py checks the two agree.
    """
    from .empty_report import iso_datetime

    usage = record.usage
    return {
        "seq": record.seq,
        "run_id": record.run_id,
        "test_id": record.test_id,
        "attempt": record.attempt,
        "scenario": record.scenario,
        "case_id": record.case_id,
        "step": record.step,
        "provider": record.provider,
        "model": record.model,
        "usage": {name: getattr(usage, name) for name in USAGE_FIELDS},
        "provenance": record.provenance.value,
        "prompt_bytes": record.prompt_bytes,
        "artifact_bytes": record.artifact_bytes,
        "timestamp": iso_datetime(record.timestamp),
        "wall_ms": record.wall_ms,
        "cost_micro_usd": record.cost_micro_usd,
        "input_cost_micro_usd": record.input_cost_micro_usd,
        "output_cost_micro_usd": record.output_cost_micro_usd,
        "price_source": record.price_source.value,
        "partial": record.partial,
        "reported_total_tokens": record.reported_total_tokens,
        "reported_cost_micro_usd": record.reported_cost_micro_usd,
        "priced_as": record.priced_as,
        "response_id": record.response_id,
        "request_id": record.request_id,
        "interrupted": record.interrupted,
        "late": record.late,
        "prompt_tokens": usage.input,
        "artifact_tokens": usage.output,
    }


def payload_data(payload: TestPayload) -> dict[str, Any]:
    """`payload.model_dump(mode="json")`, the records written out by `record_data`."""
    extensions: dict[str, Any] = {}
    if payload.extensions:
        from pydantic_core import to_jsonable_python

        extensions = to_jsonable_python(payload.extensions)
    return {
        "version": payload.version,
        "test_id": payload.test_id,
        "attempt": payload.attempt,
        "records": [record_data(record) for record in payload.records],
        "runs": [
            {
                "kind": run.kind,
                "test_id": run.test_id,
                "scenario": run.scenario,
                "case_id": run.case_id,
                "step": run.step,
                "wall_ms": run.wall_ms,
            }
            for run in payload.runs
        ],
        "budgets": [entry.model_dump(mode="json") for entry in payload.budgets],
        "warnings": list(payload.warnings),
        "duplicates": payload.duplicates,
        "interrupted": payload.interrupted,
        "error": payload.error,
        "extensions": extensions,
    }


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
