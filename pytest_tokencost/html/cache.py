"""Cache effectiveness: how much input the cache served, and what it saved.

What the cache saved is the record's cost at uncached prices (its cached tokens priced as plain
input) minus what it cost. Cache writes cost more than plain input (1.25x, 2x for 1-hour
writes), so a group that wrote more than it read can save a negative amount: shown as it is.
A record whose price is not known, or when no pricer is at hand, is counted as one whose
saving is "not recorded", never as a zero saving.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..pricing import Pricer
from ..records import PriceSource, TokenRecord, Usage
from ..summary import NO_MODEL, OUTSIDE_TESTS

__all__ = ["CacheRow", "cache_rows"]


@dataclass(slots=True)
class CacheRow:
    """Cache figures of one model or one test."""

    name: str
    input: int = 0
    cache_read: int | None = None
    cache_write: int | None = None
    saved_micro_usd: int | None = None
    unpriced: int = 0

    @property
    def hit_rate(self) -> float | None:
        """Share of input tokens read from the cache (None when no source said)."""
        if self.cache_read is None or not self.input:
            return None
        return self.cache_read / self.input


def _saving(record: TokenRecord, pricer: Pricer | None) -> int | None:
    usage = record.usage
    if not usage.cache_read and not usage.cache_write:
        return 0
    if pricer is None or record.cost_micro_usd is None:
        return None
    if record.price_source is PriceSource.NOT_RECORDED:
        return None
    plain = Usage.model_construct(
        input=usage.input,
        output=usage.output,
        cache_read=None,
        cache_write=None,
        reasoning=usage.reasoning,
        cache_write_1h=None,
        web_searches=usage.web_searches,
    )
    model = None if record.price_source is PriceSource.DEFAULT_RATE else record.model
    uncached = pricer.price(model, record.provider, plain, record.timestamp).total_micro_usd
    return None if uncached is None else uncached - record.cost_micro_usd


def _opt_add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def cache_rows(
    records: Iterable[TokenRecord], pricer: Pricer | None
) -> tuple[list[CacheRow], list[CacheRow]]:
    """Rows per model and per test, for groups where a source reported cache figures."""
    by_model: dict[str, CacheRow] = {}
    by_test: dict[str, CacheRow] = {}
    for record in records:
        usage = record.usage
        if usage.cache_read is None and usage.cache_write is None:
            continue
        saving = _saving(record, pricer)
        for groups, key in (
            (by_model, record.model or NO_MODEL),
            (by_test, record.test_id or OUTSIDE_TESTS),
        ):
            row = groups.get(key)
            if row is None:
                row = groups[key] = CacheRow(key)
            row.input += usage.input
            row.cache_read = _opt_add(row.cache_read, usage.cache_read)
            row.cache_write = _opt_add(row.cache_write, usage.cache_write)
            row.saved_micro_usd = _opt_add(row.saved_micro_usd, saving)
            row.unpriced += saving is None

    def order(rows: dict[str, CacheRow]) -> list[CacheRow]:
        return sorted(rows.values(), key=lambda r: (-(r.saved_micro_usd or 0), r.name))

    return order(by_model), order(by_test)
