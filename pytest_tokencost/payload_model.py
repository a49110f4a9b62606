"""The model of a test's payload (`payload.py`): what a payload that travelled is checked against.

Imported only to validate a payload from another process (an xdist worker) or a file; the
payloads this process makes are plain data built to the same shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from .records import ScopeRun, TokenRecord
from .report import BudgetEntry

__all__ = ["TestPayload"]


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
