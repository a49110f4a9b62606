"""genai-prices, resolved once per model and applied per request with the same arithmetic.

`genai_prices.calc_price` finds the provider and model, resolves the price that applies at the
request's time, validates the price set, decomposes the usage into leaf units and prices them —
every call. A test suite or an ingest prices thousands of requests of a handful of models, so
here the model is found once per (provider, model name), and each distinct genai-prices
`ModelPrice` is compiled once into its priced units in genai-prices' own order. What stays per
request is what may differ per request:

* which price applies (`ModelInfo.get_prices` at the request's timestamp: prices change on
  dated starts and, for some providers, with the time of day);
* the long-context tier, chosen by each request's own input tokens (a tier applies to *all* of
  that request's tokens once crossed);
* the decomposition of the usage into leaves (uncached input = input - cache reads - cache
  writes; 5-minute writes = writes - 1-hour writes, when the model prices 1-hour writes).

The sums use the same `Decimal` operations in the same order as genai-prices
(``price * count / per``, added unit by unit from zero), so results are identical, not merely
close; `tests/test_pricing_identity.py` checks it on 10,000 random requests. Anything this
module cannot compile (a price set genai-prices itself rejects, a future genai-prices whose
internals moved) falls back to `calc_price` per request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .records import Usage

__all__ = ["GenaiCalc", "ResolvedModel", "genai_usage_counts", "resolve"]

#: `Usage` field -> genai-prices usage key. Reasoning is not passed: it is billed inside the
#: output (a model that prices reasoning apart would need the split, which providers give).
_USAGE_KEYS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("cache_write_1h", "cache_write_1h_tokens"),
    ("web_searches", "web_searches"),
)


def genai_usage_counts(usage: Usage) -> dict[str, int]:
    """The genai-prices usage keys of `usage` (only the non-zero ones, as calc_price takes them)."""
    counts = {"input_tokens": usage.input, "output_tokens": usage.output}
    for field, key in _USAGE_KEYS[2:]:
        value = getattr(usage, field)
        if value:
            counts[key] = value
    return counts


@dataclass(frozen=True, slots=True)
class GenaiCalc:
    """The price of one request, in USD, as genai-prices' `PriceCalculation` gives it."""

    total: Decimal
    input: Decimal
    output: Decimal


@dataclass(frozen=True, slots=True)
class _Unit:
    usage_key: str
    price: Any  # Decimal | genai_prices.types.TieredPrices
    per: int
    direction: str | None
    tiered: bool


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One `ModelPrice`: its units in genai-prices' pricing order, and how leaves nest."""

    units: tuple[_Unit, ...]
    # (usage key, usage keys of its priced descendants), most specific first: a leaf is its
    # count minus its descendants' leaves, exactly as genai_prices.decompose computes it.
    leaf_order: tuple[tuple[str, tuple[str, ...]], ...]
    tiered: bool
    requests: bool

    def calc(self, values: dict[str, int]) -> GenaiCalc:
        leaves: dict[str, int] = {}
        for key, descendants in self.leaf_order:
            leaf = values.get(key, 0)
            for descendant in descendants:
                leaf -= leaves[descendant]
            if leaf < 0:
                raise ValueError(f"Invalid usage data: more-specific usage exceeds {key}")
            leaves[key] = leaf
        if self.requests:
            leaves["requests"] = 1
        threshold = values["input_tokens"] if self.tiered else 0
        total = input_price = output_price = Decimal(0)
        for unit in self.units:
            count = Decimal(leaves[unit.usage_key])
            price = unit.price
            if unit.tiered:
                applicable = price.base
                for tier in reversed(price.tiers):
                    if threshold > tier.start:
                        applicable = tier.price
                        break
                cost = applicable * count / unit.per
            else:
                cost = price * count / unit.per
            total += cost
            if unit.direction == "input":
                input_price += cost
            elif unit.direction == "output":
                output_price += cost
        return GenaiCalc(total, input_price, output_price)


