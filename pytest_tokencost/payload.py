"""What one test carries to the process that writes the reports: one versioned payload.

A test's tracker is exported once per attempt into its payload: plain JSON types, so that it
travels on the test's teardown report (pytest-xdist's serializer takes it) and is written to
`records.jsonl` as it is. Everything a test contributes is in it: records, scope runs, budget
statuses, warnings, duplicates dropped, an `error` that keeps its text, and `extensions`, a slot
for data of other packages (the calibration harness puts each case's result there).

The export builds the documents directly (`record_builder.record_document`), the very ones the
models would dump: a recording test pays for no pydantic model on its way out. A payload that
travelled from another process is validated against `TestPayload` (`payload_model.py`) before
it is counted; one this process made is taken as made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .payload_model import TestPayload
    from .tracker import InMemoryTokenTracker

__all__ = ["PAYLOAD_VERSION", "export_data", "read_payload"]

PAYLOAD_VERSION: Literal[1] = 1


def export_data(
    tracker: InMemoryTokenTracker,
    *,
    interrupted: bool = False,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A tracker's priced records, scope runs and budgets as one payload of plain JSON types
    (what ``TestPayload.model_dump(mode="json")`` writes).

    Records are built one by one, so a record that cannot be built (a bug, never bad input:
    `record()` validates its arguments) costs only itself, and `error` keeps its text.
    """
    records, errors = tracker.documents(interrupted=interrupted)
    budgets = [
        {
            "scope": status.scope,
            "test_id": tracker.test_id,
            "attempt": tracker.attempt,
            "channel": str(status.channel),
            "limit": status.limit,
            "used": status.used,
            "reserved": status.reserved,
            "remaining": status.remaining,
            "percent": float(status.percent),
            "status": str(status.status),
            "own": status.own,
            "children": status.children,
        }
        for scope in tracker.budget_scopes
        for status in scope.statuses()
    ]
    return {
        "version": PAYLOAD_VERSION,
        "test_id": tracker.test_id or "",
        "attempt": tracker.attempt,
        "records": records,
        "runs": tracker.run_documents(),
        "budgets": budgets,
        "warnings": list(tracker.warnings),
        "duplicates": tracker.duplicates,
        "interrupted": interrupted,
        "error": "; ".join(errors) or None,
        "extensions": dict(extensions or {}),
    }


def read_payload(data: Any, source: str) -> tuple[TestPayload | None, str | None]:
    """Validate a payload that arrived from a test; on failure, a warning saying what was wrong."""
    from pydantic import ValidationError

    from .payload_model import TestPayload

    try:
        return TestPayload.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return None, (
            f"the records of {source} could not be read and are left out "
            f"({exc.error_count()} problem(s); first at {where}: {first['msg']})"
        )
