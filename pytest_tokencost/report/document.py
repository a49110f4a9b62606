"""The report document (`token-report.json`), its JSON Schema, and reading it back."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..budget import Channel, Status
from ..errors import ReportFileError
from ..outdir import atomic_write_text
from ..summary import TokenSummary

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BudgetEntry",
    "CostCheck",
    "GateVerdict",
    "PriceInfo",
    "RunInfo",
    "TokenReport",
    "TotalCheck",
    "load_json",
    "read_json_model",
    "read_report",
    "report_schema",
]

M = TypeVar("M", bound=BaseModel)

#: Bumped on any change of the document's shape; readers reject versions they do not know.
#: Version 2 added the run's status, interrupted tests, duplicates dropped and record identity
#: (run id, attempt, scenario, response and request ids); version 3 the baseline, the cost
#: gates' verdicts, the override file's hash and the run ids a combined report was made from
#: (`run.combined_from`); version 4 replayed records (`replayed` on a record;
#: `replayed_records`, `replayed_tokens` and `replayed_cost_micro_usd` in every totals, whose
#: `cost_micro_usd` is the money spent, replayed cost left out) and `summary.model_ids`;
#: version 5 `replayed_unpriced_records` in every totals (which "not recorded" records were
#: replayed, so they are shown beside the recorded cost, not the money spent).
#: Documents of earlier versions still read (they have no replayed records, or count none of
#: them as unpriced).
SCHEMA_VERSION = 5
_READABLE_VERSIONS = (1, 2, 3, 4, 5)


class PriceInfo(BaseModel):
    """Where this run's prices came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    genai_prices_version: str | None = Field(
        description="Version of the genai-prices package whose bundled data priced the run."
    )
    override_file: str | None = None
    override_sha256: str | None = Field(
        default=None, description="sha256 of the override file's bytes, to tell its versions apart."
    )
    default_rate: str = Field(description="Rate for records with no model, e.g. '$3/$15 per MTok'.")
    default_rate_for_unknown_models: bool = False


class BudgetEntry(BaseModel):
    """One limited channel of one budget scope (session, test, case or step)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str
    test_id: str | None = Field(
        default=None, description="The test whose budget it is (none for the session's)."
    )
    attempt: int | None = Field(default=None, description="Which run of the test (reruns).")
    channel: Channel
    limit: int = Field(description="Micro-USD for the micro_usd channel, else tokens.")
    used: int
    reserved: int
    remaining: int = Field(description="limit - used - reserved; negative after an overspend.")
    percent: float
    status: Status
    own: int = Field(description="Spent by the scope itself.")
    children: int = Field(description="Spent by its nested scopes; own + children = used.")


class CostCheck(BaseModel):
    """A record whose source reported its own cost: that figure beside the computed one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_id: str | None
    model: str | None
    computed_micro_usd: int | None
    reported_micro_usd: int
    agrees: bool = Field(description="Computed and reported differ by at most 1 micro-USD.")


class TotalCheck(BaseModel):
    """A record whose source's own total_tokens differs from its input + output."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_id: str | None
    model: str | None
    computed: int
    reported: int


class RunInfo(BaseModel):
    """When, where and how the run happened."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    started: datetime
    finished: datetime
    wall_s: float = Field(ge=0)
    pytest_version: str
    plugin_version: str
    argv: list[str]
    adapter: str | None = None
    workers: int = Field(default=0, ge=0, description="pytest-xdist workers (0: no xdist).")
    exit_status: int | None = None
    status: str = Field(
        default="unknown",
        description="passed, failed, interrupted (Ctrl-C, SIGTERM), internal-error, "
        "usage-error, no-tests.",
    )
    interrupted_tests: list[str] = Field(
        default_factory=list,
        description="Tests still running at an interrupt; their records so far are kept, "
        "flagged `interrupted`.",
    )
    budget_warn_at: float | None = Field(
        default=None,
        description="The share of a budget at which it warns (--cost-warn-at); null in "
        "reports written before it was recorded.",
    )
    combined_from: list[str] = Field(
        default_factory=list,
        description="`tokencost combine`: the run ids of the shards this report adds up.",
    )


