"""Totals and breakdowns of record documents, from the standard library alone.

`tokencost ingest` writes its report without pydantic (see `ingest`): this module sums record
documents (`record_builder.record_document`) the way `summary.TokenSummary.from_records` sums
`TokenRecord`s — the same exact integer additions, the same groups and keys — and writes the
result as `TokenSummary.model_dump(mode="json")` would. `Totals` offers the attributes of
`summary.TokenTotals` that the terminal section reads. Records only: scope runs (step counts,
wall clock) are the tracker's, and ingest has none. `tests/test_ingest_plain.py` checks the
documents against the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from .record_builder import PlainUsage, usage_document

__all__ = [
    "NO_MODEL",
    "NO_STEP",
    "OUTSIDE_TESTS",
    "PlainSummary",
    "PriceSourceName",
    "Totals",
    "model_group_id",
    "rows_by_model_id",
]

#: `summary.NO_MODEL`, `NO_STEP`, `OUTSIDE_TESTS` (a test checks they agree).
NO_MODEL = "(no model)"
NO_STEP = "(no step)"
OUTSIDE_TESTS = "(outside tests)"


class PriceSourceName(StrEnum):
    """`records.PriceSource`'s values, without the model module (a test checks they agree)."""

    GENAI_PRICES = "genai-prices"
    OVERRIDE = "override"
    DEFAULT_RATE = "default-rate"
    NOT_RECORDED = "not-recorded"


