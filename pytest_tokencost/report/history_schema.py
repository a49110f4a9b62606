"""The JSON Schema of `tokencost history --json` (`tokencost schema history`), from models.

The command itself builds its document without pydantic (`history_view`), for speed; these
models describe it, and a test validates real documents against them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HistoryDocument", "history_schema"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Amounts(_Model):
    """Tokens by channel and cost of a run or a test."""

    records: int
    input: int
    output: int
    total: int = Field(description="input + output")
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    cost_micro_usd: int | None = Field(
        description="Money spent, in micro-USD (replayed calls left out); null (not recorded) "
        "when some record has no price."
    )
    priced_micro_usd: int | None = Field(description="What the priced records cost.")
    unpriced_records: int
    replayed_records: int | None = Field(
        description="Records replayed from a recording (cassette, mocked transport); their "
        "tokens are in the counts above, their cost is not. null: a run added to the history "
        "before it kept replays."
    )
    replayed_tokens: int | None = Field(description="Input + output tokens of those records.")
    replayed_cost_micro_usd: int | None = Field(
        description="Recorded cost: what the replayed calls would cost live, not spent; null "
        "when none of them was priced, or not kept."
    )


class Change(_Model):
    """Against the run before (in the history, or in the test's runs)."""

    tokens: int
    tokens_percent: float | None = Field(description="null when the run before had 0 tokens.")
    cost_micro_usd: int | None = Field(description="null when either cost is not recorded.")


class Git(_Model):
    """The work tree the run ran in (nulls outside a git work tree)."""

    commit: str | None
    branch: str | None
    dirty: bool | None


class HistoryRun(_Model):
    """One run."""

    run_id: str
    started: str
    finished: str
    wall_s: float
    status: str
    exit_status: int | None
    interrupted: bool
    git: Git
    argv: list[str] = Field(description="The command line, secrets redacted.")
    workers: int
    adapter: str | None
    genai_prices_version: str | None
    override_file: str | None
    override_sha256: str | None
    tests: int = Field(description="Tests that recorded tokens.")
    totals: Amounts
    change: Change | None
    budget_status: Literal["ok", "warn", "exceeded"] | None = Field(
        description="The worst status of the run's budgets; null without budgets."
    )
    scenario: str | None = Field(description="Calibration scenario(s), comma-separated.")
    m18: int | None
    pass_rate: float | None
    baseline_run_id: str | None
    gates: list[dict[str, Any]] = Field(description="The gate verdicts of token-report.json.")


class TestRun(_Model):
    """One test in one run."""

    run_id: str
    started: str
    git: Git
    totals: Amounts
    change: Change | None


class HistoryDocument(_Model):
    """The whole `tokencost history --json` document; runs newest first."""

    schema_version: Literal[2]
    history: str = Field(description="The history file read.")
    test: str | None = Field(description="The test of --test, else null.")
    runs: list[HistoryRun] = Field(description="Empty with --test.")
    test_runs: list[TestRun] | None = Field(description="With --test: its runs; else null.")


def history_schema() -> dict[str, object]:
    """JSON Schema of `tokencost history --json`."""
    schema = HistoryDocument.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-tokencost history --json"
    return schema