class Baseline(BaseModel):
    """The earlier run this run was compared with (--cost-compare, --cost-compare-fail)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str = Field(description="What was asked for: a run id, -N, a path, or 'auto'.")
    run_id: str | None = Field(description="The baseline's run id; null when none was found.")
    source: str = Field(description="Where it was read: 'history' or the report's path.")
    started: datetime | None = None
    git_branch: str | None = None
    git_commit: str | None = None
    note: str | None = Field(default=None, description="Why there is no baseline, if none.")


class GateVerdict(BaseModel):
    """The verdict of one cost gate (--cost-compare-fail, --cost-fail-over)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gate: str = Field(description="The gate as given, e.g. '--cost-compare-fail=tokens:10%'.")
    metric: str = Field(description="tokens, input, output, usd, test-tokens or test-usd.")
    status: Literal["pass", "fail", "no-baseline", "not-recorded", "not-enforced"] = Field(
        description="no-baseline and not-recorded (a cost with unpriced records) warn only; "
        "not-enforced: the run was interrupted, its partial totals decide nothing (`would_be` "
        "says what the verdict would have been)."
    )
    would_be: Literal["pass", "fail", "no-baseline", "not-recorded"] | None = Field(
        default=None,
        description="For a not-enforced gate: the verdict on the partial totals; else null.",
    )
    base: int | None = Field(description="The baseline's value (micro-USD for usd metrics).")
    head: int | None = Field(description="This run's value (micro-USD for usd metrics).")
    limit: str = Field(description="The limit as given: '10%', '5000' tokens, '0.05' USD.")
    message: str
    offending_tests: list[str] = Field(
        default_factory=list, description="Tests over the limit (test-tokens, test-usd)."
    )


class TokenReport(BaseModel):
    """The whole `token-report.json` document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1, 2, 3, 4, 5] = 5
    run: RunInfo
    prices: PriceInfo
    summary: TokenSummary
    budgets: list[BudgetEntry] = Field(default_factory=list)
    cost_checks: list[CostCheck] = Field(
        default_factory=list, description="Records whose source reported its own cost."
    )
    total_checks: list[TotalCheck] = Field(
        default_factory=list,
        description="Records whose source's total_tokens disagrees with input + output.",
    )
    duplicates_dropped: int = Field(
        default=0,
        ge=0,
        description="Responses seen twice within a test (by --cost-capture and observe(), or "
        "observe() twice: same provider response id) and counted once.",
    )
    warnings: list[str] = Field(default_factory=list)
    baseline: Baseline | None = Field(
        default=None, description="The run compared with, when a comparison or gate asked."
    )
    gates: list[GateVerdict] = Field(
        default_factory=list, description="The verdict of every cost gate of the run."
    )

    def write(self, path: Path) -> None:
        """Write the document atomically (temp file + rename)."""
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")


def report_schema() -> dict[str, object]:
    """JSON Schema of `token-report.json`, generated from the models."""
    schema = TokenReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-tokencost token-report.json"
    return schema


def load_json(path: Path, what: str) -> Any:
    """The JSON in `path`, with an error naming `what`, the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ReportFileError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); is it the right file?"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFileError(
            f"{what} {path} is not JSON ({exc.msg} at line {exc.lineno}); was the run "
            "interrupted before writing it?"
        ) from exc
    except RecursionError as exc:  # "[[[[..." nested deeper than the parser's stack
        raise ReportFileError(f"{what} {path} is nested too deeply to be a {what}") from exc


def read_json_model(path: Path, model: type[M], what: str, data: Any = None) -> M:
    """`path` (or already loaded `data`) validated as `model`; errors name the first problem."""
    try:
        return model.model_validate(load_json(path, what) if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ReportFileError(f"{what} {path} is invalid at {where}: {first['msg']}") from exc


def read_report(path: Path) -> TokenReport:
    """Load a `token-report.json`, with an error naming the file and the problem."""
    data = load_json(path, "report")
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in _READABLE_VERSIONS:
        raise ReportFileError(
            f"report {path} has schema_version {version!r}; this pytest-tokencost reads "
            f"versions {', '.join(map(str, _READABLE_VERSIONS))}: upgrade it, or re-run the suite"
        )
    return read_json_model(path, TokenReport, "report", data)
