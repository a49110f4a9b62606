"""Aggregation: totals and per-test / per-case / per-step / per-model breakdowns.

Summaries are built from records by exact integer addition and merge by addition too, so the
summary of a run split over xdist workers equals the summary of the same run in one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from .plain_summary import model_group_id, rows_by_model_id
from .records import PriceSource, Provenance, ScopeRun, TokenRecord, Usage, _add_optional

__all__ = ["NO_MODEL", "NO_STEP", "OUTSIDE_TESTS", "TokenSummary", "TokenTotals", "case_key"]

K = TypeVar("K", bound=str)

NO_MODEL = "(no model)"
NO_STEP = "(no step)"
OUTSIDE_TESTS = "(outside tests)"


def _add_counts(a: Mapping[K, int], b: Mapping[K, int]) -> dict[K, int]:
    merged = dict(a)
    for key, count in b.items():
        merged[key] = merged.get(key, 0) + count
    return dict(sorted(merged.items()))


class TokenTotals(BaseModel):
    """Token and cost totals of a group of records (the whole run, one test, one step, ...).

    `cost_micro_usd` is the money spent: it sums the priced records that were not replayed, is
    `None` when none of those was priced, and is 0 when every record was replayed. Replayed
    records (a cassette, a mocked transport) are counted in `usage` like any other, and their
    cost, what the calls would cost live, is `replayed_cost_micro_usd`, never added to the money
    spent. `records_by_price_source` says how every record was priced, "not-recorded" ones
    included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: NonNegativeInt = 0
    steps: NonNegativeInt = Field(
        default=0,
        description="Step executions (closed step scopes and records made outside any scope).",
    )
    usage: Usage = Usage()
    cost_micro_usd: int | None = None
    input_cost_micro_usd: int | None = None
    output_cost_micro_usd: int | None = None
    records_by_price_source: dict[PriceSource, int] = Field(default_factory=dict)
    wall_ms: float = 0.0
    tokens_by_provenance: dict[Provenance, int] = Field(default_factory=dict)
    replayed_records: NonNegativeInt = Field(
        default=0, description="Records replayed from a recording (cassette, mocked transport)."
    )
    replayed_tokens: NonNegativeInt = Field(
        default=0, description="Input + output tokens of the replayed records (part of usage)."
    )
    replayed_cost_micro_usd: int | None = Field(
        default=None,
        description="Recorded cost: what the replayed records' calls would cost live, not spent "
        "in this run and not in cost_micro_usd; null when none of them was priced.",
    )
    replayed_unpriced_records: NonNegativeInt = Field(
        default=0,
        description="Replayed records without a known price (counted in records_by_price_source"
        "'s not-recorded, and in neither cost).",
    )

    @property
    def unpriced_records(self) -> int:
        """Records whose cost is "not recorded" (left out of `cost_micro_usd`)."""
        return self.records_by_price_source.get(PriceSource.NOT_RECORDED, 0)

    @property
    def live_unpriced_records(self) -> int:
        """Unpriced records that were not replayed: the money spent they leave out."""
        return self.unpriced_records - self.replayed_unpriced_records

    @property
    def includes_estimates(self) -> bool:
        """True when some of these tokens were estimated (or calibrated estimates)."""
        return any(
            self.tokens_by_provenance.get(kind, 0) > 0
            for kind in (Provenance.ESTIMATED, Provenance.CALIBRATED)
        )

    def __add__(self, other: TokenTotals) -> TokenTotals:
        """Exact sum of two groups."""
        if not isinstance(other, TokenTotals):
            return NotImplemented
        return TokenTotals.model_construct(
            records=self.records + other.records,
            steps=self.steps + other.steps,
            usage=self.usage + other.usage,
            cost_micro_usd=_add_optional(self.cost_micro_usd, other.cost_micro_usd),
            input_cost_micro_usd=_add_optional(
                self.input_cost_micro_usd, other.input_cost_micro_usd
            ),
            output_cost_micro_usd=_add_optional(
                self.output_cost_micro_usd, other.output_cost_micro_usd
            ),
            records_by_price_source=_add_counts(
                self.records_by_price_source, other.records_by_price_source
            ),
            wall_ms=self.wall_ms + other.wall_ms,
            tokens_by_provenance=_add_counts(self.tokens_by_provenance, other.tokens_by_provenance),
            replayed_records=self.replayed_records + other.replayed_records,
            replayed_tokens=self.replayed_tokens + other.replayed_tokens,
            replayed_cost_micro_usd=_add_optional(
                self.replayed_cost_micro_usd, other.replayed_cost_micro_usd
            ),
            replayed_unpriced_records=self.replayed_unpriced_records
            + other.replayed_unpriced_records,
        )


_NO_OPTIONAL = (None, None, None, None, None)


