"""One record from what was measured: the fields of a `TokenRecord`, built in one place.

The tracker (`InMemoryTokenTracker._build`), wet calibration (`calibrate.session._record`:
transcript responses an agent logged) and `tokencost ingest` (transcript files) all turn a
measurement plus its price into a record. `record_fields` gives the record's keyword arguments
(what `TokenRecord(**fields)` takes); `transcript_fields` those of a transcript response.

This module imports no pydantic and no model, so that `tokencost ingest` can build its records
as plain data: `PlainUsage` is a `records.Usage` without pydantic (same fields, same checks,
same errors: a failed check asks the real model for its message), and `record_document` is the
JSON document of a record exactly as `TokenRecord.model_dump(mode="json")` writes it.
`tests/test_ingest_plain.py` checks both against the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from .empty_report import iso_datetime

if TYPE_CHECKING:
    from .transcripts import TranscriptResponse

__all__ = [
    "MAX_COUNT",
    "REPORTED",
    "PlainUsage",
    "record_document",
    "record_fields",
    "transcript_fields",
    "usage_document",
]

#: `records.MAX_COUNT`, repeated so that this module imports no model (a test checks they agree).
MAX_COUNT = 10**15
#: `records.Provenance.REPORTED`'s value: `TokenRecord` takes the string too.
REPORTED = "reported"

_USAGE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "cache_write_1h",
    "web_searches",
)

#: `TokenRecord`'s fields in its order, each with its default (None for `_REQUIRED` ones).
_RECORD_DEFAULTS: dict[str, Any] = {
    "seq": None,
    "run_id": None,
    "test_id": None,
    "attempt": 1,
    "scenario": None,
    "case_id": None,
    "step": None,
    "provider": None,
    "model": None,
    "usage": None,
    "provenance": None,
    "prompt_bytes": None,
    "artifact_bytes": None,
    "timestamp": None,
    "wall_ms": None,
    "cost_micro_usd": None,
    "input_cost_micro_usd": None,
    "output_cost_micro_usd": None,
    "price_source": "not-recorded",
    "partial": False,
    "reported_total_tokens": None,
    "reported_cost_micro_usd": None,
    "priced_as": None,
    "response_id": None,
    "request_id": None,
    "interrupted": False,
    "late": False,
    "replayed": False,
}


_REQUIRED = frozenset(("seq", "usage", "provenance", "timestamp"))


class UsageLike(Protocol):
    """What a record's usage offers: `records.Usage` or `PlainUsage`."""

    input: int
    output: int
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    cache_write_1h: int | None
    web_searches: int | None


class PriceLike(Protocol):
    """What a record's price offers (`pricing.Price`)."""

    def record_fields(self) -> dict[str, Any]:
        """The cost fields of a record priced this way."""
        ...


_DEFAULTS: dict[str, int | None] = dict.fromkeys(_USAGE_FIELDS)
_DEFAULTS.update(input=0, output=0)


def _valid(value: object) -> bool:
    return value is None or (
        type(value) is int and 0 <= value <= MAX_COUNT  # strict, as the model is: no bool
    )


def _consistent(values: tuple[Any, ...]) -> bool:
    """Whether counts (in `_USAGE_FIELDS` order) hold `records.Usage`'s invariants."""
    inp, out, read, write, reasoning, one_hour, _ = values
    return (
        all(map(_valid, values))
        and (one_hour or 0) <= (write or 0)
        and (read or 0) + (write or 0) <= inp
        and (reasoning or 0) <= out
    )