def _compile(model_price: Any) -> _Compiled:
    """Compile a genai-prices `ModelPrice` (raises if genai-prices' internals are not as known)."""
    from genai_prices.decompose import is_descendant_or_self
    from genai_prices.types import (
        TieredPrices,
        _collect_resolved_model_prices,
    )
    from genai_prices.units import _get_registry
    from genai_prices.validation import validate_priced_units

    registry = _get_registry()
    resolved = _collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    leaf_units = sorted(
        (unit for unit, _ in resolved if unit.usage_key != "requests"),
        key=lambda unit: (-len(unit.dimensions), unit.usage_key),
    )
    leaf_order = tuple(
        (
            unit.usage_key,
            tuple(
                other.usage_key
                for other in leaf_units
                if other is not unit and is_descendant_or_self(unit, other)
            ),
        )
        for unit in leaf_units
    )
    known = {key for _, key in _USAGE_KEYS} | {"requests"}
    for unit in leaf_units:
        # A priced unit we never fill is 0, as calc_price infers it, unless a unit we fill
        # is more specific than it (then calc_price would ask for it): not in today's data.
        if unit.usage_key not in known and any(
            is_descendant_or_self(unit, registry.units[key]) for _, key in _USAGE_KEYS
        ):
            raise ValueError(f"{unit.usage_key} would need an explicit count")
    units = tuple(
        _Unit(
            usage_key=unit.usage_key,
            price=price,
            per=unit.per,
            direction=unit.dimensions.get("direction"),
            tiered=isinstance(price, TieredPrices),
        )
        for unit, price in resolved
    )
    return _Compiled(
        units=units,
        leaf_order=leaf_order,
        tiered=any(unit.tiered for unit in units),
        requests=any(unit.usage_key == "requests" for unit in units),
    )


class ResolvedModel:
    """A genai-prices model found for a (provider, model name): prices requests of it."""

    def __init__(self, model: Any, provider: Any) -> None:
        self.model = model
        self.provider = provider
        self.priced_as = f"{provider.id}:{model.id}"
        self._compiled: dict[int, tuple[Any, _Compiled | None]] = {}
        self._lock = threading.Lock()

    def calc(self, usage: Usage, timestamp: datetime) -> GenaiCalc:
        """The price of one request of `usage` made at `timestamp`."""
        model_price = self.model.get_prices(timestamp)
        entry = self._compiled.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._compile(model_price)
        compiled = entry[1]
        counts = genai_usage_counts(usage)
        if compiled is None:
            return self._slow(counts, timestamp)
        return compiled.calc(counts)

    def _compile(self, model_price: Any) -> tuple[Any, _Compiled | None]:
        try:
            compiled: _Compiled | None = _compile(model_price)
        except Exception:  # anything unexpected: calc_price decides, per request
            compiled = None
        entry = (model_price, compiled)  # the price object is kept, so its id stays its own
        with self._lock:
            self._compiled[id(model_price)] = entry
        return entry

    def _slow(self, counts: dict[str, int], timestamp: datetime) -> GenaiCalc:
        import genai_prices

        calc = self.model.calc_price(
            genai_prices.Usage(**counts), self.provider, genai_request_timestamp=timestamp
        )
        return GenaiCalc(calc.total_price, calc.input_price, calc.output_price)


def resolve(provider_id: str | None, name: str, timestamp: datetime) -> ResolvedModel | None:
    """The genai-prices model `name` of `provider_id` (any provider if None), or None if unknown.

    Found the way `calc_price` finds it (by asking it, for a zero usage), so that the model
    and provider are the ones `calc_price` would use.
    """
    import genai_prices

    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=0, output_tokens=0),
            name,
            provider_id=provider_id,
            genai_request_timestamp=timestamp,
        )
    except LookupError:
        return None
    return ResolvedModel(calc.model, calc.provider)
