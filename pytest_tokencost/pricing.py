"""Prices: genai-prices' bundled data, the user's override file, and the contract's default rate.

All money is integer micro-USD. A price per million tokens in USD times a token count *is* a
figure in micro-USD, so override and default-rate costs are exact before rounding. genai-prices
is imported lazily (it takes well over 100 ms) and never asked to update from the network.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PriceFileError
from .genai_table import ResolvedModel, find_model, resolve
from .records import PriceSource, Usage

if TYPE_CHECKING:
    from .price_cache import CachedModel, PriceCache

__all__ = [
    "DEFAULT_RATE",
    "WEB_SEARCHES_KCOUNT",
    "Price",
    "Pricer",
    "Rate",
    "load_price_overrides",
    "price_data_version",
    "to_micro_usd",
]

_ONE = Decimal(1)
#: USD per 1,000 web searches where a rate does not say (Anthropic's and OpenAI's price).
WEB_SEARCHES_KCOUNT = Decimal(10)


def to_micro_usd(amount: Decimal) -> int:
    """Round a micro-USD amount to an integer, halves away from zero."""
    return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


class Rate(BaseModel):
    """USD per million tokens, and per 1,000 web searches.

    Cache prices default to the input price when not given; 1-hour cache writes to the cache
    write price (then the input price). Web searches default to $10 per 1,000, the price both
    Anthropic and OpenAI charge, so that a billable search is never silently free.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_mtok: Decimal = Field(ge=0)
    output_mtok: Decimal = Field(ge=0)
    cache_read_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_1h_mtok: Decimal | None = Field(default=None, ge=0)
    web_searches_kcount: Decimal = Field(default=WEB_SEARCHES_KCOUNT, ge=0)

    def cost(self, usage: Usage) -> tuple[int, int, int]:
        """(total, input, output) micro-USD of a usage at this rate.

        A price per million tokens times tokens is micro-USD; a price per 1,000 searches times
        searches is milli-USD. Web search charges are part of the output cost (the work the
        model did for its answer), as they are for genai-prices-priced records.
        """
        cache_read = usage.cache_read or 0
        cache_write = usage.cache_write or 0
        one_hour = usage.cache_write_1h or 0
        uncached = usage.input - cache_read - cache_write
        write_rate = self.input_mtok if self.cache_write_mtok is None else self.cache_write_mtok
        input_cost = (
            uncached * self.input_mtok
            + cache_read
            * (self.input_mtok if self.cache_read_mtok is None else self.cache_read_mtok)
            + (cache_write - one_hour) * write_rate
            + one_hour
            * (write_rate if self.cache_write_1h_mtok is None else self.cache_write_1h_mtok)
        )
        searches = (usage.web_searches or 0) * self.web_searches_kcount * 1000
        total = to_micro_usd(input_cost + usage.output * self.output_mtok + searches)
        input_micro = to_micro_usd(input_cost)
        return total, input_micro, total - input_micro

    def describe(self) -> str:
        """Human form, e.g. ``$3/$15 per MTok``."""
        return f"${self.input_mtok.normalize():f}/${self.output_mtok.normalize():f} per MTok"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read ``INPUT,OUTPUT`` (USD per million tokens), as the option and ini key take it."""
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 2:
            raise ValueError(
                f"expected INPUT,OUTPUT in USD per million tokens (for example 3,15), got {text!r}"
            )
        try:
            return cls(input_mtok=Decimal(parts[0]), output_mtok=Decimal(parts[1]))
        except (ArithmeticError, ValidationError) as exc:
            raise ValueError(
                f"expected two non-negative numbers INPUT,OUTPUT (for example 3,15), got {text!r}"
            ) from exc


#: The contract's rate for records whose model is unknown: $3 input / $15 output per MTok.
DEFAULT_RATE = Rate(input_mtok=Decimal(3), output_mtok=Decimal(15))


@dataclass(frozen=True, slots=True)
class Price:
    """The cost of one record, and how it was obtained."""

    total_micro_usd: int | None
    input_micro_usd: int | None
    output_micro_usd: int | None
    source: PriceSource
    priced_as: str | None = None

    def record_fields(self) -> dict[str, Any]:
        """The cost fields of a `TokenRecord` priced this way."""
        return {
            "cost_micro_usd": self.total_micro_usd,
            "input_cost_micro_usd": self.input_micro_usd,
            "output_cost_micro_usd": self.output_micro_usd,
            "price_source": self.source,
            "priced_as": self.priced_as,
        }


_NOT_RECORDED = Price(None, None, None, PriceSource.NOT_RECORDED)


class _OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, Rate]


def _line_of(text: str, model: str | None, key: str | None) -> int | None:
    """1-based line of `key` inside the ``[models."<model>"]`` table (or of the table itself)."""
    header = re.compile(r'^\s*\[\s*models\s*\.\s*(?:"([^"]*)"|\'([^\']*)\'|([\w-]+))\s*\]')
    in_table = False
    table_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            in_table = model is not None and model in match.groups()
            if in_table:
                table_line = number
            continue
        if line.lstrip().startswith("["):
            in_table = False
        elif in_table and key and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return table_line


def load_price_overrides(path: Path) -> dict[str, Rate]:
    """Read a TOML price file: one ``[models."NAME"]`` table of `Rate` fields per model.

    Raises `PriceFileError` naming the file, the line and the field on any problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"cannot read price file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PriceFileError(
            f"price file {path} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8"
        ) from exc
    import tomllib  # only runs with a price file read it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"price file {path} is not valid TOML: {exc}") from exc
    try:
        parsed = _OverrideFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            model = loc[1] if len(loc) > 1 and loc[0] == "models" else None
            key = loc[2] if len(loc) > 2 else None
            line = _line_of(text, model, key)
            where = f"line {line}" if line else "top level"
            field = ".".join(loc) or "(file)"
            problems.append(f"  {path}:{where}: {field}: {error['msg']}")
        raise PriceFileError(
            f"price file {path} does not validate; each model is a table like\n"
            '  [models."my-model"]\n  input_mtok = 3.0\n  output_mtok = 15.0\n'
            + "\n".join(problems)
        ) from exc
    return {name.lower(): rate for name, rate in parsed.models.items()}