class PlainUsage:
    """`records.Usage` without pydantic: the same fields, total and invariants.

    Built by `model_construct` (unchecked, as the model's) or by calling the class (checked:
    a count that is not a non-negative integer up to `MAX_COUNT`, or parts larger than their
    whole, raise the very error `records.Usage` raises for the same arguments, taken from it).
    """

    __slots__ = _USAGE_FIELDS

    input: int
    output: int
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    cache_write_1h: int | None
    web_searches: int | None

    def __init__(self, **counts: int | None) -> None:
        values = tuple(counts.get(name, _DEFAULTS[name]) for name in _USAGE_FIELDS)
        if counts.keys() - _DEFAULTS.keys() or not _consistent(values):
            from .records import Usage

            Usage(**counts)  # type: ignore[arg-type]  # raises the model's own error
        self._set(values)

    def _set(self, counts: tuple[Any, ...]) -> None:
        (
            self.input,
            self.output,
            self.cache_read,
            self.cache_write,
            self.reasoning,
            self.cache_write_1h,
            self.web_searches,
        ) = counts

    @classmethod
    def model_construct(
        cls,
        input: int = 0,
        output: int = 0,
        cache_read: int | None = None,
        cache_write: int | None = None,
        reasoning: int | None = None,
        cache_write_1h: int | None = None,
        web_searches: int | None = None,
    ) -> PlainUsage:
        """An unchecked usage (for counts checked already), as `Usage.model_construct`."""
        usage = cls.__new__(cls)
        usage.input = input
        usage.output = output
        usage.cache_read = cache_read
        usage.cache_write = cache_write
        usage.reasoning = reasoning
        usage.cache_write_1h = cache_write_1h
        usage.web_searches = web_searches
        return usage

    @property
    def total(self) -> int:
        """All tokens: input plus output (cache and reasoning are already inside them)."""
        return self.input + self.output

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainUsage):
            return NotImplemented
        return usage_document(self) == usage_document(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PlainUsage({usage_document(self)!r})"


def usage_document(usage: UsageLike) -> dict[str, int | None]:
    """A usage as JSON data, as `Usage.model_dump(mode="json")` writes it."""
    return {
        "input": usage.input,
        "output": usage.output,
        "cache_read": usage.cache_read,
        "cache_write": usage.cache_write,
        "reasoning": usage.reasoning,
        "cache_write_1h": usage.cache_write_1h,
        "web_searches": usage.web_searches,
    }


def record_fields(*, price: PriceLike, **fields: Any) -> dict[str, Any]:
    """A record's keyword arguments: what was measured (`fields`: ``seq``, ``usage``,
    ``provenance``, ``timestamp`` and any other `TokenRecord` field) with the cost fields of
    its `price`. The tracker builds every record through here at export: `fields` is the
    call's own dict, completed in place (no copy).
    """
    fields.update(price.record_fields())
    return fields


def transcript_fields(
    response: TranscriptResponse,
    *,
    seq: int,
    price: PriceLike,
    timestamp: datetime,
    **given: Any,
) -> dict[str, Any]:
    """A record's keyword arguments for one transcript response (an agent's logged answer):
    its usage as reported, its model, provider and identity; `given` places it (run, test,
    case, step...). `timestamp` is the response's, or the time it was read without one."""
    from .transcripts import provider_of, response_ids

    response_id, request_id = response_ids(response)
    return record_fields(
        seq=seq,
        usage=response.usage,
        provenance=REPORTED,
        timestamp=timestamp,
        price=price,
        provider=provider_of(response),
        model=response.model,
        reported_cost_micro_usd=response.reported_cost_micro_usd,
        response_id=response_id,
        request_id=request_id,
        **given,
    )


def record_document(fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of the record `fields` describe, as
    `TokenRecord(**fields).model_dump(mode="json")` writes it (computed fields included).

    The fields must be valid as they are (a usage whose parts fit, counts checked): this
    writes, it does not validate. KeyError for a required field that is missing.
    """
    if not _REQUIRED.issubset(fields):
        raise KeyError(f"record fields {sorted(_REQUIRED.difference(fields))} are required")
    document = {**_RECORD_DEFAULTS, **fields}
    usage = document["usage"]
    document["usage"] = usage_document(usage)
    document["timestamp"] = iso_datetime(document["timestamp"])
    document["provenance"] = str(document["provenance"])  # an enum member, or its value
    document["price_source"] = str(document["price_source"])
    document["prompt_tokens"] = usage.input
    document["artifact_tokens"] = usage.output
    return document
