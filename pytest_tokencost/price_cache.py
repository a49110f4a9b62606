"""genai-prices' resolved models kept between runs, so a run that prices only known models
never imports genai-prices (pydantic-heavy data: about 0.2 s of CPU, more than a 2,000-test
run's whole plugin work, or `tokencost ingest`'s reading of 20 MB).

`genai_table` finds a (provider, model name) in genai-prices once per process and compiles its
price into integer units. Here that result is written to `price-cache.json` in the output
folder and read back by the next run: what model the name resolved to (or that it is unknown)
and its compiled units. Only what cannot change between two runs with the same genai-prices is
kept: the file is keyed by the installed genai-prices version and this module's `FORMAT`, and a
model is kept only when its price is one `ModelPrice` (no dated or time-of-day conditions) that
compiles to exact integers. A request that needs more than that (a negative leaf count, sums
above 10**27) is priced by the real genai-prices model, imported then. A missing, unreadable or
foreign file is an empty cache: it only ever costs the import it would have saved.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .genai_table import GenaiCalc, ResolvedModel, _Compiled, _Unit, _values, resolve

if TYPE_CHECKING:  # no pydantic here (see `genai_table`)
    from .records import Usage

__all__ = ["CACHE_NAME", "FORMAT", "CachedModel", "PriceCache"]

CACHE_NAME = "price-cache.json"

#: Bumped whenever what is kept (or how `genai_table` compiles) changes.
FORMAT = 2


def _genai_version() -> str | None:
    from .versions import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:
        return None


def _unit_data(unit: _Unit) -> list[Any]:
    return [
        unit.usage_key,
        unit.direction,
        [list(term) for term in unit.terms],
        unit.per_request,
        unit.base_scaled,
        [list(tier) for tier in unit.tiers_scaled],
    ]


def _unit_of(data: list[Any]) -> _Unit:
    key, direction, terms, per_request, base, tiers = data
    return _Unit(
        usage_key=str(key),
        price=None,  # only the integer path runs from the cache; Decimal work goes to genai
        per=None,  # type: ignore[arg-type]
        direction=direction,
        tiered=bool(tiers),
        terms=tuple((int(i), int(c)) for i, c in terms),
        per_request=bool(per_request),
        base_scaled=int(base),
        tiers_scaled=tuple((int(s), int(p)) for s, p in tiers),
    )


class CachedModel:
    """A genai-prices model read from the cache: prices with its compiled integer units, and
    asks the real genai-prices model (imported on first need) for anything else."""

    def __init__(
        self,
        provider_id: str | None,
        name: str,
        priced_as: str,
        periods: list[tuple[date | None, _Compiled]],
    ) -> None:
        self.priced_as = priced_as
        self._key = (provider_id, name)
        self._periods = periods
        self._real: ResolvedModel | None = None

    def _compiled_at(self, timestamp: datetime) -> _Compiled:
        """`ModelInfo.get_prices`: the last period that has started (the first one if none)."""
        day = (timestamp.astimezone(UTC) if timestamp.tzinfo is not None else timestamp).date()
        for start, compiled in reversed(self._periods):
            if start is None or day >= start:
                return compiled
        return self._periods[0][1]

    def micro_usd(self, usage: Usage, timestamp: datetime) -> tuple[int, int]:
        """(total, input) micro-USD of one request of `usage` made at `timestamp`."""
        exact = self._compiled_at(timestamp).exact_micro_usd(_values(usage))
        return exact if exact is not None else self._model(timestamp).micro_usd(usage, timestamp)

    def calc(self, usage: Usage, timestamp: datetime) -> GenaiCalc:
        """The price of one request in Decimal USD (from the real genai-prices model)."""
        return self._model(timestamp).calc(usage, timestamp)

    def _model(self, timestamp: datetime) -> ResolvedModel:
        if self._real is None:
            real = resolve(*self._key, timestamp)
            if real is None or real.priced_as != self.priced_as:  # the cache lied: its data
                raise LookupError(f"price cache entry for {self._key} does not match genai-prices")
            self._real = real
        return self._real


def _compiled_of(data: dict[str, Any]) -> _Compiled:
    return _Compiled(
        units=tuple(_unit_of(unit) for unit in data["units"]),
        tiered=bool(data["tiered"]),
        scale=int(data["scale"]),
    )


def _periods_of(found: ResolvedModel) -> list[dict[str, Any]] | None:
    """The model's prices as cache data; None when they cannot be kept (time-of-day prices,
    a price that only Decimal arithmetic prices exactly, genai-prices internals unknown)."""
    from genai_prices.types import ModelPrice, StartDateConstraint

    prices = found.model.prices
    periods: list[tuple[str | None, Any]] = []
    if isinstance(prices, ModelPrice):
        periods.append((None, prices))
    else:
        for conditional in prices:
            constraint = conditional.constraint
            if constraint is None:
                periods.append((None, conditional.prices))
            elif isinstance(constraint, StartDateConstraint):
                periods.append((constraint.start_date.isoformat(), conditional.prices))
            else:
                return None
    if not periods:
        return None
    result = []
    for start, model_price in periods:
        compiled = found.compiled(model_price)
        if compiled is None or compiled.scale is None:
            return None
        result.append(
            {
                "from": start,
                "tiered": compiled.tiered,
                "scale": compiled.scale,
                "units": [_unit_data(unit) for unit in compiled.units],
            }
        )
    return result


class PriceCache:
    """`price-cache.json` of one output folder: resolved names, read once, written on change."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / CACHE_NAME if folder is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, Any] | None = None
        self._version: str | None = None

    @staticmethod
    def _key(provider_id: str | None, name: str) -> str:
        return f"{provider_id or ''}\t{name}"

    def _load(self) -> dict[str, Any]:
        if self._entries is not None:
            return self._entries
        self._version = _genai_version()
        entries: dict[str, Any] = {}
        # a link is not read (or followed when written: the rename replaces it)
        if self.path is not None and self._version is not None and not self.path.is_symlink():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if (
                    isinstance(data, dict)
                    and data.get("format") == FORMAT
                    and data.get("genai_prices_version") == self._version
                    and isinstance(data.get("models"), dict)
                ):
                    entries = data["models"]
            except (OSError, ValueError):
                pass  # no cache, or a damaged one: resolved anew and rewritten
        self._entries = entries
        return entries

    def lookup(self, provider_id: str | None, name: str) -> tuple[bool, CachedModel | None]:
        """(known, model): known False when the cache cannot answer for this name."""
        entries = self._load()
        key = self._key(provider_id, name)
        if key not in entries:
            return False, None
        entry = entries[key]
        if entry is None:
            return True, None  # genai-prices does not know it
        try:
            periods = [
                (date.fromisoformat(p["from"]) if p["from"] else None, _compiled_of(p))
                for p in entry["prices"]
            ]
            if not periods:
                return False, None
            return True, CachedModel(provider_id, name, str(entry["priced_as"]), periods)
        except (KeyError, TypeError, ValueError):
            return False, None

    def resolve(
        self, provider_id: str | None, name: str, timestamp: datetime
    ) -> ResolvedModel | CachedModel | None:
        """`genai_table.resolve`, answered from the cache when it can be."""
        known, cached = self.lookup(provider_id, name)
        if known:
            return cached
        found = resolve(provider_id, name, timestamp)
        self._remember(provider_id, name, found)
        return found

    def _remember(self, provider_id: str | None, name: str, found: ResolvedModel | None) -> None:
        if found is None:
            entry: dict[str, Any] | None = None
        else:
            periods = _periods_of(found)
            if periods is None:
                return
            entry = {"priced_as": found.priced_as, "prices": periods}
        with self._lock:
            entries = self._load()
            entries[self._key(provider_id, name)] = entry
            self._write(entries)

    def _write(self, entries: dict[str, Any]) -> None:
        """Atomically; a folder that cannot be written keeps no cache (nothing else changes)."""
        if self.path is None or self._version is None or not self.path.parent.is_dir():
            return
        from .outdir import atomic_write_text

        document = {"format": FORMAT, "genai_prices_version": self._version, "models": entries}
        with contextlib.suppress(OSError):
            atomic_write_text(self.path, json.dumps(document, sort_keys=True))