def price_data_version() -> str:
    """The installed genai-prices version, which dates the bundled price data."""
    from importlib.metadata import version

    return version("genai-prices")


class Pricer:
    """Prices records: override file first, then genai-prices, then the default rate.

    An override key matches a record by its exact name (``provider/name``, then ``name``),
    else by the model genai-prices resolves the name to (``provider/id``, then ``id``): the
    OpenAI API answers a ``gpt-4o`` request as ``gpt-4o-2024-08-06``, and an override of
    ``gpt-4o`` must price both alike. A dated snapshot genai-prices prices as a model of its
    own keeps its own id and so is not covered by the undated key.

    The default rate applies to records with no model; a named model that no source knows is
    "not recorded" unless `default_rate_for_unknown` is set. genai-prices models are resolved
    once per (provider, model name) and priced per request (see `genai_table`): the same
    figures as calling `genai_prices.calc_price` for every record, many times faster.
    """

    def __init__(
        self,
        overrides: dict[str, Rate] | None = None,
        default_rate: Rate = DEFAULT_RATE,
        default_rate_for_unknown: bool = False,
        cache: PriceCache | None = None,
    ) -> None:
        self.overrides = overrides or {}
        self.default_rate = default_rate
        self.default_rate_for_unknown = default_rate_for_unknown
        #: genai-prices' answers kept between runs (`price_cache`); None: asked every run.
        self.cache = cache
        self._lock = threading.Lock()
        self._models: dict[tuple[str | None, str], ResolvedModel | CachedModel | None] = {}
        # The override (key, rate) of each (provider, model name), or None: found once.
        self._override_keys: dict[tuple[str | None, str], tuple[str, Rate] | None] = {}

    def price(
        self, model: str | None, provider: str | None, usage: Usage, timestamp: datetime
    ) -> Price:
        """The cost of `usage` on `model` for a request made at `timestamp`."""
        if not model:
            total, input_cost, output_cost = self.default_rate.cost(usage)
            return Price(total, input_cost, output_cost, PriceSource.DEFAULT_RATE, "default rate")
        override = self._override_for(model, provider, timestamp) if self.overrides else None
        if override is not None:
            key, rate = override
            total, input_cost, output_cost = rate.cost(usage)
            return Price(total, input_cost, output_cost, PriceSource.OVERRIDE, key)
        price = self._genai_price(model, provider, usage, timestamp)
        if price is not None:
            return price
        if self.default_rate_for_unknown:
            total, input_cost, output_cost = self.default_rate.cost(usage)
            return Price(total, input_cost, output_cost, PriceSource.DEFAULT_RATE, "default rate")
        return _NOT_RECORDED

    def _override_for(
        self, model: str, provider: str | None, timestamp: datetime
    ) -> tuple[str, Rate] | None:
        """The override (key, rate) of (provider, model), looked up once per pair."""
        pair = (provider, model)
        try:
            return self._override_keys[pair]
        except KeyError:
            pass
        name = model.lower()
        found = _first_key(self.overrides, name, provider)
        if found is None:
            # The name genai-prices prices this record as: an alias or dated name of an
            # overridden model takes the override too. Only asked when an exact key fails,
            # and through `_resolve`'s memo and price cache (genai-prices imported only for a
            # name neither knows).
            resolved = self._resolve(model, provider, timestamp)
            if resolved is not None:
                resolved_provider, _, model_id = resolved.priced_as.partition(":")
                if model_id:
                    found = _first_key(self.overrides, model_id.lower(), resolved_provider)
        self._override_keys[pair] = found
        return found

    def _resolve(
        self, model: str, provider: str | None, timestamp: datetime
    ) -> ResolvedModel | CachedModel | None:
        """The genai-prices model for (provider, model), found once and remembered."""
        key = (provider, model)
        try:
            return self._models[key]
        except KeyError:
            pass
        # genai-prices fills private lookup caches on first use of a model.
        find = resolve if self.cache is None else self.cache.resolve
        with self._lock:
            found: ResolvedModel | CachedModel | None = find_model(find, model, provider, timestamp)
            self._models[key] = found
        return found

    def _genai_price(
        self, model: str, provider: str | None, usage: Usage, timestamp: datetime
    ) -> Price | None:
        resolved = self._resolve(model, provider, timestamp)
        if resolved is None:
            return None
        total, input_cost = resolved.micro_usd(usage, timestamp)
        # Units without a direction (web searches, per-request fees) are in the output part.
        return Price(
            total, input_cost, total - input_cost, PriceSource.GENAI_PRICES, resolved.priced_as
        )


def _first_key(
    overrides: dict[str, Rate], name: str, provider: str | None
) -> tuple[str, Rate] | None:
    """The first of ``provider/name`` and ``name`` (lower case) that `overrides` holds."""
    candidates = [f"{provider.lower()}/{name}", name] if provider else [name]
    for key in candidates:
        rate = overrides.get(key)
        if rate is not None:
            return key, rate
    return None