#: `records.Provenance`'s values in its order (the order of the section's Counts line).
PROVENANCES = ("reported", "counted", "estimated", "calibrated")
_ESTIMATES = ("estimated", "calibrated")
_PARTS = ("cache_read", "cache_write", "reasoning", "cache_write_1h", "web_searches")


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _add_counts(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
    merged = dict(a)
    for key, count in b.items():
        merged[key] = merged.get(key, 0) + count
    return merged


class Totals:
    """Sums of a group of records: `summary.TokenTotals` as plain data."""

    def __init__(self) -> None:
        self.records = self.steps = 0
        self.wall_ms = 0.0
        self.counts: dict[str, int | None] = {"input": 0, "output": 0}
        self.counts.update(dict.fromkeys(_PARTS))
        self.cost_micro_usd: int | None = None
        self.input_cost_micro_usd: int | None = None
        self.output_cost_micro_usd: int | None = None
        self.price_sources: dict[PriceSourceName, int] = {}
        self.provenance: dict[str, int] = {}
        self.replayed_records = self.replayed_tokens = self.replayed_unpriced_records = 0
        self.replayed_cost_micro_usd: int | None = None

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Totals:
        """The sums of record documents (as `summary._Accumulator` adds them one by one)."""
        totals = cls()
        totals.records = len(records)
        usages = [record["usage"] for record in records]
        for name in ("input", "output"):
            totals.counts[name] = sum([usage[name] for usage in usages])
        for name in _PARTS:
            known = [usage[name] for usage in usages if usage[name] is not None]
            totals.counts[name] = sum(known) if known else None
        for record, usage in zip(records, usages, strict=True):
            kind = record["provenance"]
            totals.provenance[kind] = (
                totals.provenance.get(kind, 0) + usage["input"] + usage["output"]
            )
        sources: dict[str, int] = {}
        for record in records:
            sources[record["price_source"]] = sources.get(record["price_source"], 0) + 1
        totals.price_sources = {PriceSourceName(key): count for key, count in sources.items()}
        totals._add_costs(records)
        return totals

    def _add_costs(self, records: list[dict[str, Any]]) -> None:
        live = [r for r in records if not r["replayed"] and r["cost_micro_usd"] is not None]
        if live:
            self.cost_micro_usd = sum([r["cost_micro_usd"] for r in live])
            self.input_cost_micro_usd = sum([r["input_cost_micro_usd"] or 0 for r in live])
            self.output_cost_micro_usd = sum([r["output_cost_micro_usd"] or 0 for r in live])
        replayed = [r for r in records if r["replayed"]]
        if replayed:
            self._add_replayed(replayed)

    def _add_replayed(self, replayed: list[dict[str, Any]]) -> None:
        # Not spent: the money spent stays what the live records cost (0 without any).
        self.replayed_records = len(replayed)
        self.replayed_tokens = sum([r["usage"]["input"] + r["usage"]["output"] for r in replayed])
        self.cost_micro_usd = self.cost_micro_usd or 0
        self.input_cost_micro_usd = self.input_cost_micro_usd or 0
        self.output_cost_micro_usd = self.output_cost_micro_usd or 0
        priced = [r["cost_micro_usd"] for r in replayed if r["cost_micro_usd"] is not None]
        self.replayed_cost_micro_usd = sum(priced) if priced else None
        self.replayed_unpriced_records = len(replayed) - len(priced)

    def __add__(self, other: Totals) -> Totals:
        """Exact sum of two groups (as `TokenTotals.__add__`)."""
        result = Totals()
        result.records = self.records + other.records
        result.steps = self.steps + other.steps
        result.wall_ms = self.wall_ms + other.wall_ms
        result.counts = {name: _add(self.counts[name], other.counts[name]) for name in self.counts}
        for name in ("cost_micro_usd", "input_cost_micro_usd", "output_cost_micro_usd"):
            setattr(result, name, _add(getattr(self, name), getattr(other, name)))
        result.price_sources = _add_counts(self.price_sources, other.price_sources)
        result.provenance = _add_counts(self.provenance, other.provenance)
        result.replayed_records = self.replayed_records + other.replayed_records
        result.replayed_tokens = self.replayed_tokens + other.replayed_tokens
        result.replayed_cost_micro_usd = _add(
            self.replayed_cost_micro_usd, other.replayed_cost_micro_usd
        )
        result.replayed_unpriced_records = (
            self.replayed_unpriced_records + other.replayed_unpriced_records
        )
        return result

    @property
    def usage(self) -> PlainUsage:
        """The summed usage."""
        counts = self.counts
        return PlainUsage.model_construct(
            counts["input"] or 0,
            counts["output"] or 0,
            *(counts[name] for name in _PARTS),
        )

    @property
    def records_by_price_source(self) -> dict[PriceSourceName, int]:
        """How every record was priced, by price source (sorted, as the model keeps it)."""
        return dict(sorted(self.price_sources.items()))

    @property
    def tokens_by_provenance(self) -> dict[str, int]:
        """Tokens by where their counts came from (sorted, as the model keeps it)."""
        return dict(sorted(self.provenance.items()))

    @property
    def unpriced_records(self) -> int:
        """Records whose cost is "not recorded"."""
        return self.price_sources.get(PriceSourceName.NOT_RECORDED, 0)

    @property
    def live_unpriced_records(self) -> int:
        """Unpriced records that were not replayed (`summary.TokenTotals`'s)."""
        return self.unpriced_records - self.replayed_unpriced_records

    @property
    def includes_estimates(self) -> bool:
        """True when some of these tokens were estimated (or calibrated estimates)."""
        return any(self.provenance.get(kind, 0) > 0 for kind in _ESTIMATES)

    def document(self) -> dict[str, Any]:
        """As `TokenTotals.model_dump(mode="json")`."""
        return {
            "records": self.records,
            "steps": self.steps,
            "usage": usage_document(self.usage),
            "cost_micro_usd": self.cost_micro_usd,
            "input_cost_micro_usd": self.input_cost_micro_usd,
            "output_cost_micro_usd": self.output_cost_micro_usd,
            "records_by_price_source": {
                str(key): count for key, count in self.records_by_price_source.items()
            },
            "wall_ms": self.wall_ms,
            "tokens_by_provenance": self.tokens_by_provenance,
            "replayed_records": self.replayed_records,
            "replayed_tokens": self.replayed_tokens,
            "replayed_cost_micro_usd": self.replayed_cost_micro_usd,
            "replayed_unpriced_records": self.replayed_unpriced_records,
        }


def case_key(scenario: str | None, case_id: str) -> str:
    """`summary.case_key`: ``scenario::case`` for a calibration case, else the case id."""
    return case_id if scenario is None else f"{scenario}::{case_id}"


def model_group_id(model: str, price_source: str, priced_as: str | None) -> str | None:
    """The model a record's name is grouped under in "Per model", when not its own name.

    genai-prices' `priced_as` (``provider:id``) gives the id it matched the name to (a dated
    or undated alias); an override's is the key of the price file that priced it
    (``provider/model`` or ``model``), matched through genai-prices' id when the name itself
    is no key. None when the name is its own group (or has no price).
    """
    if not priced_as:
        return None
    if price_source == PriceSourceName.GENAI_PRICES:
        group = priced_as.partition(":")[2] if ":" in priced_as else ""
        return group if group and group != model else None
    if price_source == PriceSourceName.OVERRIDE:
        # Keys match names without case: a key that differs only in case is the name itself.
        group = priced_as.rpartition("/")[2]
        return group if group and group.lower() != model.lower() else None
    return None


class _Addable(Protocol):
    def __add__(self, other: Any, /) -> Any: ...


_Row = TypeVar("_Row", bound=_Addable)


def rows_by_model_id(
    by_model: Mapping[str, _Row], model_ids: Mapping[str, str], zero: _Row
) -> tuple[dict[str, _Row], dict[str, list[str]]]:
    """Model rows with the names of one model (dated and undated aliases, names an override
    priced) in one row, named by the model they were priced as (`model_ids`); and those names,
    by model, for a note under the table. `zero` is the empty totals the rows add up from.
    The report's `TokenSummary` and ingest's `PlainSummary` both group their rows here."""
    groups: dict[str, list[str]] = {}
    for name in by_model:
        groups.setdefault(model_ids.get(name, name), []).append(name)
    rows: dict[str, _Row] = {}
    aliases: dict[str, list[str]] = {}
    for model_id, names in sorted(groups.items()):
        if len(names) == 1:
            rows[names[0]] = by_model[names[0]]
            continue
        rows[model_id] = sum((by_model[name] for name in names), zero)
        aliases[model_id] = names
    return rows, aliases


def _models(records: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The models without a price, and the group of each model named otherwise (see
    `model_group_id`)."""
    unpriced: set[str] = set()
    model_ids: dict[str, str] = {}
    for record in records:
        if record["cost_micro_usd"] is None:
            unpriced.add(record["model"] or NO_MODEL)
        elif record["model"]:
            group = model_group_id(record["model"], record["price_source"], record["priced_as"])
            if group is not None:
                model_ids.setdefault(record["model"], group)
    return sorted(unpriced), dict(sorted(model_ids.items()))


class PlainSummary:
    """`summary.TokenSummary.from_records` of record documents (no scope runs)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        # Records are summed once per cell (test, case, step, model), and cells added into
        # the groups: exact integer sums, whatever the order, as the model's accumulators.
        cells: dict[tuple[str, str | None, str, str], list[dict[str, Any]]] = {}
        for record in records:
            case_id = record["case_id"]
            key = (
                record["test_id"] or OUTSIDE_TESTS,
                None if case_id is None else case_key(record["scenario"], case_id),
                record["step"] or NO_STEP,
                record["model"] or NO_MODEL,
            )
            cells.setdefault(key, []).append(record)
        self.totals = Totals()
        groups: tuple[dict[str, Totals], ...] = ({}, {}, {}, {})
        for key, cell_records in cells.items():
            cell = Totals.of(cell_records)
            self.totals += cell
            for group, name in zip(groups, key, strict=True):
                if name is not None:
                    group[name] = group[name] + cell if name in group else cell
        self.by_test, self.by_case, self.by_step, self.by_model = (
            dict(sorted(group.items())) for group in groups
        )
        self.unpriced_models, self.model_ids = _models(records)

    def rows_by_model_id(self) -> tuple[dict[str, Totals], dict[str, list[str]]]:
        """`TokenSummary.rows_by_model_id` of these totals (see `rows_by_model_id`)."""
        return rows_by_model_id(self.by_model, self.model_ids, Totals())

    def document(self) -> dict[str, Any]:
        """As `TokenSummary.model_dump(mode="json")`."""

        def group(totals: dict[str, Totals]) -> dict[str, Any]:
            return {key: value.document() for key, value in totals.items()}

        return {
            "totals": self.totals.document(),
            "by_test": group(self.by_test),
            "by_case": group(self.by_case),
            "by_step": group(self.by_step),
            "by_model": group(self.by_model),
            "unpriced_models": self.unpriced_models,
            "model_ids": self.model_ids,
        }
