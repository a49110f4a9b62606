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

import importlib
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # no pydantic here: `tokencost ingest` prices plain usages (any Usage-like)
    from collections.abc import Callable, Sequence

    from .records import Usage

__all__ = [
    "GenaiCalc",
    "ResolvedModel",
    "defer_update_modules",
    "find_model",
    "genai_usage_counts",
    "resolve",
]

#: What genai-prices' package imports for its price *updates* (`genai_prices.update_prices`:
#: an HTTP client, and asyncio for its async waiter), used only inside those functions, which
#: this project never calls (no network at run time).
_UPDATE_ONLY = ("httpx2", "asyncio")

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


def _values(usage: Usage) -> tuple[int, ...]:
    """The counts of `usage` in `_USAGE_KEYS` order (unknown parts 0, as calc_price reads them)."""
    return (
        usage.input,
        usage.output,
        usage.cache_read or 0,
        usage.cache_write or 0,
        usage.cache_write_1h or 0,
        usage.web_searches or 0,
    )


@dataclass(frozen=True, slots=True)
class _Unit:
    """One priced unit, its count a fixed combination of the usage's counts."""

    usage_key: str
    price: Any  # Decimal | genai_prices.types.TieredPrices
    per: Decimal
    direction: str | None
    tiered: bool
    # The unit's leaf count as (index in `_values`, coefficient) terms: genai-prices counts a
    # unit minus its more specific priced units (uncached input = input - reads - writes), and
    # with every count known up front that is a linear combination fixed per price set.
    terms: tuple[tuple[int, int], ...]
    per_request: bool
    # The price (base, then (tier start, price) from the highest tier down) as integers in
    # units of 10**-scale micro-USD per unit counted: exact, see `_Compiled.micro_usd`.
    base_scaled: int
    tiers_scaled: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One `ModelPrice`: its units in genai-prices' pricing (and summing) order."""

    units: tuple[_Unit, ...]
    tiered: bool
    scale: int | None  # 10**decimals of the integer prices; None: Decimal arithmetic only

    def micro_usd(self, values: tuple[int, ...]) -> tuple[int, int]:
        """(total, input) micro-USD, rounded half up as `pricing.to_micro_usd` rounds.

        genai-prices' Decimal sums are exact whenever no intermediate figure needs more than
        the context's 28 digits, and then equal this exact integer sum; above 10**27 units
        (around 10**18 USD) the Decimal arithmetic is used instead, so rounding stays its own.
        """
        exact = self.exact_micro_usd(values)
        if exact is not None:
            return exact
        calc = self.calc(values)
        return _micro(calc.total), _micro(calc.input)

    def exact_micro_usd(self, values: tuple[int, ...]) -> tuple[int, int] | None:
        """`micro_usd` in integers alone; None when only the Decimal path can answer."""
        if self.scale is None:
            return None
        threshold = values[0] if self.tiered else 0
        total = input_total = 0
        for unit in self.units:
            if unit.per_request:
                count = 1
            else:
                count = 0
                for index, coefficient in unit.terms:
                    count += coefficient * values[index]
                if count <= 0:
                    if count < 0:
                        return None  # calc_price raises: let the Decimal path say it
                    continue
            price = unit.base_scaled
            for start, tier_price in unit.tiers_scaled:
                if threshold > start:
                    price = tier_price
                    break
            cost = price * count
            total += cost
            if unit.direction == "input":
                input_total += cost
        if total >= _EXACT_LIMIT:
            return None
        half = 2 * self.scale
        return (2 * total + self.scale) // half, (2 * input_total + self.scale) // half

    def calc(self, values: tuple[int, ...]) -> GenaiCalc:
        threshold = values[0] if self.tiered else 0  # tiers go by this request's input tokens
        total = input_price = output_price = Decimal(0)
        for unit in self.units:
            if unit.per_request:
                count = 1
            else:
                count = 0
                for index, coefficient in unit.terms:
                    count += coefficient * values[index]
                if count < 0:
                    raise ValueError(
                        f"Invalid usage data: more-specific usage exceeds {unit.usage_key}"
                    )
                if not count:
                    continue  # adds an exact zero in calc_price: the sum is the same
            price = unit.price
            if unit.tiered:
                applicable = price.base
                for tier in reversed(price.tiers):
                    if threshold > tier.start:
                        applicable = tier.price
                        break
                cost = applicable * Decimal(count) / unit.per
            else:
                cost = price * Decimal(count) / unit.per
            total += cost
            if unit.direction == "input":
                input_price += cost
            elif unit.direction == "output":
                output_price += cost
        return GenaiCalc(total, input_price, output_price)