class _RecordSums:
    """What the accumulators add of one record, read from it once (a record is added to the
    total and to its test's, step's, model's and case's groups)."""

    __slots__ = (
        "cost",
        "input",
        "input_cost",
        "optional",
        "output",
        "output_cost",
        "provenance",
        "replayed",
        "source",
        "total",
    )

    def __init__(self, record: TokenRecord) -> None:
        usage = record.usage
        self.input = usage.input
        self.output = usage.output
        self.total = usage.total
        optional = (
            usage.cache_read,
            usage.cache_write,
            usage.reasoning,
            usage.cache_write_1h,
            usage.web_searches,
        )
        #: The optional usage fields, None when all of them are (most records).
        self.optional = None if optional == _NO_OPTIONAL else optional
        self.provenance = record.provenance
        self.source = record.price_source
        self.replayed = record.replayed
        self.cost = record.cost_micro_usd
        self.input_cost = record.input_cost_micro_usd or 0
        self.output_cost = record.output_cost_micro_usd or 0


class _Accumulator:
    """Mutable integer sums behind one `TokenTotals`; avoids building models per record."""

    __slots__ = (
        "cache_read",
        "cache_write",
        "cache_write_1h",
        "cost",
        "input",
        "input_cost",
        "output",
        "output_cost",
        "price_sources",
        "provenance",
        "reasoning",
        "records",
        "replayed",
        "replayed_cost",
        "replayed_tokens",
        "replayed_unpriced",
        "steps",
        "wall_ms",
        "web_searches",
    )

    def __init__(self) -> None:
        self.records = self.steps = self.input = self.output = 0
        self.price_sources: dict[PriceSource, int] = {}
        self.cache_read: int | None = None
        self.cache_write: int | None = None
        self.reasoning: int | None = None
        self.cache_write_1h: int | None = None
        self.web_searches: int | None = None
        self.cost: int | None = None
        self.input_cost: int | None = None
        self.output_cost: int | None = None
        self.wall_ms = 0.0
        self.provenance: dict[Provenance, int] = {}
        self.replayed = self.replayed_tokens = self.replayed_unpriced = 0
        self.replayed_cost: int | None = None

    def add(self, sums: _RecordSums) -> None:
        """Add one record's sums."""
        self.records += 1
        self.input += sums.input
        self.output += sums.output
        if sums.optional is not None:
            self._add_optional_usage(sums.optional)
        self.provenance[sums.provenance] = self.provenance.get(sums.provenance, 0) + sums.total
        self.price_sources[sums.source] = self.price_sources.get(sums.source, 0) + 1
        if sums.replayed:
            # Not spent: the money spent stays what the live records cost (0 without any).
            self.replayed += 1
            self.replayed_tokens += sums.total
            self.cost = self.cost or 0
            self.input_cost = self.input_cost or 0
            self.output_cost = self.output_cost or 0
            if sums.cost is not None:
                self.replayed_cost = (self.replayed_cost or 0) + sums.cost
            else:
                self.replayed_unpriced += 1
        elif sums.cost is not None:
            self.cost = (self.cost or 0) + sums.cost
            self.input_cost = (self.input_cost or 0) + sums.input_cost
            self.output_cost = (self.output_cost or 0) + sums.output_cost

    def _add_optional_usage(self, optional: tuple[int | None, ...]) -> None:
        cache_read, cache_write, reasoning, cache_write_1h, web_searches = optional
        self.cache_read = _add_optional(self.cache_read, cache_read)
        self.cache_write = _add_optional(self.cache_write, cache_write)
        self.reasoning = _add_optional(self.reasoning, reasoning)
        self.cache_write_1h = _add_optional(self.cache_write_1h, cache_write_1h)
        self.web_searches = _add_optional(self.web_searches, web_searches)

    def add_step_run(self, run: ScopeRun) -> None:
        self.steps += 1
        self.wall_ms += run.wall_ms or 0.0

    def totals(self) -> TokenTotals:
        # Validated, not model_construct: pydantic-core builds these faster than Python does.
        return TokenTotals(
            records=self.records,
            steps=self.steps,
            usage=Usage(
                input=self.input,
                output=self.output,
                cache_read=self.cache_read,
                cache_write=self.cache_write,
                reasoning=self.reasoning,
                cache_write_1h=self.cache_write_1h,
                web_searches=self.web_searches,
            ),
            cost_micro_usd=self.cost,
            input_cost_micro_usd=self.input_cost,
            output_cost_micro_usd=self.output_cost,
            records_by_price_source=dict(sorted(self.price_sources.items())),
            wall_ms=self.wall_ms,
            tokens_by_provenance=dict(sorted(self.provenance.items())),
            replayed_records=self.replayed,
            replayed_tokens=self.replayed_tokens,
            replayed_cost_micro_usd=self.replayed_cost,
            replayed_unpriced_records=self.replayed_unpriced,
        )


def case_key(scenario: str | None, case_id: str) -> str:
    """The `by_case` key of a case: ``scenario::case`` for a calibration case (scenarios may
    share case ids), the bare case id for a plain test's `case()`."""
    return case_id if scenario is None else f"{scenario}::{case_id}"


def _merge(a: Mapping[str, TokenTotals], b: Mapping[str, TokenTotals]) -> dict[str, TokenTotals]:
    merged = dict(a)
    for key, totals in b.items():
        merged[key] = merged[key] + totals if key in merged else totals
    return dict(sorted(merged.items()))