_EXACT_LIMIT = 10**27


def _micro(amount: Decimal) -> int:
    """USD to integer micro-USD, halves away from zero (as `pricing.to_micro_usd`)."""
    return int((amount * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _scaled_prices(
    resolved: Any, per_units: list[int]
) -> tuple[int | None, list[tuple[int, tuple[tuple[int, int], ...]]]]:
    """Prices as integers of 10**-D micro-USD per counted unit, D the most decimals seen.

    (None, []) when some price is not a whole number of 10**-D units per count (a `per`
    that is not a power of ten dividing a million), so that only Decimal arithmetic is exact.
    """
    prices: list[tuple[Decimal, list[tuple[int, Decimal]]]] = []
    for _, price in resolved:
        if isinstance(price, Decimal):
            prices.append((price, []))
        else:
            prices.append(
                (price.base, [(tier.start, tier.price) for tier in reversed(price.tiers)])
            )
    decimals = 0
    for base, tiers in prices:
        for value in (base, *(tier for _, tier in tiers)):
            exponent = value.as_tuple().exponent
            if not isinstance(exponent, int):
                return None, []
            decimals = max(decimals, -exponent)
    scale = 10**decimals
    scaled: list[tuple[int, tuple[tuple[int, int], ...]]] = []
    for (base, tiers), per in zip(prices, per_units, strict=True):
        if 1_000_000 % per:
            return None, []
        factor = scale * (1_000_000 // per)  # USD per `per` -> 10**-D micro-USD per unit
        scaled.append(
            (int(base * factor), tuple((start, int(value * factor)) for start, value in tiers))
        )
    return scale, scaled


def _check_fillable(
    resolved: Sequence[tuple[Any, Any]], registry: Any, index: dict[str, int]
) -> None:
    """A priced unit we never fill counts 0, as calc_price infers it, unless a unit we fill
    is more specific than it (calc_price would then ask for it): not so in today's data."""
    from genai_prices.decompose import is_descendant_or_self

    for unit, _ in resolved:
        if unit.usage_key not in index and any(
            is_descendant_or_self(unit, registry.units[key]) for key in index
        ):
            raise ValueError(f"{unit.usage_key} would need an explicit count")


def _combinations(
    resolved: Sequence[tuple[Any, Any]], index: dict[str, int]
) -> dict[str, list[int]]:
    """Each leaf unit's count as coefficients of the usage's counts (`_values` order): the
    unit's own count minus those of its more specific priced units."""
    from genai_prices.decompose import is_descendant_or_self

    leaf_units = sorted(
        (unit for unit, _ in resolved if unit.usage_key != "requests"),
        key=lambda unit: (-len(unit.dimensions), unit.usage_key),
    )
    combination: dict[str, list[int]] = {}
    for unit in leaf_units:  # most specific first, as genai_prices.decompose goes
        vector = [0] * len(_USAGE_KEYS)
        if unit.usage_key in index:
            vector[index[unit.usage_key]] = 1
        for other in leaf_units:
            if other is not unit and is_descendant_or_self(unit, other):
                vector = [a - b for a, b in zip(vector, combination[other.usage_key], strict=True)]
        combination[unit.usage_key] = vector
    return combination


def _compile(model_price: Any) -> _Compiled:
    """Compile a genai-prices `ModelPrice` (raises if genai-prices' internals are not as known)."""
    from genai_prices.types import TieredPrices, _collect_resolved_model_prices
    from genai_prices.units import _get_registry
    from genai_prices.validation import validate_priced_units

    registry = _get_registry()
    resolved = _collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    index = {key: position for position, (_, key) in enumerate(_USAGE_KEYS)}
    _check_fillable(resolved, registry, index)
    combination = _combinations(resolved, index)
    scale, scaled = _scaled_prices(resolved, [unit.per for unit, _ in resolved])
    if scale is None:
        scaled = [(0, ())] * len(resolved)
    units = tuple(
        _Unit(
            usage_key=unit.usage_key,
            price=price,
            per=Decimal(unit.per),
            direction=unit.dimensions.get("direction"),
            tiered=isinstance(price, TieredPrices),
            terms=tuple(
                (position, coefficient)
                for position, coefficient in enumerate(combination.get(unit.usage_key, ()))
                if coefficient
            ),
            per_request=unit.usage_key == "requests",
            base_scaled=scaled[position][0],
            tiers_scaled=scaled[position][1],
        )
        for position, (unit, price) in enumerate(resolved)
    )
    return _Compiled(units=units, tiered=any(unit.tiered for unit in units), scale=scale)


class ResolvedModel:
    """A genai-prices model found for a (provider, model name): prices requests of it."""

    def __init__(self, model: Any, provider: Any) -> None:
        self.model = model
        self.provider = provider
        self.priced_as = f"{provider.id}:{model.id}"
        self._compiled: dict[int, tuple[Any, _Compiled | None]] = {}
        self._lock = threading.Lock()

    def micro_usd(self, usage: Usage, timestamp: datetime) -> tuple[int, int]:
        """(total, input) micro-USD of one request of `usage` made at `timestamp`."""
        model_price = self.model.get_prices(timestamp)
        entry = self._compiled.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._compile(model_price)
        compiled = entry[1]
        if compiled is None:
            calc = self._slow(genai_usage_counts(usage), timestamp)
            return _micro(calc.total), _micro(calc.input)
        return compiled.micro_usd(_values(usage))

    def calc(self, usage: Usage, timestamp: datetime) -> GenaiCalc:
        """The price of one request of `usage` made at `timestamp`."""
        model_price = self.model.get_prices(timestamp)
        entry = self._compiled.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._compile(model_price)
        compiled = entry[1]
        if compiled is None:
            return self._slow(genai_usage_counts(usage), timestamp)
        return compiled.calc(_values(usage))

    def compiled(self, model_price: Any) -> _Compiled | None:
        """One of this model's `ModelPrice`s compiled (None: calc_price prices it)."""
        entry = self._compiled.get(id(model_price))
        if entry is None or entry[0] is not model_price:
            entry = self._compile(model_price)
        return entry[1]

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


class _OnFirstUse(ModuleType):
    """Stands in for a module nobody has used yet: the real one is imported (and takes its
    place in `sys.modules`) on the first attribute anyone reads through this one."""

    def __getattr__(self, attr: str) -> Any:
        real = sys.modules.get(self.__name__)
        if real is None or real is self:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _installed(name: str) -> bool:
    """Whether top-level module `name` can be imported (`importlib.util.find_spec`'s answer,
    without importing `importlib.util`, which brings importlib's resources machinery)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is not None and find_spec(name, None) is not None:
            return True
    return False


def defer_update_modules() -> list[str]:
    """Let genai-prices import without its price-update machinery; for processes of our own.

    Importing any part of genai-prices runs its package, which imports `update_prices` and
    with it an HTTP client and asyncio (more than the price data costs), used only inside
    the update functions, which this project never calls; the data cannot be imported
    alone. So each module of `_UPDATE_ONLY` that is not imported yet gets a stand-in that
    imports the real one on first use. Only the `tokencost` command calls this, before it
    prices anything: inside a pytest run, user code owns the modules. Returns the names
    deferred; nothing is deferred for modules already imported or not installed.
    """
    if "genai_prices" in sys.modules:
        return []
    deferred = []
    for name in _UPDATE_ONLY:
        if name not in sys.modules and _installed(name):
            sys.modules[name] = _OnFirstUse(name)
            deferred.append(name)
    return deferred


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


def name_attempts(model: str, provider: str | None) -> list[tuple[str | None, str]]:
    """The (provider, name) pairs to look a record's model up by, in order: as given, under
    any provider, and for a gateway's ``provider/model`` name (OpenRouter, LiteLLM) its parts."""
    attempts: list[tuple[str | None, str]] = [(provider, model), (None, model)]
    if "/" in model:
        prefix, _, rest = model.partition("/")
        attempts += [(prefix, rest), (None, rest)]
    return list(dict.fromkeys(attempts))


def find_model(
    find: Callable[[str | None, str, datetime], Any],
    model: str,
    provider: str | None,
    timestamp: datetime,
) -> Any:
    """The first model `find` (`resolve`, or a price cache's) knows by `name_attempts`."""
    for provider_id, name in name_attempts(model, provider):
        found = find(provider_id, name, timestamp)
        if found is not None:
            return found
    return None