class TokenSummary(BaseModel):
    """Totals of a run (or a test) with its breakdowns.

    Records without a case id are not in `by_case` (keyed by `case_key`); every record is in
    exactly one entry of `by_test`, `by_step` and `by_model`, so those entries add up to
    `totals`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    totals: TokenTotals = TokenTotals()
    by_test: dict[str, TokenTotals] = Field(default_factory=dict)
    by_case: dict[str, TokenTotals] = Field(default_factory=dict)
    by_step: dict[str, TokenTotals] = Field(default_factory=dict)
    by_model: dict[str, TokenTotals] = Field(default_factory=dict)
    unpriced_models: list[str] = Field(
        default_factory=list, description="Models with at least one record that has no price."
    )
    model_ids: dict[str, str] = Field(
        default_factory=dict,
        description="The model each `by_model` name is grouped under when that differs from "
        "the name: the genai-prices model id it was priced as (a dated or undated alias, e.g. "
        "claude-sonnet-4-20250514 -> claude-sonnet-4-0), or for a name priced by an override "
        "the model of the price file's key that priced it. The report groups model rows by "
        "it; the names stay as the records have them.",
    )

    def rows_by_model_id(self) -> tuple[dict[str, TokenTotals], dict[str, list[str]]]:
        """Model rows with the names of one model (dated and undated aliases, names an override
        priced) in one row, named by the model they were priced as; and those names, by model,
        for a note under the table. Every per-model table (terminal, Markdown, HTML), the run
        history and `tokencost compare` use these rows."""
        return rows_by_model_id(self.by_model, self.model_ids, TokenTotals())

    @classmethod
    def from_records(
        cls, records: Iterable[TokenRecord], scope_runs: Iterable[ScopeRun] = ()
    ) -> Self:
        """Aggregate records (tokens, cost) and scope runs (step counts, wall clock)."""
        grouping = _Grouping()
        for record in records:
            grouping.add_record(record)
        for run in scope_runs:
            grouping.add_run(run)
        return cls.model_construct(
            totals=grouping.total.totals(),
            by_test=grouping.finished("by_test"),
            by_case=grouping.finished("by_case"),
            by_step=grouping.finished("by_step"),
            by_model=grouping.finished("by_model"),
            unpriced_models=sorted(grouping.unpriced),
            model_ids=dict(sorted(grouping.model_ids.items())),
        )

    def __add__(self, other: TokenSummary) -> TokenSummary:
        """Exact merge of two summaries (for example of two xdist workers)."""
        if not isinstance(other, TokenSummary):
            return NotImplemented
        return TokenSummary.model_construct(
            totals=self.totals + other.totals,
            by_test=_merge(self.by_test, other.by_test),
            by_case=_merge(self.by_case, other.by_case),
            by_step=_merge(self.by_step, other.by_step),
            by_model=_merge(self.by_model, other.by_model),
            unpriced_models=sorted(set(self.unpriced_models) | set(other.unpriced_models)),
            model_ids=dict(sorted({**other.model_ids, **self.model_ids}.items())),
        )


class _Grouping:
    """The accumulators of one summary being made: the total and one per test, case, step and
    model; the models without a price; the ids genai-prices priced models as."""

    def __init__(self) -> None:
        self.total = _Accumulator()
        self.groups: dict[str, dict[str, _Accumulator]] = {
            "by_test": {},
            "by_case": {},
            "by_step": {},
            "by_model": {},
        }
        self.unpriced: set[str] = set()
        self.model_ids: dict[str, str] = {}

    def bucket(self, kind: str, key: str) -> _Accumulator:
        group = self.groups[kind]
        acc = group.get(key)
        if acc is None:
            acc = group[key] = _Accumulator()
        return acc

    def add_record(self, record: TokenRecord) -> None:
        sums = _RecordSums(record)
        self.total.add(sums)
        self.bucket("by_test", record.test_id or OUTSIDE_TESTS).add(sums)
        if record.case_id is not None:
            self.bucket("by_case", case_key(record.scenario, record.case_id)).add(sums)
        self.bucket("by_step", record.step or NO_STEP).add(sums)
        self.bucket("by_model", record.model or NO_MODEL).add(sums)
        if record.cost_micro_usd is None:
            self.unpriced.add(record.model or NO_MODEL)
        elif record.model:
            group = model_group_id(record.model, record.price_source, record.priced_as)
            if group is not None:
                self.model_ids.setdefault(record.model, group)

    def add_run(self, run: ScopeRun) -> None:
        if run.kind == "case":
            # A case's wall clock is its own scope's, gaps between steps included.
            if run.case_id is not None:
                self.bucket("by_case", case_key(run.scenario, run.case_id)).wall_ms += (
                    run.wall_ms or 0.0
                )
            return
        self.total.add_step_run(run)
        self.bucket("by_test", run.test_id or OUTSIDE_TESTS).add_step_run(run)
        if run.case_id is not None:
            self.bucket("by_case", case_key(run.scenario, run.case_id)).steps += 1
        self.bucket("by_step", run.step or NO_STEP).add_step_run(run)

    def finished(self, kind: str) -> dict[str, TokenTotals]:
        return {key: acc.totals() for key, acc in sorted(self.groups[kind].items())}
